package hostsfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubelet is a hosts file as the host's kubelet writes it for pod web-0 of
// subdomain web in host namespace team-a, with a host alias.
const kubelet = `# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
10.244.0.7	web-0.web.team-a.svc.cluster.local	web-0

# Entries added by HostAliases.
10.0.0.1	db.example
`

func TestRewrite(t *testing.T) {
	const fqdn = "web-0.web.shop.svc.cluster.local"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"the pod's line names the virtual namespace", kubelet,
			strings.Replace(kubelet, "10.244.0.7\tweb-0.web.team-a.svc.cluster.local\tweb-0", "10.244.0.7\t"+fqdn+"\tweb-0", 1)},
		{"a line of each of its addresses", "10.244.0.7\tweb-0.web.team-a.svc.cluster.local\tweb-0\nfd00::7\tweb-0.web.team-a.svc.cluster.local\tweb-0\n",
			"10.244.0.7\t" + fqdn + "\tweb-0\nfd00::7\t" + fqdn + "\tweb-0\n"},
		{"a comment that names it stays", "# web-0 is here\n", "# web-0 is here\n"},
		{"another pod's name is left alone", "10.0.0.9\tweb-01\n", "10.0.0.9\tweb-01\n"},
		{"no final newline", "10.244.0.7\tweb-0", "10.244.0.7\t" + fqdn + "\tweb-0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Rewrite([]byte(tc.in), "web-0", fqdn)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestRewriteFile(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte(kubelet), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RewriteFile(in, out, "web-0", "web-0.web.shop.svc.cluster.local"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(got), "web-0.web.shop.svc.cluster.local\tweb-0") {
		t.Errorf("%q, %v", got, err)
	}
	if err := RewriteFile(in, out, "other", "other.web.shop.svc.cluster.local"); err == nil || !strings.Contains(err.Error(), `no line for hostname "other"`) {
		t.Errorf("a file without the pod's line: %v", err)
	}
}
