package localcluster

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod runs a pod's containers as local processes, the way a kubelet would
// run them: each container's volumes laid out under a directory of its own,
// the paths in its arguments rebased there, $(VAR) expanded from its
// environment, its ports moved to free ones if asked, and the binary of its
// command taken from the assets directory.
// Containers restart when they exit, as with restartPolicy Always.
type Pod struct {
	root  string
	ports map[int32]int32
	logs  []string
	stops []func()

	mu    sync.Mutex
	exits map[string]int
}

// PodOptions say where and with what a pod runs.
type PodOptions struct {
	// Root is the directory the containers' volumes are laid out under.
	Root string
	// Assets holds the binaries the containers' commands name.
	Assets string
	// Secrets are the Secrets the pod's secret volumes project, by name.
	Secrets map[string]*corev1.Secret
	// FieldValues are the values of the environment variables set from the
	// downward API (POD_NAME, POD_IP, ...), by variable name.
	FieldValues map[string]string
	// AsPodUser runs the containers as the pod's securityContext says (user,
	// group, fsGroup) and lays out volumes with the owners and modes a
	// kubelet would give them. It needs root, and a Root that user can reach;
	// without root it has no effect.
	AsPodUser bool
	// FreePorts runs the pod on ports free on this machine instead of the
	// ones its containers declare, probe, set with a port flag, or name in a
	// URL of a loopback host, so that it runs beside a local cluster or
	// another copy of itself. Those ports are rewritten wherever the
	// containers' arguments give them as a port flag's value or a URL's port,
	// whatever the URL's host (a peer's DNS name included), and in the URLs
	// of the files projected from Secrets (a kubeconfig's server). Port
	// tells where each went.
	FreePorts bool
}

// identity is who a container runs as and who owns its volumes.
type identity struct {
	uid, gid uint32
	fsGroup  *uint32
	set      bool
}

// groups are the container's supplementary groups.
func (id identity) groups() []uint32 {
	if id.fsGroup == nil {
		return nil
	}
	return []uint32{*id.fsGroup}
}

func podIdentity(spec corev1.PodSpec, asPodUser bool) identity {
	sc := spec.SecurityContext
	if !asPodUser || os.Geteuid() != 0 || sc == nil || sc.RunAsUser == nil {
		return identity{}
	}
	id := identity{uid: uint32(*sc.RunAsUser), gid: uint32(*sc.RunAsUser), set: true}
	if sc.RunAsGroup != nil {
		id.gid = uint32(*sc.RunAsGroup)
	}
	if sc.FSGroup != nil {
		g := uint32(*sc.FSGroup)
		id.fsGroup = &g
	}
	return id
}

// RunPod starts every container of spec.
func RunPod(spec corev1.PodSpec, o PodOptions) (*Pod, error) {
	p := &Pod{root: o.Root, exits: map[string]int{}}
	if o.FreePorts {
		var err error
		if p.ports, err = freePorts(podPorts(spec)); err != nil {
			return nil, err
		}
	}
	for _, c := range spec.Containers {
		if err := p.start(spec, c, o); err != nil {
			p.Stop()
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	return p, nil
}

func (p *Pod) start(spec corev1.PodSpec, c corev1.Container, o PodOptions) error {
	if len(c.Command) != 1 {
		return fmt.Errorf("command %v: want exactly the binary's name", c.Command)
	}
	id := podIdentity(spec, o.AsPodUser)
	base := filepath.Join(o.Root, c.Name)
	var rebase []string
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(base, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		rebase = append(rebase, m.MountPath, dir)
		if err := project(spec, m.Name, dir, o.Secrets, id, p.ports); err != nil {
			return err
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = o.FieldValues[e.Name]
		} else {
			env[e.Name] = e.Value
		}
	}
	paths := strings.NewReplacer(rebase...)
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		args = append(args, rewriteArg(paths.Replace(a), p.ports))
	}

	logPath := filepath.Join(o.Root, c.Name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return err
	}
	p.logs = append(p.logs, logPath)
	bin := filepath.Join(o.Assets, c.Command[0])
	stop := make(chan struct{})
	done := make(chan struct{})
	var mu sync.Mutex
	var current *exec.Cmd
	go func() {
		defer close(done)
		for {
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = out, out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if id.set {
				cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups()}
			}
			mu.Lock()
			select {
			case <-stop:
				mu.Unlock()
				return
			default:
			}
			err := cmd.Start()
			current = cmd
			mu.Unlock()
			if err == nil {
				err = cmd.Wait()
			}
			select {
			case <-stop:
				return
			default:
			}
			p.exited(c.Name)
			fmt.Fprintf(out, "--- %s exited (%v); restarting in a second\n", c.Name, err)
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	p.stops = append(p.stops, func() {
		mu.Lock()
		close(stop)
		if current != nil && current.Process != nil {
			_ = syscall.Kill(-current.Process.Pid, syscall.SIGKILL)
		}
		mu.Unlock()
		<-done
		out.Close()
	})
	return nil
}

// project lays out the volume named volume in dir: a Secret's files with its
// mode, owned by root and the fsGroup as a kubelet makes them, the ports of
// their URLs moved as ports says, or else an empty directory the fsGroup may
// write to.
func project(spec corev1.PodSpec, volume, dir string, secrets map[string]*corev1.Secret, id identity, ports map[int32]int32) error {
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == volume })
	if i < 0 || spec.Volumes[i].Secret == nil {
		// An emptyDir, or a volume claim template's volume: writable by the
		// fsGroup, or by anyone without one, as an emptyDir is.
		switch {
		case !id.set:
			return nil
		case id.fsGroup == nil:
			return os.Chmod(dir, 0o777)
		}
		if err := os.Chown(dir, 0, int(*id.fsGroup)); err != nil {
			return err
		}
		return os.Chmod(dir, 0o2770)
	}
	for _, v := range spec.Volumes[i : i+1] {
		secret := secrets[v.Secret.SecretName]
		if secret == nil {
			return fmt.Errorf("volume %s needs Secret %s", v.Name, v.Secret.SecretName)
		}
		mode := os.FileMode(0o644)
		if v.Secret.DefaultMode != nil {
			mode = os.FileMode(*v.Secret.DefaultMode)
		}
		for _, item := range v.Secret.Items {
			data, ok := secret.Data[item.Key]
			if !ok {
				return fmt.Errorf("volume %s projects key %s, which Secret %s lacks", v.Name, item.Key, secret.Name)
			}
			path := filepath.Join(dir, item.Path)
			if err := os.WriteFile(path, []byte(rewriteURLPorts(string(data), ports)), 0o600); err != nil {
				return err
			}
			if id.fsGroup != nil {
				if err := os.Chown(path, 0, int(*id.fsGroup)); err != nil {
					return err
				}
			}
			if err := os.Chmod(path, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// Port returns the local port that serves the pod's port: the free port
// chosen for it with FreePorts, or else port itself.
func (p *Pod) Port(port int32) int32 {
	if local, ok := p.ports[port]; ok {
		return local
	}
	return port
}

func (p *Pod) exited(container string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exits[container]++
}

// Exits counts the times each container exited on its own, by name, as a
// kubelet's restartCount does: not the kills of Stop.
func (p *Pod) Exits() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.exits)
}

// Logs returns the tail of each container's log.
func (p *Pod) Logs() string {
	var b strings.Builder
	for _, f := range p.logs {
		data, err := os.ReadFile(f)
		if err != nil {
			data = []byte(err.Error())
		}
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// Stop kills every container and waits for it.
func (p *Pod) Stop() {
	for _, stop := range p.stops {
		stop()
	}
	p.stops = nil
}
