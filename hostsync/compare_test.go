package hostsync

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/sitegen"
)

func compareSite() *schema.Site {
	n := func(name, ip string, roles ...string) schema.Node {
		return schema.Node{Name: name, Roles: roles, SSH: schema.SSH{Host: ip, User: "root", Port: 22}}
	}
	return &schema.Site{
		Cluster: schema.Cluster{Version: "2.10.0",
			Networks: schema.Networks{ControlPlane: schema.ControlPlane{CIDRs: []string{"10.213.1.0/24"}},
				WorkloadPlane: schema.WorkloadPlane{CIDRs: []string{"10.213.2.0/24"}}, Pods: "10.233.0.0/16", Services: "10.96.0.0/12"},
			Kubernetes: schema.Kubernetes{APIServer: schema.APIServer{FeatureGates: map[string]bool{"B": false, "A": true}}}},
		Nodes: []schema.Node{
			n("node-1", "10.213.1.11", "bootstrap", "etcd", "master"),
			n("node-2", "10.213.1.12", "etcd", "master"),
			n("node-3", "10.213.1.13", "node"),
		},
	}
}

func compare(t *testing.T, from, to *schema.Site, opts CompareOptions) change.Set {
	t.Helper()
	s, err := Compare(from, to, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// changes are the entries that are neither unchanged nor skipped.
func changes(s change.Set) change.Set {
	return slices.DeleteFunc(slices.Clone(s), func(e change.Entry) bool {
		return e.Action == change.Unchanged || e.Action == change.Skipped
	})
}

func find(t *testing.T, s change.Set, host, subject string) change.Entry {
	t.Helper()
	for _, e := range s {
		if e.Host == host && e.Subject == subject {
			return e
		}
	}
	t.Fatalf("no entry %s %s in:\n%s", host, subject, dump(s))
	return change.Entry{}
}

func dump(s change.Set) string {
	var b strings.Builder
	for _, e := range s {
		b.WriteString(e.String() + " [" + string(e.Disruptive) + "]\n")
	}
	return b.String()
}

func TestCompareIdenticalSitesChangesNothing(t *testing.T) {
	s := compare(t, compareSite(), compareSite(), CompareOptions{})
	if c := changes(s); len(c) > 0 || s.Changed() {
		t.Fatalf("identical sites differ:\n%s", dump(c))
	}
	// Unchanged entries are kept, one per resource, as a live plan reports them.
	all := compare(t, nil, compareSite(), CompareOptions{})
	nodeLevel := 0
	for _, e := range all {
		if strings.HasPrefix(e.Subject, "Node ") || strings.HasPrefix(e.Subject, "EtcdMember ") {
			nodeLevel++
		}
	}
	if len(s) != len(all)-nodeLevel || len(s) == 0 {
		t.Fatalf("%d unchanged entries, want one per resource (%d)", len(s), len(all)-nodeLevel)
	}
}

func TestCompareProxyChangesOnlyTheContainerdDropIn(t *testing.T) {
	to := compareSite()
	to.Cluster.Proxies = &schema.Proxies{HTTPS: "http://proxy.example.invalid:3128"}
	s := compare(t, compareSite(), to, CompareOptions{})
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		var got []string
		for _, e := range changes(s) {
			if e.Host == n {
				got = append(got, e.Subject)
			}
		}
		want := []string{"File " + roles.ContainerdDropIn, "SystemdUnit containerd.service"}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: changed %q, want %q", n, got, want)
		}
		f := find(t, s, n, "File "+roles.ContainerdDropIn)
		if f.Action != change.Configured || f.Disruptive != "" ||
			!strings.Contains(f.Diff, "--- "+roles.ContainerdDropIn+" (from)\n+++ "+roles.ContainerdDropIn+" (to)\n") ||
			!strings.Contains(f.Diff, "\n+Environment=\"HTTPS_PROXY=http://proxy.example.invalid:3128\"\n") {
			t.Fatalf("%s: %s\n%s", n, f, f.Diff)
		}
		// The unit file changed: a live plan reloads and restarts containerd.
		if u := find(t, s, n, "SystemdUnit containerd.service"); u.Message != "daemon-reload, restart ("+roles.ContainerdDropIn+" changed)" {
			t.Fatalf("%s: %s", n, u)
		}
	}
}

func TestCompareFeatureGateRestartsOnlyTheAPIServers(t *testing.T) {
	to := compareSite()
	to.Cluster.Kubernetes.APIServer.FeatureGates["C"] = true
	c := changes(compare(t, compareSite(), to, CompareOptions{}))
	if len(c) != 2 {
		t.Fatalf("want the two kube-apiserver manifests:\n%s", dump(c))
	}
	for _, e := range c {
		if e.Subject != "StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml" || e.Disruptive != change.StaticPodRestart ||
			e.Message != "restarts: manifest changes" || !strings.Contains(e.Diff, "+    - --feature-gates=A=true,B=false,C=true\n") {
			t.Fatalf("%s [%s]\n%s", e, e.Disruptive, e.Diff)
		}
	}
}

func TestCompareAddedNode(t *testing.T) {
	to := compareSite()
	to.Nodes = append(to.Nodes, schema.Node{Name: "node-4", Roles: []string{"etcd", "master"},
		SSH: schema.SSH{Host: "10.213.1.14", User: "root", Port: 22}})
	s := compare(t, compareSite(), to, CompareOptions{})
	var mine change.Set
	for _, e := range s {
		if e.Host == "node-4" {
			mine = append(mine, e)
		}
	}
	if len(mine) < 3 || mine[0].Subject != "Node node-4" || mine[0].Action != change.Created ||
		mine[1].Subject != "EtcdMember node-4" || mine[1].Action != change.Created || mine[1].Disruptive != change.EtcdMemberChange ||
		mine[1].Message != "member add https://10.213.1.14:2380 before its manifest is written" {
		t.Fatalf("node-4 starts with:\n%s", dump(mine[:min(3, len(mine))]))
	}
	for _, e := range mine[2:] {
		if e.Action != change.Created {
			t.Errorf("new node: %s", e)
		}
	}
	if e := find(t, s, "node-4", "File "+roles.KubeletConfig); !strings.HasPrefix(e.Diff, "--- /dev/null\n+++ "+roles.KubeletConfig+" (to)\n") {
		t.Errorf("created file diff:\n%s", e.Diff)
	}
	// The others reach the new API server through their apiserver-proxy.
	if e := find(t, s, "node-3", "StaticPod /etc/kubernetes/manifests/apiserver-proxy.yaml"); e.Disruptive != change.StaticPodRestart ||
		e.Message != "restarts: "+roles.APIServerProxyConfig+" changes" {
		t.Errorf("%s [%s]", e, e.Disruptive)
	}
	// Its own PKI comes before its static pods, as in a live plan.
	cert := slices.IndexFunc(mine, func(e change.Entry) bool { return e.Subject == "Certificate /etc/kubernetes/pki/apiserver.crt" })
	pod := slices.IndexFunc(mine, func(e change.Entry) bool { return strings.HasPrefix(e.Subject, "StaticPod ") })
	if cert < 0 || pod < 0 || cert > pod {
		t.Errorf("certificate at %d, first static pod at %d", cert, pod)
	}
}

func TestCompareRemovedNode(t *testing.T) {
	to := compareSite()
	to.Nodes = to.Nodes[:1]
	s := compare(t, compareSite(), to, CompareOptions{})
	var gone change.Set
	for _, e := range s {
		if e.Host != "node-1" {
			gone = append(gone, e)
		}
	}
	want := []string{"node-2 Node node-2 deleted node-removal", "node-2 EtcdMember node-2 skipped etcd-member-change", "node-3 Node node-3 deleted node-removal"}
	var got []string
	for _, e := range gone {
		got = append(got, e.Host+" "+e.Subject+" "+string(e.Action)+" "+string(e.Disruptive))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("removed nodes:\n%s", dump(gone))
	}
	if !strings.Contains(gone[0].Message, "without a drain") || !strings.Contains(gone[1].Message, "etcdctl member remove") {
		t.Errorf("messages:\n%s", dump(gone))
	}
}

func TestCompareSANChanges(t *testing.T) {
	const apiCert, apiPod = "Certificate /etc/kubernetes/pki/apiserver.crt", "StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml"
	t.Run("a master's ssh-host", func(t *testing.T) {
		to := compareSite()
		to.Nodes[1].SSH.Host = "10.213.1.22"
		s := compare(t, compareSite(), to, CompareOptions{})
		c := find(t, s, "node-2", apiCert)
		if c.Action != change.Configured || c.Message != "re-issued: its specification changes" ||
			!strings.Contains(c.Diff, "-SANs: DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:node-2,IP:10.96.0.1,IP:10.213.1.11,IP:10.213.1.12,IP:127.0.0.1\n") ||
			!strings.Contains(c.Diff, "+SANs: DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:node-2,IP:10.96.0.1,IP:10.213.1.11,IP:10.213.1.22,IP:127.0.0.1\n") {
			t.Fatalf("%s\n%s", c, c.Diff)
		}
		if p := find(t, s, "node-2", apiPod); p.Disruptive != change.StaticPodRestart || !strings.Contains(p.Message, "/etc/kubernetes/pki/apiserver.crt") {
			t.Fatalf("%s [%s]", p, p.Disruptive)
		}
		if e := find(t, s, "node-2", "EtcdMember node-2"); e.Action != change.Created || e.Disruptive != change.EtcdMemberChange {
			t.Fatalf("%s [%s]", e, e.Disruptive)
		}
		for _, e := range s {
			if strings.Contains(e.Diff, "PRIVATE KEY") || strings.Contains(e.Diff, "BEGIN") {
				t.Fatalf("%s shows key or certificate material:\n%s", e, e.Diff)
			}
		}
	})
	t.Run("the ingress IP: certificates only, the API servers restart for them", func(t *testing.T) {
		to := compareSite()
		to.Cluster.Networks.ControlPlane.IngressIP = "10.213.1.100"
		s := compare(t, compareSite(), to, CompareOptions{})
		for _, n := range []string{"node-1", "node-2"} {
			if c := find(t, s, n, apiCert); c.Action != change.Configured || !strings.Contains(c.Diff, "IP:10.213.1.100") {
				t.Fatalf("%s\n%s", c, c.Diff)
			}
			p := find(t, s, n, apiPod)
			if p.Action != change.Configured || p.Disruptive != change.StaticPodRestart || p.Diff != "" ||
				p.Message != "restarts: /etc/kubernetes/pki/apiserver.crt changes" {
				t.Fatalf("%s [%s]\n%s", p, p.Disruptive, p.Diff)
			}
		}
		if c := changes(s); len(c) != 4 {
			t.Fatalf("want a certificate and a restart on each master:\n%s", dump(c))
		}
	})
	t.Run("a SAN that cannot be computed is an error naming node and file", func(t *testing.T) {
		to := compareSite()
		to.Nodes[2].SSH.Host = "node-3.example.invalid"
		_, err := Compare(compareSite(), to, CompareOptions{})
		if err == nil || !strings.Contains(err.Error(), "node node-3") || !strings.Contains(err.Error(), "/var/lib/kubelet/pki/kubelet.crt") ||
			!strings.Contains(err.Error(), "to revision") {
			t.Fatalf("err %v", err)
		}
		if _, err := Compare(to, compareSite(), CompareOptions{}); err == nil || !strings.Contains(err.Error(), "from revision") {
			t.Fatalf("from: err %v", err)
		}
	})
}

func TestCompareSecretFileShowsNoContent(t *testing.T) {
	const path = "/etc/kubernetes/secret.conf"
	withSecret := func(content string) RenderFunc {
		return func(site *schema.Site, node string) ([]resource.Resource, error) {
			rs, err := roles.Render(site, node, roles.Options{})
			return append(rs, &resource.File{Path: path, Mode: 0o600, Secret: true, Content: []byte(content)}), err
		}
	}
	if c := changes(compare(t, compareSite(), compareSite(), CompareOptions{Render: withSecret("password: s3cr3t-before\n")})); len(c) > 0 {
		t.Fatalf("same secret:\n%s", dump(c))
	}
	// The same length, as a rotated key would have: only its checksum tells.
	from2 := compareSite()
	twoRevs := CompareOptions{Render: func(site *schema.Site, node string) ([]resource.Resource, error) {
		if site == from2 {
			return withSecret("password: s3cr3t-before\n")(site, node)
		}
		return withSecret("password: s3cr3t-after!\n")(site, node)
	}}
	s := compare(t, from2, compareSite(), twoRevs)
	c := changes(s)
	if len(c) != 3 {
		t.Fatalf("want the secret configured on each node:\n%s", dump(c))
	}
	for _, e := range c {
		if e.Subject != "File "+path || e.Action != change.Configured || !strings.HasPrefix(e.Diff, "(secret content not shown: sha256 ") {
			t.Fatalf("%s\n%s", e, e.Diff)
		}
		for _, leak := range []string{"s3cr3t", "password"} {
			if strings.Contains(e.Diff, leak) || strings.Contains(e.Message, leak) {
				t.Fatalf("%s leaks %q:\n%s", e, leak, e.Diff)
			}
		}
	}
	// A new node shows its secret by checksum too.
	to := compareSite()
	to.Nodes = append(to.Nodes, schema.Node{Name: "node-4", Roles: []string{"node"}, SSH: schema.SSH{Host: "10.213.1.14", User: "root", Port: 22}})
	if e := find(t, compare(t, from2, to, twoRevs), "node-4", "File "+path); e.Action != change.Created || strings.Contains(e.Diff, "s3cr3t") {
		t.Fatalf("%s\n%s", e, e.Diff)
	}
}

func TestCompareFromNothingCreatesEverything(t *testing.T) {
	s := compare(t, nil, compareSite(), CompareOptions{})
	if len(s) < 100 {
		t.Fatalf("only %d entries", len(s))
	}
	for _, e := range s {
		if e.Action != change.Created {
			t.Fatalf("first install: %s", e)
		}
	}
	if s[0].Subject != "Node node-1" || s[1].Subject != "EtcdMember node-1" || s[1].Message != "first member: starts the etcd cluster at https://10.213.1.11:2380" {
		t.Fatalf("starts with:\n%s", dump(s[:2]))
	}
	if e := find(t, s, "node-2", "EtcdMember node-2"); e.Message != "member add https://10.213.1.12:2380 once the first member runs" {
		t.Fatal(e)
	}
	if e := find(t, s, "node-3", "Kubeconfig /etc/kubernetes/kubelet.conf"); !strings.Contains(e.Diff, "+server: https://127.0.0.1:7443\n") ||
		!strings.Contains(e.Diff, "+subject: CN=system:node:node-3,O=system:nodes\n") {
		t.Fatalf("%s\n%s", e, e.Diff)
	}
	if slices.ContainsFunc(s, func(e change.Entry) bool { return e.Host == "node-3" && strings.HasPrefix(e.Subject, "EtcdMember") }) {
		t.Fatal("a worker has no etcd member")
	}
}

func TestCompareRoleAndTaintChanges(t *testing.T) {
	t.Run("losing master and etcd: a drain, and the leftovers stay", func(t *testing.T) {
		to := compareSite()
		to.Nodes[1].Roles = []string{"node"}
		s := compare(t, compareSite(), to, CompareOptions{})
		n := find(t, s, "node-2", "Node node-2")
		if n.Action != change.Configured || n.Disruptive != change.Drain || !strings.HasPrefix(n.Message, "roles -etcd -master +node;") {
			t.Fatalf("%s [%s]", n, n.Disruptive)
		}
		if e := find(t, s, "node-2", "EtcdMember node-2"); e.Action != change.Skipped || e.Disruptive != change.EtcdMemberChange {
			t.Fatalf("%s [%s]", e, e.Disruptive)
		}
		if e := find(t, s, "node-2", "StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml"); e.Action != change.Skipped ||
			e.Message != "no longer rendered for this node: mk8s leaves it on the host" {
			t.Fatal(e)
		}
	})
	t.Run("gaining a role is no drain", func(t *testing.T) {
		to := compareSite()
		to.Nodes[2].Roles = []string{"infra", "node"}
		if n := find(t, compare(t, compareSite(), to, CompareOptions{}), "node-3", "Node node-3"); n.Disruptive != "" || n.Message != "roles +infra" {
			t.Fatalf("%s [%s]", n, n.Disruptive)
		}
	})
	t.Run("a taint", func(t *testing.T) {
		to := compareSite()
		to.Nodes[2].Taints = []schema.Taint{{Key: "dedicated", Value: "db", Effect: "NoExecute"}}
		n := find(t, compare(t, compareSite(), to, CompareOptions{}), "node-3", "Node node-3")
		if n.Disruptive != change.Drain || !strings.HasPrefix(n.Message, "taints +dedicated=db:NoExecute;") {
			t.Fatalf("%s [%s]", n, n.Disruptive)
		}
	})
}

func TestCompareIsDeterministic(t *testing.T) {
	to := compareSite()
	to.Nodes[1].SSH.Host = "10.213.1.22"
	to.Cluster.Kubernetes.APIServer.FeatureGates = map[string]bool{"Z": true, "A": false, "M": true}
	a, _ := json.Marshal(compare(t, compareSite(), to, CompareOptions{}))
	for range 5 {
		if b, _ := json.Marshal(compare(t, compareSite(), to, CompareOptions{})); string(a) != string(b) {
			t.Fatal("two comparisons of the same revisions differ")
		}
	}
}

// BenchmarkCompare200Nodes compares two revisions of a generated 200-node site whose
// second one moves a master: every node's apiserver-proxy upstream, that master's
// certificates and manifests, and the etcd members' flags change.
func BenchmarkCompare200Nodes(b *testing.B) {
	fsys := sitegen.FS(sitegen.Options{Nodes: 200, VolumesPerNode: 1})
	from, diags := schema.Load(context.Background(), fsys)
	if from == nil {
		b.Fatal(diags.Err())
	}
	to, _ := schema.Load(context.Background(), fsys)
	to.Nodes[1].SSH.Host = "10.213.14.1"
	var s change.Set
	for b.Loop() {
		var err error
		if s, err = Compare(from, to, CompareOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(changes(s)); n < 200 {
		b.Fatalf("only %d changes", n)
	}
}
