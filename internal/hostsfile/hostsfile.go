// Package hostsfile gives a tenant pod the hosts file a kubelet of its
// virtual cluster would write (README, "Pod hostnames"). The host's kubelet
// names the pod <hostname>.<subdomain>.<host namespace>.svc.<domain>; an
// init container of the syncer's image rewrites that line to the virtual
// namespace's name into a volume that the pod's containers mount at
// /etc/hosts.
package hostsfile

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Rewrite returns hosts with every address line that names hostname naming
// fqdn and hostname instead, as a kubelet writes a pod's own line; the
// other lines stay as they are.
func Rewrite(hosts []byte, hostname, fqdn string) []byte {
	var out bytes.Buffer
	for line := range strings.Lines(string(hosts)) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && !strings.HasPrefix(fields[0], "#") && slices.Contains(fields[1:], hostname) {
			line = fields[0] + "\t" + fqdn + "\t" + hostname + "\n"
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

// RewriteFile writes to out the file in rewritten for hostname and fqdn.
// It refuses a file without a line for hostname: the pod would start with
// a hosts file that lacks its own name.
func RewriteFile(in, out, hostname, fqdn string) error {
	hosts, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("reading the pod's hosts file: %w", err)
	}
	rewritten := Rewrite(hosts, hostname, fqdn)
	if bytes.Equal(rewritten, hosts) && !bytes.Contains(hosts, []byte(fqdn)) {
		return fmt.Errorf("%s has no line for hostname %q", in, hostname)
	}
	if err := os.WriteFile(out, rewritten, 0o644); err != nil {
		return fmt.Errorf("writing the pod's hosts file: %w", err)
	}
	return nil
}
