package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Usage is a signing policy of MetalK8s' CA minion, by extended key usage.
type Usage string

const (
	Client       Usage = "client"        // kube_apiserver_client_policy, etcd_client_policy, front_proxy_client_policy
	Server       Usage = "server"        // kube_apiserver_server_policy, ingress/dex/backup server policies
	ServerClient Usage = "server+client" // etcd_server_client_policy
)

func (u Usage) ext() []x509.ExtKeyUsage {
	switch u {
	case Client:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case Server:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
}

// Leaf is the specification of one leaf certificate: who it names, who signs it, where
// it and its key live.
type Leaf struct {
	// Path is the certificate's file, or the kubeconfig that embeds it.
	Path string
	// KeyPath is the private key, generated on the node.
	KeyPath string
	CA      string
	CN      string
	Orgs    []string
	DNS     []string
	IPs     []net.IP
	Usage   Usage
	// Users are the files (static pod manifests, units) that read this certificate, for
	// the plan's messages; hostsync derives restarts from the config digests.
	Users []string
}

// Sign issues the certificate for pub, valid from now for LeafLifetime.
func (l Leaf) Sign(ca *CA, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: l.CN, Organization: l.Orgs},
		NotBefore:             now.Add(-time.Minute).Truncate(time.Second),
		NotAfter:              now.Add(l.lifetime()).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           l.Usage.ext(),
		BasicConstraintsValid: true,
		DNSNames:              l.DNS,
		IPAddresses:           l.IPs,
		SubjectKeyId:          subjectKeyID(pub),
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing %s with the %s CA: %w", l.Path, l.CA, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Check says why the live certificate must be re-issued, or "" when it is still good:
// signed by ca, for pub, as specified, with more than renew (a fraction of its lifetime)
// left at now.
func (l Leaf) Check(live []byte, pub crypto.PublicKey, ca *CA, now time.Time, renew float64) string {
	if len(live) == 0 {
		return "absent"
	}
	c, err := ParseCertificate(live)
	if err != nil {
		return "the live certificate is unreadable (" + err.Error() + ")"
	}
	if err := c.CheckSignatureFrom(ca.Cert); err != nil || !bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) {
		return "not signed by the current " + l.CA + " CA"
	}
	if !SamePublicKey(c.PublicKey, pub) {
		return "issued for another key than " + l.KeyPath
	}
	if d := l.differences(c); d != "" {
		return d
	}
	life := c.NotAfter.Sub(c.NotBefore)
	left := c.NotAfter.Sub(now)
	if float64(left) < renew*float64(life) {
		if left <= 0 {
			return "expired on " + c.NotAfter.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("expires on %s: less than %.0f%% of its lifetime left", c.NotAfter.UTC().Format(time.RFC3339), renew*100)
	}
	return ""
}

func (l Leaf) differences(c *x509.Certificate) string {
	var d []string
	if c.Subject.CommonName != l.CN || !slices.Equal(c.Subject.Organization, l.Orgs) && (len(l.Orgs) > 0 || len(c.Subject.Organization) > 0) {
		d = append(d, "subject "+subject(c.Subject.CommonName, c.Subject.Organization)+" -> "+subject(l.CN, l.Orgs))
	}
	if !sameSet(c.DNSNames, l.DNS) || !sameSet(ipStrings(c.IPAddresses), ipStrings(l.IPs)) {
		d = append(d, "SANs "+sans(c.DNSNames, c.IPAddresses)+" -> "+sans(l.DNS, l.IPs))
	}
	if !slices.Equal(c.ExtKeyUsage, l.Usage.ext()) {
		d = append(d, "key usage differs (want "+string(l.Usage)+")")
	}
	return strings.Join(d, "; ")
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func subject(cn string, orgs []string) string {
	s := "CN=" + cn
	for _, o := range orgs {
		s += ",O=" + o
	}
	return s
}

func sans(dns []string, ips []net.IP) string {
	var out []string
	for _, n := range dns {
		out = append(out, "DNS:"+n)
	}
	for _, ip := range ipStrings(ips) {
		out = append(out, "IP:"+ip)
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, ",")
}

// Describe is the human view of a certificate file, for plan diffs: a PEM blob says
// nothing to a reviewer, its subject, SANs and dates do. Unparseable input is described
// as such.
func Describe(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	c, err := ParseCertificate(b)
	if err != nil {
		return []byte("(not a certificate: " + err.Error() + ")\n")
	}
	var w strings.Builder
	fmt.Fprintf(&w, "subject: %s\n", subject(c.Subject.CommonName, c.Subject.Organization))
	fmt.Fprintf(&w, "issuer: %s\n", subject(c.Issuer.CommonName, c.Issuer.Organization))
	if !c.IsCA {
		fmt.Fprintf(&w, "SANs: %s\n", sans(c.DNSNames, c.IPAddresses))
	} else {
		w.WriteString("CA: true\n")
	}
	fmt.Fprintf(&w, "valid: %s .. %s\n", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(&w, "serial: %x\n", c.SerialNumber)
	return []byte(w.String())
}

// DescribeSpec is the human view of the certificate the leaf specifies, in Describe's
// terms but without what only signing decides (dates, serial), and with the SANs sorted:
// an offline comparison of two revisions of a site shows it, having no CA to sign with.
// It names the key by its path and size; it never holds key material.
func (l Leaf) DescribeSpec() []byte {
	issuer := "(unknown CA " + l.CA + ")"
	for _, d := range CADefs() {
		if d.Name == l.CA {
			issuer = subject(d.CN, nil)
			break
		}
	}
	dns := slices.Sorted(slices.Values(l.DNS))
	ips := slices.Clone(l.IPs)
	slices.SortFunc(ips, func(a, b net.IP) int { return bytes.Compare(a.To16(), b.To16()) })
	var w strings.Builder
	fmt.Fprintf(&w, "subject: %s\n", subject(l.CN, l.Orgs))
	fmt.Fprintf(&w, "issuer: %s\n", issuer)
	fmt.Fprintf(&w, "SANs: %s\n", sans(dns, ips))
	fmt.Fprintf(&w, "usage: %s\n", l.Usage)
	fmt.Fprintf(&w, "key: RSA %d, generated on the node at %s\n", LeafKeyBits, l.KeyPath)
	return []byte(w.String())
}

// ClientCertificate issues an in-memory client certificate (key included) signed by ca,
// valid for an hour: how mk8s itself talks to etcd, without a key on any disk.
func ClientCertificate(ca *CA, cn string, now time.Time) (tls.Certificate, error) {
	k, err := rsa.GenerateKey(rand.Reader, LeafKeyBits)
	if err != nil {
		return tls.Certificate{}, err
	}
	l := Leaf{Path: "(memory)", CA: ca.Def.Name, CN: cn, Orgs: []string{"system:masters"}, Usage: Client}
	certPEM, err := l.Sign(ca, &k.PublicKey, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	blk, _ := pem.Decode(certPEM)
	c := tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: k}
	c.Leaf, err = x509.ParseCertificate(blk.Bytes)
	return c, err
}

func (l Leaf) lifetime() time.Duration {
	if l.Path == "(memory)" {
		return time.Hour
	}
	return LeafLifetime
}
