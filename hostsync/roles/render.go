package roles

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/isomount"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/internal/version"
	"github.com/metalk8s/mk8s/schema"
)

// Paths of the files mk8s writes, by role (host-convergence §1.3).
const (
	ManifestDir          = "/etc/kubernetes/manifests"
	ContainerdConfig     = "/etc/containerd/config.toml"
	ContainerdDropIn     = "/etc/systemd/system/containerd.service.d/50-metalk8s.conf"
	CrictlConfig         = "/etc/crictl.yaml"
	KubeletDir           = "/var/lib/kubelet"
	KubeletConfig        = "/var/lib/kubelet/config.yaml"
	KubeletFlags         = "/var/lib/kubelet/kubeadm-flags.env"
	KubeletStandalone    = "/etc/systemd/system/kubelet.service.d/09-standalone.conf"
	KubeletMetalK8s      = "/etc/systemd/system/kubelet.service.d/10-metalk8s.conf"
	SysctlDropIn         = "/etc/sysctl.d/60-metalk8s.conf"
	ModulesLoad          = "/etc/modules-load.d/metalk8s.conf"
	APIServerProxyConfig = "/var/lib/metalk8s/apiserver-proxy.conf"
	RepositoriesConfDir  = "/var/lib/metalk8s/repositories/conf.d"
	RepositoriesConfig   = RepositoriesConfDir + "/default.conf"
	EtcdDataDir          = "/var/lib/etcd"
)

// Sysctls MetalK8s sets on every node (internal/preflight/mandatory.sls).
var sysctls = [][2]string{
	{"net.bridge.bridge-nf-call-ip6tables", "1"},
	{"net.bridge.bridge-nf-call-iptables", "1"},
	{"net.ipv4.ip_forward", "1"},
}

// Options of Render.
type Options struct {
	// PKI are the node's certificates, keys, kubeconfigs and CA files, from hostsync's
	// PKI stage; they are placed before the static pods and units that read them.
	PKI []resource.Resource
	// Etcd is how the node's etcd member starts; FreshEtcd(site, node) when nil.
	Etcd *EtcdStart
	// Solutions are the Solution archives the site imports (SolutionsConfiguration's
	// archives, opened by hostsync), rendered on the bootstrap node as MetalK8s imports
	// them: each mounted at /srv/scality/<id>, its registry include written, and its
	// mountpoint mounted into the repositories pod. Other nodes ignore them.
	Solutions []SolutionArchive
	// Unimported are the archives mk8s mounted on the bootstrap node
	// (isomount.ReadImported); those that Solutions no longer has are released and their
	// registry include removed.
	Unimported []isomount.Imported
}

// SolutionArchive is what the bootstrap node needs of an imported Solution archive.
type SolutionArchive struct {
	// ID is <name>-<version>: the mountpoint /srv/scality/<ID> and the registry
	// repository <ID>.
	ID string
	// ISO is the archive's path on the bootstrap node.
	ISO string
	// RegistryInclude is the archive's registry configuration, rendered
	// (solution.Archive.RegistryInclude).
	RegistryInclude []byte
}

// SolutionInclude is the registry include of an archive, as MetalK8s names it.
func SolutionInclude(id string) string {
	return RepositoriesConfDir + "/" + id + "-registry-config.inc"
}

// EtcdStart is the --initial-cluster and --initial-cluster-state of a member. They only
// matter the first time a member starts with an empty data directory: the first member
// of a new cluster starts it alone ("new"), every later member joins the members already
// there ("existing"), after mk8s added it with `member add`.
type EtcdStart struct {
	InitialCluster string
	State          string
}

// FreshEtcd is the start of a member when no member of the site runs yet: the first etcd
// node (the bootstrap node when it is one, else the first by name) creates the cluster
// alone; the others will join it, with `member add`, once it runs.
func FreshEtcd(site *schema.Site, node string) *EtcdStart {
	first := ""
	for i := range site.Nodes {
		n := &site.Nodes[i]
		if !n.HasRole(schema.RoleEtcd) {
			continue
		}
		if n.HasRole(schema.RoleBootstrap) {
			first = n.Name
			break
		}
		if first == "" || n.Name < first {
			first = n.Name
		}
	}
	peer := func(name string) string {
		n, _ := site.Node(name)
		return name + "=" + EtcdPeerURL(n)
	}
	if n, ok := site.Node(node); !ok || !n.HasRole(schema.RoleEtcd) {
		return nil
	}
	if node == first {
		return &EtcdStart{InitialCluster: peer(node), State: "new"}
	}
	return &EtcdStart{InitialCluster: peer(first) + "," + peer(node), State: "existing"}
}

// EtcdPeerURL is the peer URL of an etcd node.
func EtcdPeerURL(n *schema.Node) string { return "https://" + net.JoinHostPort(nodeIP(n), "2380") }

// EtcdClientURL is the client URL of an etcd node.
func EtcdClientURL(n *schema.Node) string { return "https://" + net.JoinHostPort(nodeIP(n), "2379") }

// Render returns the desired host state of one node, in apply order: packages,
// directories, files, static pods, kernel settings, then units (which react to the files
// before them).
func Render(site *schema.Site, nodeName string, opts Options) ([]resource.Resource, error) {
	node, ok := site.Node(nodeName)
	if !ok {
		return nil, fmt.Errorf("node %s: not in the site", nodeName)
	}
	r := &renderer{site: site, node: node, ver: PlatformVersion(site), etcdStart: opts.Etcd}
	if node.HasRole(schema.RoleBootstrap) {
		var err error
		if r.solutions, r.unimported, err = solutionSets(opts); err != nil {
			return nil, fmt.Errorf("node %s: %w", nodeName, err)
		}
	}
	if r.etcdStart == nil && node.HasRole(schema.RoleEtcd) {
		r.etcdStart = FreshEtcd(site, nodeName)
	}
	boot := site.BootstrapNode()
	if boot == nil {
		return nil, fmt.Errorf("node %s: the site has no bootstrap node", nodeName)
	}
	r.repoIP = nodeIP(boot)
	r.every()
	if node.HasRole(schema.RoleEtcd) {
		r.etcd()
	}
	if node.HasRole(schema.RoleMaster) {
		r.master()
	}
	if node.HasRole(schema.RoleBootstrap) {
		r.bootstrap()
	}
	r.units()
	// Archives are mounted before the pod that serves them; released ones go after the
	// pod that no longer mounts them, their include first (as MetalK8s removes them).
	out := slices.Concat(r.pkgs, r.dirs, r.mounts, r.files, opts.PKI, r.pods, r.released, r.kernel, r.svc)
	return out, nil
}

type renderer struct {
	site                            *schema.Site
	node                            *schema.Node
	ver, repoIP                     string
	pkgs, dirs, files, pods, kernel []resource.Resource
	svc, mounts, released           []resource.Resource
	etcdStart                       *EtcdStart
	solutions                       []SolutionArchive
	unimported                      []isomount.Imported
}

// solutionSets checks the archives to import (valid ids and paths, one archive per id)
// and returns them by id, with the imported archives that are no longer among them.
func solutionSets(opts Options) ([]SolutionArchive, []isomount.Imported, error) {
	sols := slices.Clone(opts.Solutions)
	slices.SortFunc(sols, func(a, b SolutionArchive) int { return strings.Compare(a.ID, b.ID) })
	want := map[string]bool{}
	for i, s := range sols {
		if err := isomount.Validate(s.ID, s.ISO); err != nil {
			return nil, nil, fmt.Errorf("solution archive %s: %w", s.ISO, err)
		}
		if i > 0 && sols[i-1].ID == s.ID {
			return nil, nil, fmt.Errorf("solution archives %s and %s are both %s: one archive per name and version", sols[i-1].ISO, s.ISO, s.ID)
		}
		want[s.ID] = true
	}
	var gone []isomount.Imported
	for _, u := range opts.Unimported {
		if !want[u.Archive] {
			gone = append(gone, u)
		}
	}
	return sols, gone, nil
}

// nodeIP is the node's control-plane address: its SSH host, which validation requires
// to be an address (MetalK8s computes it from the control-plane CIDR on the host).
func nodeIP(n *schema.Node) string { return n.SSH.Host }

func (r *renderer) header() string { return Header(r.ver) }

// PlatformVersion is the platform version the site declares, or the binary's own.
func PlatformVersion(site *schema.Site) string {
	if site.Cluster.Version != "" {
		return site.Cluster.Version
	}
	return version.Platform
}

// Header is the first line of every file mk8s generates: it names mk8s and the platform
// version, and carries no timestamp, so that two renders give the same bytes.
func Header(platformVersion string) string {
	return "# Generated by mk8s for MetalK8s " + platformVersion + ". Do not edit: mk8s restores this file on the next reconcile.\n"
}

func (r *renderer) file(path string, mode uint32, body string) {
	r.files = append(r.files, &resource.File{Path: path, Mode: fsMode(mode), Content: []byte(r.header() + body)})
}

func (r *renderer) dir(path string, mode uint32) {
	r.dirs = append(r.dirs, &resource.Directory{Path: path, Mode: fsMode(mode)})
}

func (r *renderer) pod(name, body string, configFiles ...string) {
	r.pods = append(r.pods, &resource.StaticPod{
		File:        resource.File{Path: ManifestDir + "/" + name + ".yaml", Mode: 0o600, Content: []byte(r.header() + body)},
		ConfigFiles: configFiles,
	})
}

func (r *renderer) image(name, tag string) string {
	return RegistryName + "/metalk8s-" + r.ver + "/" + name + ":" + tag
}

// every is what MetalK8s' node role (and minion) gives every node.
func (r *renderer) every() {
	r.pkgs = append(r.pkgs,
		&resource.Package{Name: "containerd", Version: ContainerdVersion, Hold: true},
		&resource.Package{Name: "runc", Version: RuncVersion, Hold: true},
		&resource.Package{Name: "kubelet", Version: KubernetesVersion, Hold: true},
	)
	if r.node.HasRole(schema.RoleMaster) || r.node.HasRole(schema.RoleBootstrap) {
		r.pkgs = append(r.pkgs, &resource.Package{Name: "kubectl", Version: KubernetesVersion, Hold: true})
	}
	r.dir("/etc/kubernetes", 0o755)
	r.dir(ManifestDir, 0o755)
	r.dir(KubeletDir, 0o750)
	r.dir("/var/lib/metalk8s", 0o755)
	for _, repo := range []string{"epel", "kubernetes", "scality"} {
		gpg := "1"
		if repo == "scality" {
			gpg = "0"
		}
		r.file("/etc/yum.repos.d/metalk8s-"+repo+".repo", 0o644, fmt.Sprintf(`[metalk8s-%[1]s]
name=metalk8s-%[1]s
baseurl=http://%[2]s/metalk8s-%[3]s/redhat/$metalk8s_osmajorrelease/metalk8s-%[1]s-el$metalk8s_osmajorrelease
enabled=1
gpgcheck=%[4]s
repo_gpg_check=0
priority=1
proxy=_none_
`, repo, net.JoinHostPort(r.repoIP, strconv.Itoa(RepositoryPort)), r.ver, gpg))
	}
	r.containerd()
	r.kubelet()
	var sc strings.Builder
	for _, kv := range sysctls {
		fmt.Fprintf(&sc, "%s = %s\n", kv[0], kv[1])
	}
	r.file(SysctlDropIn, 0o644, sc.String())
	r.file(ModulesLoad, 0o644, "br_netfilter\n")
	r.kernel = append(r.kernel, &resource.KernelModule{Name: "br_netfilter", Persist: ModulesLoad})
	for _, kv := range sysctls {
		r.kernel = append(r.kernel, &resource.Sysctl{Key: kv[0], Value: kv[1], DropIn: SysctlDropIn})
	}
	r.apiserverProxy()
}

func (r *renderer) containerd() {
	r.file(ContainerdConfig, 0o644, fmt.Sprintf(`version = 2

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry.mirrors.%q]
  endpoint = [%q]
`, r.image("pause", PauseImageTag), RegistryName, "http://"+net.JoinHostPort(r.repoIP, strconv.Itoa(RepositoryPort))))
	var env strings.Builder
	if p := r.site.Cluster.Proxies; p != nil {
		// The registry and the cluster's own networks never go through the proxy.
		noProxy := append([]string{"localhost", "127.0.0.1", r.repoIP}, r.site.Cluster.Networks.ControlPlane.CIDRs...)
		noProxy = append(noProxy, r.site.Cluster.Networks.WorkloadPlane.CIDRs...)
		noProxy = append(noProxy, r.site.Cluster.Networks.Pods, r.site.Cluster.Networks.Services)
		noProxy = append(noProxy, p.NoProxy...)
		noProxy = slices.DeleteFunc(noProxy, func(s string) bool { return s == "" })
		if p.HTTP != "" {
			fmt.Fprintf(&env, "Environment=%q\n", "HTTP_PROXY="+p.HTTP)
		}
		if p.HTTPS != "" {
			fmt.Fprintf(&env, "Environment=%q\n", "HTTPS_PROXY="+p.HTTPS)
		}
		fmt.Fprintf(&env, "Environment=%q\n", "NO_PROXY="+strings.Join(noProxy, ","))
	}
	r.file(ContainerdDropIn, 0o644, "[Service]\nExecStart=\nExecStart=/usr/bin/containerd --log-level info\nLimitNOFILE=1048576\n"+env.String())
	r.file(CrictlConfig, 0o644, "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\n")
}

func (r *renderer) kubelet() {
	ip := nodeIP(r.node)
	r.file(KubeletConfig, 0o644, fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
staticPodPath: %s
cgroupDriver: systemd
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
rotateCertificates: false
clusterDNS:
- %s
clusterDomain: cluster.local
containerLogMaxSize: 50Mi
systemReserved:
  cpu: 200m
  memory: 200Mi
`, ip, ManifestDir, dnsIP(r.site.Cluster.Networks.Services)))
	r.file(KubeletFlags, 0o644, fmt.Sprintf("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip=%s --hostname-override=%s --pod-infra-container-image=%s\"\n",
		ip, r.node.Name, r.image("pause", PauseImageTag)))
	r.file(KubeletStandalone, 0o644, `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--pod-manifest-path=`+ManifestDir+`"
EnvironmentFile=-`+KubeletFlags+`
EnvironmentFile=-/etc/sysconfig/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`)
	r.file(KubeletMetalK8s, 0o644, `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=`+KubeletConfig+`"
`)
}

// dnsIP is the tenth address of the services CIDR, where CoreDNS listens.
func dnsIP(cidr string) string {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return "10.96.0.10"
	}
	ip := n.IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+10).String()
}

// withRole returns the site's nodes that carry a role, in the site's (name) order.
func (r *renderer) withRole(role string) []*schema.Node {
	var ms []*schema.Node
	for i := range r.site.Nodes {
		if r.site.Nodes[i].HasRole(role) {
			ms = append(ms, &r.site.Nodes[i])
		}
	}
	return ms
}

const pkiNote = "# TLS material under /etc/kubernetes/pki and the kubeconfigs are provisioned by mk8s' PKI stage;\n# this manifest only references them (their live checksums are part of the config digest).\n"

func (r *renderer) apiserverProxy() {
	var up strings.Builder
	for _, m := range r.withRole(schema.RoleMaster) {
		w := 1
		if m.Name == r.node.Name {
			w = 100
		}
		fmt.Fprintf(&up, "    server %s weight=%d;\n", net.JoinHostPort(nodeIP(m), "6443"), w)
	}
	r.files = append(r.files, &resource.File{Path: APIServerProxyConfig, Mode: 0o444, Content: []byte(r.header() + `worker_processes 1;
error_log stderr notice;
pid /tmp/nginx.pid;
events {
  worker_connections 1024;
}
stream {
  upstream kube_apiserver {
` + up.String() + `  }
  server {
    listen 127.0.0.1:7443;
    proxy_pass kube_apiserver;
  }
}
http {
  server {
    listen 127.0.0.1:7080;
    location /healthz { return 200 'ok'; }
  }
}
`)})
	r.pod("apiserver-proxy", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: apiserver-proxy
  namespace: kube-system
  labels:
    app.kubernetes.io/name: apiserver-proxy
    metalk8s.scality.com/version: %q
  annotations:
    metalk8s.scality.com/config-digest: %q
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: nginx
    image: %s
    securityContext:
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
    - name: config
      mountPath: /etc/nginx/nginx.conf
      readOnly: true
    livenessProbe:
      httpGet:
        host: 127.0.0.1
        port: 7080
        path: /healthz
  volumes:
  - name: config
    hostPath:
      path: %s
      type: File
`, r.ver, resource.DigestPlaceholder, r.image("nginx", NginxImageTag), APIServerProxyConfig), APIServerProxyConfig)
}

func (r *renderer) etcd() {
	r.dir(EtcdDataDir, 0o750)
	ip := nodeIP(r.node)
	pki := []string{"/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/etcd/server.crt", "/etc/kubernetes/pki/etcd/server.key",
		"/etc/kubernetes/pki/etcd/peer.crt", "/etc/kubernetes/pki/etcd/peer.key"}
	r.pod("etcd", pkiNote+fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels:
    component: etcd
    tier: control-plane
    metalk8s.scality.com/version: %q
  annotations:
    metalk8s.scality.com/config-digest: %q
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: etcd
    image: %s
    command:
    - etcd
    - --name=%s
    - --data-dir=%s
    - --advertise-client-urls=https://%s
    - --listen-client-urls=https://127.0.0.1:2379,https://%s
    - --initial-advertise-peer-urls=https://%s
    - --listen-peer-urls=https://%s
    - --listen-metrics-urls=http://127.0.0.1:2381
    - --initial-cluster=%s
    - --initial-cluster-state=%s
    - --experimental-initial-corrupt-check=true
    - --client-cert-auth=true
    - --peer-client-cert-auth=true
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
    - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
    livenessProbe:
      httpGet:
        host: 127.0.0.1
        port: 2381
        path: /health?exclude=NOSPACE&serializable=true
    volumeMounts:
    - {name: data, mountPath: %s}
    - {name: pki, mountPath: /etc/kubernetes/pki/etcd, readOnly: true}
  volumes:
  - {name: data, hostPath: {path: %s, type: DirectoryOrCreate}}
  - {name: pki, hostPath: {path: /etc/kubernetes/pki/etcd, type: DirectoryOrCreate}}
`, r.ver, resource.DigestPlaceholder, r.image("etcd", EtcdImageTag), r.node.Name, EtcdDataDir,
		net.JoinHostPort(ip, "2379"), net.JoinHostPort(ip, "2379"), net.JoinHostPort(ip, "2380"), net.JoinHostPort(ip, "2380"),
		r.etcdStart.InitialCluster, r.etcdStart.State, EtcdDataDir, EtcdDataDir), pki...)
}

func featureGates(g map[string]bool) string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatBool(g[k])
	}
	return strings.Join(parts, ",")
}

func (r *renderer) controlPlanePod(name, body string, configFiles []string) {
	r.pod(name, pkiNote+fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: kube-system
  labels:
    component: %s
    tier: control-plane
    metalk8s.scality.com/version: %q
  annotations:
    metalk8s.scality.com/config-digest: %q
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: %s
    image: %s
    command:
%s    volumeMounts:
    - {name: k8s, mountPath: /etc/kubernetes, readOnly: true}
  volumes:
  - {name: k8s, hostPath: {path: /etc/kubernetes, type: DirectoryOrCreate}}
`, name, name, r.ver, resource.DigestPlaceholder, name, r.image(name, "v"+KubernetesVersion), body), configFiles...)
}

func args(a ...string) string {
	var b strings.Builder
	for _, s := range a {
		b.WriteString("    - " + s + "\n")
	}
	return b.String()
}

func (r *renderer) master() {
	ip := nodeIP(r.node)
	var etcdServers []string
	if r.node.HasRole(schema.RoleEtcd) {
		etcdServers = append(etcdServers, "https://"+net.JoinHostPort(ip, "2379"))
	}
	for _, m := range r.withRole(schema.RoleEtcd) {
		if m.Name != r.node.Name {
			etcdServers = append(etcdServers, "https://"+net.JoinHostPort(nodeIP(m), "2379"))
		}
	}
	a := []string{"kube-apiserver",
		"--advertise-address=" + ip, "--bind-address=" + ip, "--secure-port=6443",
		"--etcd-servers=" + strings.Join(etcdServers, ","),
		"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
		"--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
		"--client-ca-file=/etc/kubernetes/pki/ca.crt",
		"--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
		"--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
		"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
		"--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
		"--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
		"--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
		"--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-key-file=/etc/kubernetes/pki/sa.pub",
		"--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + r.site.Cluster.Networks.Services,
		"--encryption-provider-config=/etc/kubernetes/encryption.conf",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
	}
	if fg := featureGates(r.site.Cluster.Kubernetes.APIServer.FeatureGates); fg != "" {
		a = append(a, "--feature-gates="+fg)
	}
	r.controlPlanePod("kube-apiserver", args(a...), []string{
		"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/apiserver.key",
		"/etc/kubernetes/pki/apiserver-etcd-client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.key",
		"/etc/kubernetes/pki/apiserver-kubelet-client.crt", "/etc/kubernetes/pki/apiserver-kubelet-client.key",
		"/etc/kubernetes/pki/front-proxy-client.crt", "/etc/kubernetes/pki/front-proxy-client.key",
		"/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/pki/sa.key", "/etc/kubernetes/encryption.conf",
	})
	r.controlPlanePod("kube-controller-manager", args("kube-controller-manager",
		"--kubeconfig=/etc/kubernetes/controller-manager.conf",
		"--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
		"--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
		"--bind-address=127.0.0.1", "--leader-elect=true", "--use-service-account-credentials=true",
		"--allocate-node-cidrs=true", "--cluster-cidr="+r.site.Cluster.Networks.Pods, "--node-cidr-mask-size=24",
		"--service-cluster-ip-range="+r.site.Cluster.Networks.Services,
		"--root-ca-file=/etc/kubernetes/pki/ca.crt",
		"--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
	), []string{"/etc/kubernetes/controller-manager.conf", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/sa.key"})
	r.controlPlanePod("kube-scheduler", args("kube-scheduler",
		"--kubeconfig=/etc/kubernetes/scheduler.conf",
		"--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
		"--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
		"--bind-address=127.0.0.1", "--leader-elect=true",
	), []string{"/etc/kubernetes/scheduler.conf"})
}

func (r *renderer) bootstrap() {
	r.dir("/var/lib/metalk8s/repositories", 0o755)
	r.dir("/var/lib/metalk8s/repositories/conf.d", 0o755)
	archive := "/srv/scality/metalk8s-" + r.ver
	r.file(RepositoriesConfig, 0o644, fmt.Sprintf(`server {
  listen %d;
  server_name _;
  location /metalk8s-%s/ {
    alias %s/packages/;
    autoindex on;
  }
  location /v2/ {
    include /var/lib/metalk8s/repositories/conf.d/*.inc;
  }
}
`, RepositoryPort, r.ver, archive))
	var solMounts, solVolumes strings.Builder
	includes := []string{RepositoriesConfig}
	for _, s := range r.solutions {
		mp := isomount.Mountpoint(s.ID)
		r.mounts = append(r.mounts, &isomount.Mount{Archive: s.ID, ISO: s.ISO})
		r.file(SolutionInclude(s.ID), 0o644, string(s.RegistryInclude))
		includes = append(includes, SolutionInclude(s.ID))
		fmt.Fprintf(&solMounts, "    - {name: %s, mountPath: %s, readOnly: true}\n", solutionVolume(s.ID), mp)
		fmt.Fprintf(&solVolumes, "  - {name: %s, hostPath: {path: %s, type: Directory}}\n", solutionVolume(s.ID), mp)
	}
	for _, u := range r.unimported {
		r.released = append(r.released,
			&isomount.RemoveFile{Path: SolutionInclude(u.Archive), Why: "archive " + u.ISO + " (" + u.Archive + ") is no longer imported"},
			&isomount.Release{Archive: u.Archive, ISO: u.ISO})
	}
	r.pod("repositories", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: repositories
  namespace: kube-system
  labels:
    app.kubernetes.io/name: repositories
    metalk8s.scality.com/version: %q
  annotations:
    metalk8s.scality.com/config-digest: %q
spec:
  hostNetwork: true
  priorityClassName: system-cluster-critical
  containers:
  - name: repositories
    image: %s
    ports:
    - {name: http, containerPort: %d}
    volumeMounts:
    - {name: conf, mountPath: /etc/nginx/conf.d, readOnly: true}
    - {name: archive, mountPath: %s, readOnly: true}
%s  volumes:
  - {name: conf, hostPath: {path: %s, type: Directory}}
  - {name: archive, hostPath: {path: %s, type: DirectoryOrCreate}}
%s`, r.ver, resource.DigestPlaceholder, r.image("nginx", NginxImageTag), RepositoryPort, archive, solMounts.String(),
		RepositoriesConfDir, archive, solVolumes.String()), includes...)
}

// solutionVolume names the repositories pod's volume of an archive: a DNS label (the
// id's dots and case folded) made unique by a hash of the id.
func solutionVolume(id string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, id)
	if len(name) > 40 {
		name = name[:40]
	}
	return "solution-" + strings.Trim(name, "-") + "-" + resource.SHA256([]byte(id))[:8]
}

func (r *renderer) units() {
	r.svc = append(r.svc,
		&resource.SystemdUnit{Name: "containerd.service", UnitFiles: []string{ContainerdDropIn},
			DependsOn: []string{ContainerdConfig}, Enabled: true, Active: true},
		&resource.SystemdUnit{Name: "kubelet.service", UnitFiles: []string{KubeletStandalone, KubeletMetalK8s},
			DependsOn: []string{KubeletConfig, KubeletFlags, "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.crt",
				"/var/lib/kubelet/pki/kubelet.crt", "/var/lib/kubelet/pki/kubelet.key"}, Enabled: true, Active: true},
	)
}
