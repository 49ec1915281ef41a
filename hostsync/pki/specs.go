package pki

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"path"

	"github.com/metalk8s/mk8s/schema"
)

// Files every node receives from the authority (the Salt mine's advertised CAs).
const (
	KubeletCert      = "/var/lib/kubelet/pki/kubelet.crt"
	KubeletKey       = "/var/lib/kubelet/pki/kubelet.key"
	EncryptionConfig = "/etc/kubernetes/encryption.conf"
	// KubeconfigKeyDir holds the node-generated keys the kubeconfigs embed: the node
	// keeps them so that a re-issued certificate is embedded with the same key.
	KubeconfigKeyDir = "/etc/kubernetes/pki/kubeconfig"
)

// Kubeconfig is a client kubeconfig with its certificate, key and CA embedded.
type Kubeconfig struct {
	Leaf
	// Server is the API server URL.
	Server string
	// Name names the user and context.
	Name string
}

// NodeSpec is what a node needs from the PKI, by its roles.
type NodeSpec struct {
	Leaves      []Leaf
	Kubeconfigs []Kubeconfig
	// CACerts are the CA certificates (paths of CADefs) the node receives.
	CACerts []string
	// ServiceAccount is set on masters: they sign and check service-account tokens.
	ServiceAccount bool
	// Encryption is set on masters: the API server encrypts Secrets at rest.
	Encryption bool
	// Authority is set on the CA minion (the bootstrap node), which keeps every CA.
	Authority bool
}

// ForNode returns the PKI a node needs, as MetalK8s' roles give it. The error names the
// node and the file whose SAN cannot be computed.
func ForNode(site *schema.Site, name string) (NodeSpec, error) {
	n, ok := site.Node(name)
	if !ok {
		return NodeSpec{}, fmt.Errorf("node %s: not in the site", name)
	}
	var s NodeSpec
	ip := net.ParseIP(n.SSH.Host)
	ipErr := func(file string) error {
		return fmt.Errorf("%s: node %s: metalk8s.scality.com/ssh-host %q is not an IP address: it is the control-plane IP that %s must carry as a SAN",
			loc(n.Source), name, n.SSH.Host, file)
	}
	ca := func(d string) string {
		for _, c := range CADefs() {
			if c.Name == d {
				return c.CertPath
			}
		}
		return ""
	}
	s.CACerts = []string{ca(CAKubernetes)}
	if ip == nil {
		return s, ipErr(KubeletCert)
	}
	s.Leaves = append(s.Leaves, Leaf{Path: KubeletCert, KeyPath: KubeletKey, CA: CAKubernetes,
		CN: "system:node:" + name, Orgs: []string{"system:nodes"}, DNS: []string{name}, IPs: []net.IP{ip}, Usage: Server})
	s.Kubeconfigs = append(s.Kubeconfigs, kubeconfig("/etc/kubernetes/kubelet.conf", "system:node:"+name, []string{"system:nodes"}, "https://127.0.0.1:7443"))
	if n.HasRole(schema.RoleEtcd) {
		s.CACerts = append(s.CACerts, ca(CAEtcd))
		for _, f := range []string{"server", "peer"} {
			s.Leaves = append(s.Leaves, Leaf{Path: "/etc/kubernetes/pki/etcd/" + f + ".crt", KeyPath: "/etc/kubernetes/pki/etcd/" + f + ".key",
				CA: CAEtcd, CN: name, DNS: []string{name, "localhost"}, IPs: []net.IP{ip, net.IPv4(127, 0, 0, 1)}, Usage: ServerClient})
		}
		s.Leaves = append(s.Leaves, Leaf{Path: "/etc/kubernetes/pki/etcd/healthcheck-client.crt", KeyPath: "/etc/kubernetes/pki/etcd/healthcheck-client.key",
			CA: CAEtcd, CN: "kube-etcd-healthcheck-client", Orgs: []string{"system:masters"}, Usage: Client})
	}
	if n.HasRole(schema.RoleMaster) {
		if !n.HasRole(schema.RoleEtcd) {
			s.CACerts = append(s.CACerts, ca(CAEtcd))
		}
		s.CACerts = append(s.CACerts, ca(CAFrontProxy))
		s.ServiceAccount, s.Encryption = true, true
		sansIP, err := apiserverIPs(site, ip)
		if err != nil {
			return s, fmt.Errorf("%s: node %s: /etc/kubernetes/pki/apiserver.crt: %w", loc(n.Source), name, err)
		}
		s.Leaves = append(s.Leaves,
			Leaf{Path: "/etc/kubernetes/pki/apiserver.crt", KeyPath: "/etc/kubernetes/pki/apiserver.key", CA: CAKubernetes, CN: "kube-apiserver",
				DNS: []string{name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
				IPs: sansIP, Usage: Server},
			Leaf{Path: "/etc/kubernetes/pki/apiserver-etcd-client.crt", KeyPath: "/etc/kubernetes/pki/apiserver-etcd-client.key", CA: CAEtcd,
				CN: "kube-apiserver-etcd-client", Orgs: []string{"system:masters"}, Usage: Client},
			Leaf{Path: "/etc/kubernetes/pki/apiserver-kubelet-client.crt", KeyPath: "/etc/kubernetes/pki/apiserver-kubelet-client.key", CA: CAKubernetes,
				CN: "kube-apiserver-kubelet-client", Orgs: []string{"system:masters"}, Usage: Client},
			Leaf{Path: "/etc/kubernetes/pki/front-proxy-client.crt", KeyPath: "/etc/kubernetes/pki/front-proxy-client.key", CA: CAFrontProxy,
				CN: "front-proxy-client", Usage: Client},
		)
		direct := "https://" + net.JoinHostPort(ip.String(), "6443")
		s.Kubeconfigs = append(s.Kubeconfigs,
			kubeconfig("/etc/kubernetes/admin.conf", "kubernetes-admin", []string{"kubeadm:cluster-admins"}, direct),
			kubeconfig("/etc/kubernetes/super-admin.conf", "kubernetes-super-admin", []string{"system:masters"}, direct),
			kubeconfig("/etc/kubernetes/controller-manager.conf", "system:kube-controller-manager", nil, "https://127.0.0.1:7443"),
			kubeconfig("/etc/kubernetes/scheduler.conf", "system:kube-scheduler", nil, "https://127.0.0.1:7443"),
		)
	}
	s.Authority = n.HasRole(schema.RoleBootstrap)
	return s, nil
}

func loc(s schema.Source) string {
	if s.File == "" {
		return "site"
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

func kubeconfig(p, cn string, orgs []string, server string) Kubeconfig {
	name := path.Base(p)
	name = name[:len(name)-len(path.Ext(name))]
	return Kubeconfig{
		Leaf:   Leaf{Path: p, KeyPath: KubeconfigKeyDir + "/" + name + ".key", CA: CAKubernetes, CN: cn, Orgs: orgs, Usage: Client},
		Server: server, Name: cn,
	}
}

// apiserverIPs are the IP SANs MetalK8s puts in apiserver.crt: the first Service IP, the
// node's control-plane IP, the control-plane ingress IP (the bootstrap node's IP when
// not set) and 127.0.0.1 (the apiserver-proxy's upstream is the node IP, but local
// clients use the loopback).
func apiserverIPs(site *schema.Site, ip net.IP) ([]net.IP, error) {
	_, svc, err := net.ParseCIDR(site.Cluster.Networks.Services)
	if err != nil || svc.IP.To4() == nil {
		return nil, fmt.Errorf("networks.services %q is not an IPv4 CIDR: the first Service IP (the kubernetes Service) must be a SAN", site.Cluster.Networks.Services)
	}
	first := net.IPv4(svc.IP[0], svc.IP[1], svc.IP[2], svc.IP[3]+1)
	ips := []net.IP{first, ip}
	ingress := site.Cluster.Networks.ControlPlane.IngressIP
	if ingress == "" {
		if b := site.BootstrapNode(); b != nil {
			ingress = b.SSH.Host
		}
	}
	if ing := net.ParseIP(ingress); ing == nil {
		return nil, fmt.Errorf("networks.controlPlane.ingressIP %q (or the bootstrap node's ssh-host) is not an IP address", ingress)
	} else if !ing.Equal(ip) {
		ips = append(ips, ing)
	}
	return append(ips, net.IPv4(127, 0, 0, 1)), nil
}

// KeyDataPlaceholder stands in a rendered kubeconfig for the client key, which only the
// node holds: the node substitutes it when it writes the file, and mk8s compares the
// live file with the key data masked the same way.
const KeyDataPlaceholder = "@@MK8S_CLIENT_KEY_DATA@@"

// Render returns the kubeconfig with the CA and certificate embedded and the key data
// as KeyDataPlaceholder.
func (k Kubeconfig) Render(caPEM, certPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	var w bytes.Buffer
	fmt.Fprintf(&w, `apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority-data: %s
    server: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: %s@kubernetes
  context:
    cluster: kubernetes
    user: %s
current-context: %s@kubernetes
preferences: {}
`, b64(caPEM), k.Server, k.Name, b64(certPEM), KeyDataPlaceholder, k.Name, k.Name, k.Name)
	return w.Bytes()
}

// EncryptionConfiguration is /etc/kubernetes/encryption.conf for a key file's content.
func EncryptionConfiguration(key []byte) []byte {
	return []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources:
  - secrets
  providers:
  - aescbc:
      keys:
      - name: metalk8s-secrets-key
        secret: ` + string(bytes.TrimSpace(key)) + `
  - identity: {}
`)
}

// CertificateFromKubeconfig extracts the client certificate a kubeconfig embeds.
func CertificateFromKubeconfig(b []byte) []byte {
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if v, ok := bytes.CutPrefix(l, []byte("client-certificate-data:")); ok {
			d, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(v)))
			if err == nil {
				return d
			}
		}
	}
	return nil
}
