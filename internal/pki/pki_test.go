package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"maps"
	"net"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

var testConfig = Config{
	APIServerDNSNames: []string{"localhost", "vc", "vc.team-a", "vc.team-a.svc"},
	APIServerIPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	EtcdDNSNames:      []string{"vc-0.vc-headless.team-a.svc"},
}

func mustEnsure(t *testing.T, current map[string][]byte, cfg Config, now time.Time) (map[string][]byte, bool) {
	t.Helper()
	data, changed, err := Ensure(current, cfg, now)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return data, changed
}

func parse(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(pemBytes)
	if err != nil {
		t.Fatalf("parsing certificate: %v", err)
	}
	return certs[0]
}

// verify checks that leaf chains to ca for usage.
func verify(t *testing.T, data map[string][]byte, leafKey, caKey string, usage x509.ExtKeyUsage, now time.Time) *x509.Certificate {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(parse(t, data[caKey]))
	leaf := parse(t, data[leafKey])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: now}); err != nil {
		t.Fatalf("%s does not chain to %s for %v: %v", leafKey, caKey, usage, err)
	}
	return leaf
}

func TestEnsureIssuesAWorkingPKI(t *testing.T) {
	now := time.Now()
	data, changed := mustEnsure(t, nil, testConfig, now)
	if !changed {
		t.Fatal("a fresh PKI must be reported as changed")
	}

	serving := verify(t, data, APIServerCert, CACert, x509.ExtKeyUsageServerAuth, now)
	for _, name := range testConfig.APIServerDNSNames {
		if err := serving.VerifyHostname(name); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", name, err)
		}
	}
	for _, ip := range testConfig.APIServerIPs {
		if err := serving.VerifyHostname(ip.String()); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", ip, err)
		}
	}

	admin := verify(t, data, AdminCert, CACert, x509.ExtKeyUsageClientAuth, now)
	if got := admin.Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("admin certificate organization = %v, want [system:masters]", got)
	}
	cm := verify(t, data, ControllerManagerCert, CACert, x509.ExtKeyUsageClientAuth, now)
	if cm.Subject.CommonName != "system:kube-controller-manager" {
		t.Errorf("controller-manager CN = %q", cm.Subject.CommonName)
	}
	dns := verify(t, data, CoreDNSCert, CACert, x509.ExtKeyUsageClientAuth, now)
	if dns.Subject.CommonName != CoreDNSUser || len(dns.Subject.Organization) != 0 {
		t.Errorf("CoreDNS certificate subject = %v, want CN %s and no group", dns.Subject, CoreDNSUser)
	}
	verify(t, data, FrontProxyClientCert, FrontProxyCACert, x509.ExtKeyUsageClientAuth, now)
	verify(t, data, APIServerEtcdClientCert, EtcdCACert, x509.ExtKeyUsageClientAuth, now)
	etcd := verify(t, data, EtcdServerCert, EtcdCACert, x509.ExtKeyUsageServerAuth, now)
	for _, host := range []string{"localhost", "127.0.0.1", "vc-0.vc-headless.team-a.svc"} {
		if err := etcd.VerifyHostname(host); err != nil {
			t.Errorf("etcd serving certificate does not cover %s: %v", host, err)
		}
	}
	verify(t, data, EtcdPeerCert, EtcdCACert, x509.ExtKeyUsageClientAuth, now)

	// A client of one CA is not trusted by another: etcd trusts only its own.
	pool := x509.NewCertPool()
	pool.AddCert(parse(t, data[EtcdCACert]))
	if _, err := admin.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the admin certificate must not chain to the etcd CA")
	}
	key, err := keyutil.ParsePrivateKeyPEM(data[ServiceAccountKey])
	if err != nil {
		t.Fatalf("sa.key: %v", err)
	}
	pubs, err := keyutil.ParsePublicKeysPEM(data[ServiceAccountPub])
	if err != nil || len(pubs) != 1 {
		t.Fatalf("sa.pub: %v", err)
	}
	if !key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pubs[0]) {
		t.Error("sa.pub is not the public half of sa.key")
	}
}

func TestEnsureKeepsWhatIsValid(t *testing.T) {
	now := time.Now()
	first, _ := mustEnsure(t, nil, testConfig, now)
	withExtra := maps.Clone(first)
	withExtra["controller-manager.conf"] = []byte("not a PKI key")
	second, changed := mustEnsure(t, withExtra, testConfig, now.Add(24*time.Hour))
	if changed {
		t.Fatal("an unchanged PKI was reported as changed")
	}
	if !maps.EqualFunc(first, second, bytes.Equal) {
		t.Fatal("Ensure replaced valid certificates")
	}
}

func TestEnsureReissuesOnlyTheLeafThatLacksAName(t *testing.T) {
	now := time.Now()
	first, _ := mustEnsure(t, nil, testConfig, now)
	cfg := testConfig
	cfg.APIServerDNSNames = append(append([]string{}, cfg.APIServerDNSNames...), "vc.example.com")
	second, changed := mustEnsure(t, first, cfg, now)
	if !changed {
		t.Fatal("a new name must re-issue the serving certificate")
	}
	for k := range first {
		same := bytes.Equal(first[k], second[k])
		if reissued := k == APIServerCert || k == APIServerKey; reissued == same {
			t.Errorf("%s: re-issued=%t, want %t", k, !same, reissued)
		}
	}
	serving := verify(t, second, APIServerCert, CACert, x509.ExtKeyUsageServerAuth, now)
	if err := serving.VerifyHostname("vc.example.com"); err != nil {
		t.Errorf("new name missing: %v", err)
	}
}

func TestEnsureRenewsLeavesBeforeTheyExpire(t *testing.T) {
	now := time.Now()
	first, _ := mustEnsure(t, nil, testConfig, now)
	later := now.Add(LeafValidity - RenewBefore + time.Hour)
	second, changed := mustEnsure(t, first, testConfig, later)
	if !changed {
		t.Fatal("leaves within RenewBefore of expiry must be renewed")
	}
	for _, k := range []string{CACert, CAKey, EtcdCACert, EtcdCAKey, FrontProxyCACert, FrontProxyCAKey, ServiceAccountKey, ServiceAccountPub} {
		if !bytes.Equal(first[k], second[k]) {
			t.Errorf("%s changed: CAs and the service-account key are kept", k)
		}
	}
	leaf := verify(t, second, AdminCert, CACert, x509.ExtKeyUsageClientAuth, later)
	if !leaf.NotAfter.After(later.Add(RenewBefore)) {
		t.Errorf("renewed admin certificate expires at %v", leaf.NotAfter)
	}
}

// In its last months a CA cannot give a leaf more life than it has left:
// leaves are issued up to its end once, not on every call.
func TestEnsureDoesNotChurnNearTheCAsEnd(t *testing.T) {
	now := time.Now()
	first, _ := mustEnsure(t, nil, testConfig, now)
	caEnd := parse(t, first[CACert]).NotAfter
	late := caEnd.Add(-RenewBefore / 3)
	second, changed := mustEnsure(t, first, testConfig, late)
	if !changed {
		t.Fatal("long-expired leaves must be re-issued")
	}
	if got := parse(t, second[AdminCert]).NotAfter; !got.Equal(caEnd) {
		t.Fatalf("a leaf issued near the CA's end expires at %v, want the CA's end %v", got, caEnd)
	}
	if _, changed := mustEnsure(t, second, testConfig, late.Add(time.Hour)); changed {
		t.Fatal("leaves that end with their CA must be kept, not re-issued on every call")
	}
}

func TestEnsureReplacesABrokenCAAndItsLeaves(t *testing.T) {
	now := time.Now()
	first, _ := mustEnsure(t, nil, testConfig, now)
	broken := maps.Clone(first)
	broken[CAKey] = first[EtcdCAKey] // a key that does not match ca.crt
	second, _ := mustEnsure(t, broken, testConfig, now)
	if bytes.Equal(first[CACert], second[CACert]) {
		t.Fatal("a CA whose key does not match must be replaced")
	}
	verify(t, second, AdminCert, CACert, x509.ExtKeyUsageClientAuth, now)
	verify(t, second, APIServerCert, CACert, x509.ExtKeyUsageServerAuth, now)
	if !bytes.Equal(first[EtcdCACert], second[EtcdCACert]) || !bytes.Equal(first[EtcdServerCert], second[EtcdServerCert]) {
		t.Error("the etcd CA and its leaves were valid and must be kept")
	}
}

func TestKubeconfig(t *testing.T) {
	data, _ := mustEnsure(t, nil, testConfig, time.Now())
	raw, err := Kubeconfig(data, "https://vc.team-a.svc:443", "vc", AdminCert, AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatalf("kubeconfig does not load: %v", err)
	}
	if cfg.Host != "https://vc.team-a.svc:443" {
		t.Errorf("server = %q", cfg.Host)
	}
	if !bytes.Equal(cfg.CAData, data[CACert]) || !bytes.Equal(cfg.CertData, data[AdminCert]) || !bytes.Equal(cfg.KeyData, data[AdminKey]) {
		t.Error("kubeconfig does not carry the PKI's CA and admin credentials")
	}
	if _, err := Kubeconfig(map[string][]byte{}, "https://x", "vc", AdminCert, AdminKey); err == nil {
		t.Error("a kubeconfig without credentials must be refused")
	}
}

// BenchmarkEnsure measures issuing a whole PKI and, what every reconcile
// does, checking an existing one.
func BenchmarkEnsure(b *testing.B) {
	now := time.Now()
	b.Run("issue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Ensure(nil, testConfig, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keep", func(b *testing.B) {
		data, _, err := Ensure(nil, testConfig, now)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, changed, err := Ensure(data, testConfig, now); err != nil || changed {
				b.Fatalf("changed=%t err=%v", changed, err)
			}
		}
	})
}
