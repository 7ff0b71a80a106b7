package controlplane

import (
	"os"
	"path"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	corev1 "k8s.io/api/core/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func TestCorefileServesTheVirtualClusterAndForwardsTheRest(t *testing.T) {
	for _, domain := range []string{"cluster.local", "tenant.example"} {
		v := vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Networking.ClusterDomain = domain })
		corefile := DNSConfigMap(v).Data[CorefileKey]
		lines := strings.Split(corefile, "\n")
		if lines[0] != ".:1053 {" {
			t.Errorf("%s: the server block is %q, want the root zone on port 1053", domain, lines[0])
		}
		for _, want := range []string{
			"kubernetes " + domain + " in-addr.arpa ip6.arpa {",
			"forward . /etc/resolv.conf",
			"pods insecure",
			"fallthrough in-addr.arpa ip6.arpa",
		} {
			if !containsLine(lines, want) {
				t.Errorf("%s: the Corefile lacks %q:\n%s", domain, want, corefile)
			}
		}
		if strings.Count(corefile, "{") != strings.Count(corefile, "}") {
			t.Errorf("%s: unbalanced braces:\n%s", domain, corefile)
		}
	}
}

// What the Corefile names must be where the Deployment puts it: the
// kubeconfig in the mounted volume, the ports the probes and Service use.
func TestCorefileMatchesItsDeployment(t *testing.T) {
	v := vc()
	corefile := DNSConfigMap(v).Data[CorefileKey]
	spec := DNSDeployment(v, "hash").Spec.Template.Spec
	c := spec.Containers[0]
	if len(c.Args) != 2 || c.Args[0] != "-conf" {
		t.Fatalf("args = %v", c.Args)
	}
	files := map[string]string{} // path in the container -> key of the source
	for _, m := range c.VolumeMounts {
		for _, vol := range spec.Volumes {
			if vol.Name != m.Name || vol.Projected == nil {
				continue
			}
			for _, src := range vol.Projected.Sources {
				switch {
				case src.ConfigMap != nil && src.ConfigMap.Name == "vc-dns":
					for _, it := range src.ConfigMap.Items {
						files[path.Join(m.MountPath, it.Path)] = "configmap:" + it.Key
					}
				case src.Secret != nil && src.Secret.Name == "vc-certs":
					for _, it := range src.Secret.Items {
						files[path.Join(m.MountPath, it.Path)] = "secret:" + it.Key
					}
				}
			}
		}
	}
	if files[c.Args[1]] != "configmap:"+CorefileKey {
		t.Errorf("-conf %s is not the Corefile; mounted: %v", c.Args[1], files)
	}
	var kubeconfig string
	for _, l := range strings.Split(corefile, "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(l), "kubeconfig "); ok {
			kubeconfig = k
		}
	}
	if files[kubeconfig] != "secret:"+CoreDNSKubeconfig {
		t.Errorf("the Corefile's kubeconfig %q is not CoreDNS's kubeconfig; mounted: %v", kubeconfig, files)
	}
	if len(files) != 2 {
		t.Errorf("CoreDNS sees more than its Corefile and kubeconfig: %v", files)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if !strings.Contains(corefile, ":"+p.HTTPGet.Port.String()) {
			t.Errorf("probe port %s is not in the Corefile", p.HTTPGet.Port.String())
		}
	}
	for _, p := range c.Ports {
		if p.ContainerPort != DNSPort {
			t.Errorf("container port %+v, want %d", p, DNSPort)
		}
	}
	svc := DNSService(v)
	for _, p := range svc.Spec.Ports {
		if p.Port != 53 || (p.TargetPort.String() != "dns" && p.TargetPort.String() != "dns-tcp") {
			t.Errorf("service port %+v", p)
		}
	}
	for k, val := range svc.Spec.Selector {
		if DNSDeployment(v, "hash").Spec.Template.Labels[k] != val {
			t.Errorf("the DNS Service selects %s=%s, which its pods lack", k, val)
		}
	}
	if spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("dnsPolicy = %s: CoreDNS forwards to the host's DNS through its own resolv.conf", spec.DNSPolicy)
	}
	if *spec.AutomountServiceAccountToken {
		t.Error("CoreDNS reads no host API: no host token")
	}
	if svc.Spec.Selector[tenancyv1alpha1.LabelComponent] != tenancyv1alpha1.ComponentDNS {
		t.Errorf("the DNS Service selects %v, not the DNS component", svc.Spec.Selector)
	}
}

func TestDNSImage(t *testing.T) {
	if got := DNSDeployment(vc(), "h").Spec.Template.Spec.Containers[0].Image; got != DefaultCoreDNSImage {
		t.Errorf("default image = %s", got)
	}
	mine := vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Images.CoreDNS = "mine/coredns:1" })
	if got := DNSDeployment(mine, "h").Spec.Template.Spec.Containers[0].Image; got != "mine/coredns:1" {
		t.Errorf("image override ignored: %s", got)
	}
	// The default is the CoreDNS the project builds and tests.
	raw, err := os.ReadFile("../../hack/coredns/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.Parse("go.mod", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for _, r := range mod.Require {
		if r.Mod.Path == "github.com/coredns/coredns" {
			version = r.Mod.Version
		}
	}
	if version == "" || !strings.HasSuffix(DefaultCoreDNSImage, ":"+version) {
		t.Errorf("DefaultCoreDNSImage %s is not hack/coredns's CoreDNS %q", DefaultCoreDNSImage, version)
	}
}

func TestDNSRollsWhenWhatItReadsAtStartChanges(t *testing.T) {
	h := DNSConfigHash("corefile", []byte("kubeconfig"))
	if DNSConfigHash("corefile2", []byte("kubeconfig")) == h || DNSConfigHash("corefile", []byte("renewed")) == h {
		t.Error("a new Corefile or kubeconfig must roll CoreDNS")
	}
	if DNSDeployment(vc(), h).Spec.Template.Annotations[AnnotationDNSConfigHash] != h {
		t.Error("the hash must be on the pod template")
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}
