package hostsynce2e_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// The files each role gets, with their modes (host-convergence §1.3), written down here
// independently of the renderer.
var (
	everyNode = map[string]string{
		"/etc/yum.repos.d/metalk8s-epel.repo":                       "644",
		"/etc/yum.repos.d/metalk8s-kubernetes.repo":                 "644",
		"/etc/yum.repos.d/metalk8s-scality.repo":                    "644",
		"/etc/containerd/config.toml":                               "644",
		"/etc/systemd/system/containerd.service.d/50-metalk8s.conf": "644",
		"/etc/crictl.yaml":                                          "644",
		"/var/lib/kubelet/config.yaml":                              "644",
		"/var/lib/kubelet/kubeadm-flags.env":                        "644",
		"/etc/systemd/system/kubelet.service.d/09-standalone.conf":  "644",
		"/etc/systemd/system/kubelet.service.d/10-metalk8s.conf":    "644",
		"/etc/sysctl.d/60-metalk8s.conf":                            "644",
		"/etc/modules-load.d/metalk8s.conf":                         "644",
		"/var/lib/metalk8s/apiserver-proxy.conf":                    "444",
		"/etc/kubernetes/manifests/apiserver-proxy.yaml":            "600",
		"/var/lib/metalk8s/mk8s-applied.sha256":                     "600", // mk8s' record of what it wrote
		// PKI: certificates 0644, keys and kubeconfigs 0600 (host-convergence §1.3).
		"/etc/kubernetes/pki/ca.crt":                 "644",
		"/var/lib/kubelet/pki/kubelet.crt":           "644",
		"/var/lib/kubelet/pki/kubelet.key":           "600",
		"/etc/kubernetes/kubelet.conf":               "600",
		"/etc/kubernetes/pki/kubeconfig/kubelet.key": "600",
	}
	etcdFiles = map[string]string{
		"/etc/kubernetes/manifests/etcd.yaml":             "600",
		"/etc/kubernetes/pki/etcd/ca.crt":                 "644",
		"/etc/kubernetes/pki/etcd/server.crt":             "644",
		"/etc/kubernetes/pki/etcd/server.key":             "600",
		"/etc/kubernetes/pki/etcd/peer.crt":               "644",
		"/etc/kubernetes/pki/etcd/peer.key":               "600",
		"/etc/kubernetes/pki/etcd/healthcheck-client.crt": "644",
		"/etc/kubernetes/pki/etcd/healthcheck-client.key": "600",
	}
	masterFiles = map[string]string{
		"/etc/kubernetes/manifests/kube-apiserver.yaml":          "600",
		"/etc/kubernetes/manifests/kube-controller-manager.yaml": "600",
		"/etc/kubernetes/manifests/kube-scheduler.yaml":          "600",
		"/etc/kubernetes/pki/etcd/ca.crt":                        "644",
		"/etc/kubernetes/pki/front-proxy-ca.crt":                 "644",
		"/etc/kubernetes/pki/sa.pub":                             "644",
		"/etc/kubernetes/pki/sa.key":                             "600",
		"/etc/kubernetes/encryption.conf":                        "600",
		"/etc/kubernetes/pki/apiserver.crt":                      "644",
		"/etc/kubernetes/pki/apiserver.key":                      "600",
		"/etc/kubernetes/pki/apiserver-etcd-client.crt":          "644",
		"/etc/kubernetes/pki/apiserver-etcd-client.key":          "600",
		"/etc/kubernetes/pki/apiserver-kubelet-client.crt":       "644",
		"/etc/kubernetes/pki/apiserver-kubelet-client.key":       "600",
		"/etc/kubernetes/pki/front-proxy-client.crt":             "644",
		"/etc/kubernetes/pki/front-proxy-client.key":             "600",
		"/etc/kubernetes/admin.conf":                             "600",
		"/etc/kubernetes/super-admin.conf":                       "600",
		"/etc/kubernetes/controller-manager.conf":                "600",
		"/etc/kubernetes/scheduler.conf":                         "600",
		"/etc/kubernetes/pki/kubeconfig/admin.key":               "600",
		"/etc/kubernetes/pki/kubeconfig/super-admin.key":         "600",
		"/etc/kubernetes/pki/kubeconfig/controller-manager.key":  "600",
		"/etc/kubernetes/pki/kubeconfig/scheduler.key":           "600",
	}
	bootstrapFiles = map[string]string{
		"/var/lib/metalk8s/repositories/conf.d/default.conf": "644",
		"/etc/kubernetes/manifests/repositories.yaml":        "600",
		// The CA minion: every CA, the service-account pair, the encryption key.
		"/etc/kubernetes/pki/ca.key":             "600",
		"/etc/kubernetes/pki/etcd/ca.crt":        "644",
		"/etc/kubernetes/pki/etcd/ca.key":        "600",
		"/etc/kubernetes/pki/front-proxy-ca.crt": "644",
		"/etc/kubernetes/pki/front-proxy-ca.key": "600",
		"/etc/kubernetes/pki/sa.pub":             "644",
		"/etc/kubernetes/pki/sa.key":             "600",
		"/etc/metalk8s/pki/nginx-ingress/ca.crt": "644",
		"/etc/metalk8s/pki/nginx-ingress/ca.key": "600",
		"/etc/metalk8s/pki/dex/ca.crt":           "644",
		"/etc/metalk8s/pki/dex/ca.key":           "600",
		"/etc/metalk8s/pki/backup-server/ca.crt": "644",
		"/etc/metalk8s/pki/backup-server/ca.key": "600",
		"/etc/metalk8s/crypt/apiserver.key":      "600",
	}
)

func expectedFiles(roles []string) map[string]string {
	m := map[string]string{}
	add := func(f map[string]string) {
		for k, v := range f {
			m[k] = v
		}
	}
	add(everyNode)
	if slices.Contains(roles, schema.RoleEtcd) {
		add(etcdFiles)
	}
	if slices.Contains(roles, schema.RoleMaster) {
		add(masterFiles)
	}
	if slices.Contains(roles, schema.RoleBootstrap) {
		add(bootstrapFiles)
	}
	return m
}

// siteExample loads the repository's site-example and points three of its nodes, with
// different roles, at the lab hosts (SSH coordinates and pinned keys overridden).
func siteExample(t *testing.T, l *hosts.Lab) (*schema.Site, []string) {
	t.Helper()
	site, diags := schema.LoadDir(context.Background(), "../../site-example")
	if site == nil {
		t.Fatalf("loading site-example: %v", diags)
	}
	// site-example imports a Solution archive that the lab hosts do not have; the host
	// half of imports has its own tests (solutions_test.go).
	if site.Solutions != nil {
		site.Solutions.Archives = nil
	}
	picks := []string{"bootstrap", "master-1", "worker-1"}
	for i, name := range picks {
		n, ok := site.Node(name)
		if !ok {
			t.Fatalf("site-example has no node %s", name)
		}
		h := l.Hosts[i]
		n.SSH = schema.SSH{Host: h.IP, Port: 22, User: "root", KeyPath: l.KeyPath, HostKey: h.HostKey}
	}
	return site, picks
}

func threeNodeSite(l *hosts.Lab) *schema.Site {
	return labSite(l,
		nodeOf(l, "node-1", l.Hosts[0], schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster),
		nodeOf(l, "node-2", l.Hosts[1], schema.RoleEtcd, schema.RoleMaster),
		nodeOf(l, "node-3", l.Hosts[2], schema.RoleNode, schema.RoleInfra),
	)
}

// Converge 3 hosts with different roles: each gets exactly the files of its roles with
// the right modes; a second run reports every resource unchanged and touches no file.
func TestConvergeThreeHostsByRole(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	site, picks := siteExample(t, l)
	po := planOpts(l)
	po.Nodes = picks
	before := map[string]map[string]bool{}
	for _, h := range l.Hosts {
		before[h.Name] = upperFiles(t, h)
	}
	t0 := time.Now()
	_, first, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
	t.Logf("first converge: %s", time.Since(t0))
	if err != nil {
		t.Fatalf("first run: %v\n%v", err, first)
	}
	stats := map[string]map[string]string{}
	roleSets := map[string]bool{}
	for i, h := range l.Hosts {
		n, _ := site.Node(picks[i])
		roleSets[strings.Join(n.Roles, ",")] = true
		want := expectedFiles(n.Roles)
		got := newFiles(before[h.Name], upperFiles(t, h))
		var wantPaths []string
		for p := range want {
			wantPaths = append(wantPaths, p)
		}
		slices.Sort(wantPaths)
		if !slices.Equal(got, wantPaths) {
			t.Errorf("%s (%v) files:\n got %v\nwant %v", n.Name, n.Roles, got, wantPaths)
		}
		stats[h.Name] = statAll(t, ctx, l, h, append(wantPaths, "/var/lib/kubelet", "/etc/kubernetes/manifests"))
		for p, mode := range want {
			if st := stats[h.Name][p]; !strings.HasPrefix(st, mode+"|root:root|") {
				t.Errorf("%s %s: %s, want mode %s root:root", n.Name, p, st, mode)
			}
		}
		if st := stats[h.Name]["/var/lib/kubelet"]; !strings.HasPrefix(st, "750|root:root") {
			t.Errorf("%s /var/lib/kubelet: %s", n.Name, st)
		}
	}
	for _, e := range first {
		if e.Action == change.Failed {
			t.Errorf("first run failure: %v", e)
		}
	}
	// Idempotence: a second run changes nothing, and rewrites nothing.
	t0 = time.Now()
	p2, second, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
	t.Logf("second converge: %s", time.Since(t0))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if p2.Changed() {
		t.Errorf("second plan has changes: %v", changed(p2.Entries()))
	}
	for _, e := range second {
		switch {
		case e.Action == change.Unchanged:
		case e.Action == change.Skipped && (strings.HasPrefix(e.Subject, "SystemdUnit ") || strings.HasPrefix(e.Subject, "Package ") ||
			strings.HasPrefix(e.Subject, "KernelModule ") || strings.HasPrefix(e.Subject, "Sysctl net.bridge.")):
			// Namespace hosts have no systemd, no packages and no loadable modules:
			// reported as skipped with the reason, never as a change.
			if e.Message == "" {
				t.Errorf("skipped without a reason: %v", e)
			}
		default:
			t.Errorf("second run: %v", e)
		}
	}
	if len(second) < 3*20 {
		t.Errorf("second run reports only %d resources", len(second))
	}
	if len(roleSets) != 3 {
		t.Fatalf("the three nodes should have different roles: %v", roleSets)
	}
	for i, h := range l.Hosts {
		n, _ := site.Node(picks[i])
		var paths []string
		for p := range expectedFiles(n.Roles) {
			paths = append(paths, p)
		}
		after := statAll(t, ctx, l, h, append(paths, "/var/lib/kubelet", "/etc/kubernetes/manifests"))
		for p, st := range stats[h.Name] {
			if after[p] != st {
				t.Errorf("%s %s touched by a no-op run: %s -> %s", h.Name, p, st, after[p])
			}
		}
	}
}

// A managed file edited by hand is restored and reported as drift; unmanaged files
// beside it are untouched.
func TestDriftIsRestoredAndUnmanagedFilesUntouched(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster))
	if _, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	orig, err := l.Run(ctx, h, "cat /etc/containerd/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, h, `sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' /etc/containerd/config.toml
echo 'operator notes' > /etc/containerd/notes.txt
touch -d '2020-01-01' /etc/containerd/notes.txt`); err != nil {
		t.Fatal(err)
	}
	unmanagedBefore := statAll(t, ctx, l, h, []string{"/etc/containerd/notes.txt"})
	p, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	planned := changed(p.Entries())
	if len(planned) != 1 || planned[0].Subject != "File /etc/containerd/config.toml" || planned[0].Action != change.Configured ||
		!strings.Contains(planned[0].Message, "drift") ||
		!strings.Contains(planned[0].Diff, "-  SystemdCgroup = false") || !strings.Contains(planned[0].Diff, "+  SystemdCgroup = true") {
		t.Fatalf("plan after a hand edit: %#v", planned)
	}
	if got := changed(res); len(got) != 1 || got[0].Subject != planned[0].Subject || !strings.Contains(got[0].Message, "drift") {
		t.Fatalf("apply: %v", got)
	}
	now, err := l.Run(ctx, h, "cat /etc/containerd/config.toml; cat /etc/containerd/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	if now != orig+"operator notes\n" {
		t.Fatalf("not restored, or notes changed:\n%s", now)
	}
	if after := statAll(t, ctx, l, h, []string{"/etc/containerd/notes.txt"}); after["/etc/containerd/notes.txt"] != unmanagedBefore["/etc/containerd/notes.txt"] {
		t.Fatalf("unmanaged file touched: %v -> %v", unmanagedBefore, after)
	}
}

// A host that is down: the others converge, it is reported, backed off, and a later
// reconcile converges it once it is back.
func TestHostDownOthersConvergeThenItRecovers(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	site := threeNodeSite(l)
	down := l.Hosts[2]
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var bo hostsync.Backoff
	po := planOpts(l)
	po.Backoff, po.Now = &bo, now
	ao := hostsync.ApplyOptions{Backoff: &bo, Now: now}
	_, res, err := converge(t, ctx, site, po, ao)
	var fh *hostsync.FailedHostsError
	if !errors.As(err, &fh) || !slices.Equal(fh.Nodes, []string{"node-3"}) {
		t.Fatalf("want node-3 failed, got %v", err)
	}
	var n3 []change.Entry
	ok := map[string]int{}
	for _, e := range res {
		if e.Host == "node-3" {
			n3 = append(n3, e)
		} else if e.Action == change.Created {
			ok[e.Host]++
		}
	}
	if len(n3) != 1 || n3[0].Action != change.Failed || !strings.Contains(n3[0].Message, "node-3") {
		t.Fatalf("node-3 entries: %v", n3)
	}
	if ok["node-1"] == 0 || ok["node-2"] == 0 {
		t.Fatalf("the others did not converge: %v", ok)
	}
	if b := bo.Hosts["node-3"]; b.Failures != 1 || !b.NextAttempt.After(clock) {
		t.Fatalf("backoff: %+v", bo)
	}
	if err := down.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Still in backoff: not attempted, reported as such.
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if e := p.Hosts[2].Entries(); len(e) != 1 || e[0].Action != change.Skipped || !strings.Contains(e[0].Message, "retrying after") {
		t.Fatalf("node-3 in backoff: %v", e)
	}
	clock = clock.Add(hostsync.BackoffBase + time.Second)
	_, res, err = converge(t, ctx, site, po, ao)
	if err != nil {
		t.Fatalf("after recovery: %v: %v", err, res)
	}
	for _, e := range changed(res) {
		if e.Host != "node-3" && e.Action != change.Skipped {
			t.Errorf("converged host changed again: %v", e)
		}
	}
	if _, err := l.Run(ctx, down, "test -f /etc/kubernetes/manifests/apiserver-proxy.yaml"); err != nil {
		t.Fatalf("node-3 not converged: %v", err)
	}
	if len(bo.Hosts) != 0 {
		t.Fatalf("backoff not cleared: %+v", bo)
	}
}
