// Package pki issues and keeps the certificates of a virtual cluster's
// control plane. Ensure is pure apart from randomness: it takes the PKI Secret's
// current data and returns the data it should hold, reusing everything that is
// still valid, so certificates are created once and kept.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Keys of the PKI Secret.
const (
	CACert            = "ca.crt"
	CAKey             = "ca.key"
	EtcdCACert        = "etcd-ca.crt"
	EtcdCAKey         = "etcd-ca.key"
	FrontProxyCACert  = "front-proxy-ca.crt"
	FrontProxyCAKey   = "front-proxy-ca.key"
	ServiceAccountKey = "sa.key"
	ServiceAccountPub = "sa.pub"

	APIServerCert           = "apiserver.crt"
	APIServerKey            = "apiserver.key"
	APIServerEtcdClientCert = "apiserver-etcd-client.crt"
	APIServerEtcdClientKey  = "apiserver-etcd-client.key"
	FrontProxyClientCert    = "front-proxy-client.crt"
	FrontProxyClientKey     = "front-proxy-client.key"
	EtcdServerCert          = "etcd-server.crt"
	EtcdServerKey           = "etcd-server.key"
	EtcdPeerCert            = "etcd-peer.crt"
	EtcdPeerKey             = "etcd-peer.key"
	AdminCert               = "admin.crt"
	AdminKey                = "admin.key"
	ControllerManagerCert   = "controller-manager.crt"
	ControllerManagerKey    = "controller-manager.key"
	// The API server's client certificate toward kubelets: the syncer,
	// which serves the kubelet API of the virtual cluster's Nodes, admits
	// no other caller.
	KubeletClientCert = "apiserver-kubelet-client.crt"
	KubeletClientKey  = "apiserver-kubelet-client.key"
	CoreDNSCert       = "coredns.crt"
	CoreDNSKey        = "coredns.key"
)

// KubeletClientName is the common name of KubeletClientCert.
const KubeletClientName = "kube-apiserver-kubelet-client"

// CoreDNSUser is the user the virtual cluster's CoreDNS reads its API as.
// It belongs to no group: the syncer grants it, inside the virtual cluster,
// only the reads CoreDNS needs.
const CoreDNSUser = "nestor:coredns"

const (
	// LeafValidity is how long an issued leaf certificate is valid.
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before expiry a leaf certificate is re-issued.
	RenewBefore = 90 * 24 * time.Hour
)

// Config is what the certificates must say.
type Config struct {
	// APIServerDNSNames and APIServerIPs must be in the API server's serving certificate.
	APIServerDNSNames []string
	APIServerIPs      []net.IP
	// EtcdDNSNames must be in etcd's serving and peer certificates, beside
	// localhost and the loopback addresses.
	EtcdDNSNames []string
}

type caSpec struct {
	cert, key, commonName string
}

var (
	clusterCA    = caSpec{CACert, CAKey, "nestor-ca"}
	etcdCA       = caSpec{EtcdCACert, EtcdCAKey, "nestor-etcd-ca"}
	frontProxyCA = caSpec{FrontProxyCACert, FrontProxyCAKey, "nestor-front-proxy-ca"}
)

type leafSpec struct {
	cert, key    string
	ca           caSpec
	commonName   string
	organization []string
	usages       []x509.ExtKeyUsage
	dnsNames     []string
	ips          []net.IP
}

var loopback = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}

func (c Config) leaves() []leafSpec {
	serverClient := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	etcdNames := append([]string{"localhost"}, c.EtcdDNSNames...)
	return []leafSpec{
		{cert: APIServerCert, key: APIServerKey, ca: clusterCA, commonName: "kube-apiserver",
			usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, dnsNames: c.APIServerDNSNames, ips: c.APIServerIPs},
		{cert: AdminCert, key: AdminKey, ca: clusterCA, commonName: "nestor-admin",
			organization: []string{"system:masters"}, usages: client},
		{cert: ControllerManagerCert, key: ControllerManagerKey, ca: clusterCA,
			commonName: "system:kube-controller-manager", usages: client},
		{cert: KubeletClientCert, key: KubeletClientKey, ca: clusterCA,
			commonName: KubeletClientName, usages: client},
		{cert: CoreDNSCert, key: CoreDNSKey, ca: clusterCA, commonName: CoreDNSUser, usages: client},
		{cert: FrontProxyClientCert, key: FrontProxyClientKey, ca: frontProxyCA,
			commonName: "front-proxy-client", usages: client},
		{cert: APIServerEtcdClientCert, key: APIServerEtcdClientKey, ca: etcdCA,
			commonName: "kube-apiserver-etcd-client", usages: client},
		{cert: EtcdServerCert, key: EtcdServerKey, ca: etcdCA, commonName: "etcd-server",
			usages: serverClient, dnsNames: etcdNames, ips: loopback},
		{cert: EtcdPeerCert, key: EtcdPeerKey, ca: etcdCA, commonName: "etcd-peer",
			usages: serverClient, dnsNames: etcdNames, ips: loopback},
	}
}

// Ensure returns the PKI data for cfg. Valid CAs and the service-account key
// in current are always kept; a leaf certificate is re-issued only when it is
// missing, unparsable, not signed by its CA, lacks a required name, or is due
// for renewal. changed reports whether any PKI key of the result differs
// from current; keys of current that are not PKI keys are ignored.
func Ensure(current map[string][]byte, cfg Config, now time.Time) (data map[string][]byte, changed bool, err error) {
	data = make(map[string][]byte, 24)
	cas := map[string]*authority{}
	for _, spec := range []caSpec{clusterCA, etcdCA, frontProxyCA} {
		ca, err := loadCA(current[spec.cert], current[spec.key], now)
		if err != nil {
			if ca, err = newCA(spec.commonName, now); err != nil {
				return nil, false, fmt.Errorf("creating %s: %w", spec.commonName, err)
			}
		}
		cas[spec.cert] = ca
		data[spec.cert], data[spec.key] = ca.certPEM, ca.keyPEM
	}

	saKey, saPub, err := serviceAccountKeys(current[ServiceAccountKey])
	if err != nil {
		return nil, false, err
	}
	data[ServiceAccountKey], data[ServiceAccountPub] = saKey, saPub

	for _, leaf := range cfg.leaves() {
		ca := cas[leaf.ca.cert]
		certPEM, keyPEM := current[leaf.cert], current[leaf.key]
		if !leafValid(certPEM, keyPEM, ca, leaf, now) {
			if certPEM, keyPEM, err = ca.issue(leaf, now); err != nil {
				return nil, false, fmt.Errorf("issuing %s: %w", leaf.cert, err)
			}
		}
		data[leaf.cert], data[leaf.key] = certPEM, keyPEM
	}

	for k, v := range data {
		if !bytes.Equal(current[k], v) {
			changed = true
		}
	}
	return data, changed, nil
}

type authority struct {
	cert            *x509.Certificate
	key             crypto.Signer
	certPEM, keyPEM []byte
}

func newCA(commonName string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// Backdated like the leaves, for clocks that lag a little.
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: commonName, NotBefore: now.Add(-5 * time.Minute)}, key)
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	certPEM, err := certutil.EncodeCertificates(cert)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

func loadCA(certPEM, keyPEM []byte, now time.Time) (*authority, error) {
	cert, key, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || now.After(cert.NotAfter) {
		return nil, errors.New("not a valid CA")
	}
	return &authority{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

func (ca *authority) issue(leaf leafSpec, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: leaf.commonName, Organization: leaf.organization},
		DNSNames:     leaf.dnsNames,
		IPAddresses:  leaf.ips,
		// Allow for clocks that lag a little behind the operator's.
		NotBefore:             now.Add(-5 * time.Minute).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           leaf.usages,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if certPEM, err = certutil.EncodeCertificates(cert); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// leafValid reports whether an existing leaf can be kept.
func leafValid(certPEM, keyPEM []byte, ca *authority, leaf leafSpec, now time.Time) bool {
	cert, _, err := parsePair(certPEM, keyPEM)
	if err != nil || cert.CheckSignatureFrom(ca.cert) != nil {
		return false
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return false
	}
	// Renew ahead of expiry, unless a new leaf could not outlive this one:
	// leaves end with their CA, and re-issuing them then would only churn.
	if now.Add(RenewBefore).After(cert.NotAfter) && cert.NotAfter.Before(ca.cert.NotAfter) {
		return false
	}
	if cert.Subject.CommonName != leaf.commonName || !slices.Equal(cert.Subject.Organization, leaf.organization) {
		return false
	}
	for _, name := range leaf.dnsNames {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range leaf.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// parsePair parses a certificate and its private key and checks they match.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, nil, err
	}
	k, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("private key cannot sign")
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, nil, errors.New("private key does not match certificate")
	}
	return certs[0], key, nil
}

// serviceAccountKeys keeps a parsable service-account signing key, or makes
// one, and derives its public half. Replacing it would invalidate every token
// the virtual cluster has issued, so a valid key is never replaced.
func serviceAccountKeys(current []byte) (keyPEM, pubPEM []byte, err error) {
	var key crypto.Signer
	if k, err := keyutil.ParsePrivateKeyPEM(current); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			key, keyPEM = s, current
		}
	}
	if key == nil {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("creating the service-account key: %w", err)
		}
		if keyPEM, err = keyutil.MarshalPrivateKeyToPEM(ec); err != nil {
			return nil, nil, err
		}
		key = ec
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
