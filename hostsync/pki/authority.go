package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Paths of the CA-held material on the bootstrap node (host-convergence §1.7).
const (
	SAKeyPath         = "/etc/kubernetes/pki/sa.key"
	SAPubPath         = "/etc/kubernetes/pki/sa.pub"
	EncryptionKeyPath = "/etc/metalk8s/crypt/apiserver.key"
)

// CA names, as leaf specifications refer to them.
const (
	CAKubernetes   = "kubernetes"
	CAEtcd         = "etcd"
	CAFrontProxy   = "front-proxy"
	CAIngress      = "ingress"
	CADex          = "dex"
	CABackupServer = "backup-server"
)

// CADef is one certificate authority MetalK8s keeps on its CA minion.
type CADef struct {
	Name     string
	CN       string
	CertPath string
	KeyPath  string
}

// CADefs are the CAs, in the order they are reported.
func CADefs() []CADef {
	return []CADef{
		{CAKubernetes, "kubernetes", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"},
		{CAEtcd, "etcd-ca", "/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/etcd/ca.key"},
		{CAFrontProxy, "front-proxy-ca", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/front-proxy-ca.key"},
		{CAIngress, "ingress-ca", "/etc/metalk8s/pki/nginx-ingress/ca.crt", "/etc/metalk8s/pki/nginx-ingress/ca.key"},
		{CADex, "dex-ca", "/etc/metalk8s/pki/dex/ca.crt", "/etc/metalk8s/pki/dex/ca.key"},
		{CABackupServer, "backup-server-ca", "/etc/metalk8s/pki/backup-server/ca.crt", "/etc/metalk8s/pki/backup-server/ca.key"},
	}
}

// Lifetimes and key sizes MetalK8s uses (salt/metalk8s/defaults.yaml).
const (
	CALifetime    = 3650 * 24 * time.Hour
	LeafLifetime  = 365 * 24 * time.Hour
	CAKeyBits     = 4096
	LeafKeyBits   = 2048
	SAKeyBits     = 2048
	DefaultRenew  = 90.0 / 365.0 // re-issued when days_remaining < 90 of 365
	encryptionLen = 32           // aescbc takes a 32-byte key
)

// CA is one loaded certificate authority.
type CA struct {
	Def     CADef
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Authority is every secret the CA minion holds.
type Authority struct {
	CAs map[string]*CA
	// SAKeyPEM and SAPubPEM are the service-account key pair.
	SAKeyPEM, SAPubPEM []byte
	// EncryptionKey is the content of EncryptionKeyPath: a base64 32-byte key.
	EncryptionKey []byte
}

// Files returns the content of every file the authority keeps on the bootstrap node.
func (a *Authority) Files() map[string][]byte {
	out := map[string][]byte{SAKeyPath: a.SAKeyPEM, SAPubPath: a.SAPubPEM, EncryptionKeyPath: a.EncryptionKey}
	for _, ca := range a.CAs {
		out[ca.Def.CertPath], out[ca.Def.KeyPath] = ca.CertPEM, ca.KeyPEM
	}
	return out
}

// SecretPaths lists the authority's files that must never be shown or logged.
func SecretPaths() []string {
	out := []string{SAKeyPath, EncryptionKeyPath}
	for _, d := range CADefs() {
		out = append(out, d.KeyPath)
	}
	return out
}

// Groups are the authority's files by unit of creation: a CA's certificate and key, the
// service-account pair, the encryption key. A group is created, restored or refused as a
// whole.
func Groups() [][]string {
	var g [][]string
	for _, d := range CADefs() {
		g = append(g, []string{d.CertPath, d.KeyPath})
	}
	return append(g, []string{SAKeyPath, SAPubPath}, []string{EncryptionKeyPath})
}

// GenerateGroup creates the files of one group (as Groups lists it). caBits is the CA
// key size (CAKeyBits unless a test asks for less).
func GenerateGroup(group []string, caBits int, now time.Time) (map[string][]byte, error) {
	switch group[0] {
	case SAKeyPath:
		k, err := rsa.GenerateKey(rand.Reader, SAKeyBits)
		if err != nil {
			return nil, fmt.Errorf("generating the service-account key: %w", err)
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{
			SAKeyPath: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
			SAPubPath: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		}, nil
	case EncryptionKeyPath:
		b := make([]byte, encryptionLen)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return map[string][]byte{EncryptionKeyPath: []byte(base64.StdEncoding.EncodeToString(b) + "\n")}, nil
	}
	for _, d := range CADefs() {
		if d.CertPath == group[0] {
			certPEM, keyPEM, err := newCA(d.CN, caBits, now)
			if err != nil {
				return nil, fmt.Errorf("generating the %s CA: %w", d.Name, err)
			}
			return map[string][]byte{d.CertPath: certPEM, d.KeyPath: keyPEM}, nil
		}
	}
	return nil, fmt.Errorf("unknown PKI group %v", group)
}

func newCA(cn string, bits int, now time.Time) (certPEM, keyPEM []byte, err error) {
	if bits == 0 {
		bits = CAKeyBits
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	ski := subjectKeyID(&k.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Minute).Truncate(time.Second),
		NotAfter:              now.Add(CALifetime).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func subjectKeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	h := sha1.Sum(der)
	return h[:]
}

// Load parses the authority's files (as Files returns them). Each error names the file.
func Load(files map[string][]byte) (*Authority, error) {
	a := &Authority{CAs: map[string]*CA{}, SAKeyPEM: files[SAKeyPath], SAPubPEM: files[SAPubPath], EncryptionKey: files[EncryptionKeyPath]}
	var errs []error
	for _, d := range CADefs() {
		ca, err := ParseCA(d, files[d.CertPath], files[d.KeyPath])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.CAs[d.Name] = ca
	}
	if err := checkSA(a.SAKeyPEM, a.SAPubPEM); err != nil {
		errs = append(errs, err)
	}
	if err := checkEncryptionKey(a.EncryptionKey); err != nil {
		errs = append(errs, err)
	}
	return a, errors.Join(errs...)
}

// ParseCA parses and cross-checks a CA's certificate and key.
func ParseCA(d CADef, certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.CertPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: not a CA certificate (basicConstraints CA:false)", d.CertPath)
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.KeyPath, err)
	}
	if !SamePublicKey(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s: the key does not match the CA certificate %s", d.KeyPath, d.CertPath)
	}
	return &CA{Def: d, Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func checkSA(keyPEM, pubPEM []byte) error {
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", SAKeyPath, err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", SAPubPath, err)
	}
	if !SamePublicKey(pub, key.Public()) {
		return fmt.Errorf("%s: does not match the service-account key %s", SAPubPath, SAKeyPath)
	}
	return nil
}

func checkEncryptionKey(b []byte) error {
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(k) != encryptionLen {
		return fmt.Errorf("%s: not a base64-encoded %d-byte key", EncryptionKeyPath, encryptionLen)
	}
	return nil
}

// ParseCertificate parses the first PEM certificate of b.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("unreadable certificate: %w", err)
	}
	return c, nil
}

// ParsePrivateKey parses a PEM private key (PKCS#1, PKCS#8 or EC).
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || !bytes.HasSuffix([]byte(blk.Type), []byte("PRIVATE KEY")) {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unreadable private key")
}

// ParsePublicKey parses a PEM public key (PKIX, as `openssl pkey -pubout` prints it).
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("unreadable public key: %w", err)
	}
	return k, nil
}

// SamePublicKey reports whether two public keys are equal.
func SamePublicKey(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}
