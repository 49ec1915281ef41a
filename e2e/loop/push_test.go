package loop

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// mk8sStatus runs `mk8s status -o json` and returns the Site it prints and whether the
// command exited 0.
func mk8sStatus(t *testing.T, ctx context.Context, sb *sandbox.Sandbox) (*status.Site, bool) {
	t.Helper()
	out, err := sb.MK8s(ctx, "status", "-o", "json")
	var s status.Site
	if jerr := json.Unmarshal([]byte(out), &s); jerr != nil {
		t.Fatalf("mk8s status -o json: %v (exit %v): %s", jerr, err, out)
	}
	return &s, err == nil
}

// A signed push converges hosts and objects; `mk8s status` then reports Ready at that
// revision.
func TestSignedPushConvergesHostsAndObjects(t *testing.T) {
	ctx := testCtx(t)
	sb := startSandbox(t, ctx, 4)
	startDaemon(t, ctx, sb, sandbox.DaemonOptions{})
	first := head(t, ctx, sb)
	waitApplied(t, ctx, sb, first)
	if got := promReplicas(t, ctx, sb); !strings.Contains(got, "replicas: 1") {
		t.Fatalf("first revision: prometheus config %q, want replicas: 1", got)
	}
	if out, err := sb.Kube.RunKubectl(ctx, "get", "node", "worker-2"); err == nil {
		t.Fatalf("worker-2 exists before it was pushed: %s", out)
	}

	// The change: Prometheus 1 → 2 replicas (objects) and a new worker node (hosts and
	// objects), signed, pushed to the bootstrap node's repository. Nothing else triggers
	// a reconcile: the poll interval is an hour.
	edit(t, sb, "services/prometheus.yaml", func(s string) string { return sandbox.SetReplicas(s, 2) })
	if _, err := sb.AddNode("worker-2"); err != nil {
		t.Fatal(err)
	}
	second := commitPush(t, ctx, sb, true, "Prometheus: 2 replicas; add worker-2")
	waitApplied(t, ctx, sb, second)

	s, ok := mk8sStatus(t, ctx, sb)
	if !ok {
		t.Errorf("mk8s status exited non-zero for a Ready site")
	}
	if s.Status.LastAppliedRevision != sandbox.Revision(second) || !s.IsReady() {
		t.Fatalf("mk8s status: %s, want Ready at %s", sandbox.Describe(s), sandbox.Revision(second))
	}
	nodes := map[string]status.NodeState{}
	for _, n := range s.Status.Nodes {
		nodes[n.Name] = n
	}
	for _, name := range []string{"bootstrap", "master-1", "worker-1", "worker-2"} {
		n, ok := nodes[name]
		if !ok || n.Revision != sandbox.Revision(second) || n.FailingResource != "" {
			t.Errorf("status of node %s: %+v, want converged at %s", name, n, sandbox.Revision(second))
		}
	}
	if got := promReplicas(t, ctx, sb); !strings.Contains(got, "replicas: 2") {
		t.Errorf("prometheus config after the push: %q, want replicas: 2", got)
	}
	kubectl(t, ctx, sb, "get", "node", "worker-2")
	// The new host got the files of its role, the bootstrap node its control plane.
	hostHas(t, ctx, sb, "worker-2", "/var/lib/kubelet/config.yaml", "/etc/kubernetes/manifests/apiserver-proxy.yaml",
		"/etc/containerd/config.toml")
	hostHas(t, ctx, sb, "bootstrap", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/manifests/etcd.yaml")
}

// snapshot is what must not move when a revision is refused.
type snapshot struct {
	applied string
	objects map[string]string
	hosts   map[string]string
}

func takeSnapshot(t *testing.T, ctx context.Context, sb *sandbox.Sandbox) snapshot {
	t.Helper()
	site, err := sb.Site(ctx)
	if err != nil || site == nil {
		t.Fatalf("reading the Site: %v", err)
	}
	objs, _, err := sb.ObjectVersions(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	files, err := sb.AllHostFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 || len(files) == 0 {
		t.Fatalf("empty snapshot: %d objects, %d host files", len(objs), len(files))
	}
	return snapshot{applied: site.Status.LastAppliedRevision, objects: objs, hosts: files}
}

func (a snapshot) assertSame(t *testing.T, b snapshot) {
	t.Helper()
	if a.applied != b.applied {
		t.Errorf("last applied revision moved: %s -> %s", a.applied, b.applied)
	}
	if d := sandbox.Diff(a.objects, b.objects); len(d) > 0 {
		t.Errorf("managed objects changed: %s", strings.Join(d, "; "))
	}
	if d := sandbox.Diff(a.hosts, b.hosts); len(d) > 0 {
		t.Errorf("host files changed: %s", strings.Join(d, "; "))
	}
}

// An unsigned push and a signed but invalid push are refused: the status names the
// reason, the previous revision stays applied, and nothing changed on the hosts
// (checksums, modes, mtimes, inodes of every file under mk8s' directories) or in the
// API (resourceVersions of every managed object).
func TestRefusedPushChangesNothing(t *testing.T) {
	ctx := testCtx(t)
	sb := startSandbox(t, ctx, 3)
	startDaemon(t, ctx, sb, sandbox.DaemonOptions{})
	good := head(t, ctx, sb)
	waitApplied(t, ctx, sb, good)
	before := takeSnapshot(t, ctx, sb)

	// Both refused revisions would change hosts and objects if they were applied.
	change := func() {
		edit(t, sb, "services/prometheus.yaml", func(s string) string { return sandbox.SetReplicas(s, 3) })
		edit(t, sb, "cluster.yaml", func(s string) string { return strings.Replace(s, "mtu: 1460", "mtu: 1400", 1) })
	}
	refused := func(name, reason string, signed bool, mutate func(), wantMsg string) {
		t.Run(name, func(t *testing.T) {
			change()
			mutate()
			c := commitPush(t, ctx, sb, signed, name)
			site, err := sb.WaitSite(ctx, 2*time.Minute, name+" refused", func(s *status.Site) bool {
				return s.Status.LastAttemptedRevision == sandbox.Revision(c) && hasReason(s, reason)
			})
			if err != nil {
				t.Fatal(err)
			}
			if site.IsReady() {
				t.Errorf("Site is Ready after a refused revision: %s", sandbox.Describe(site))
			}
			ready := site.Status.Condition(status.ConditionReady)
			if ready == nil || !strings.Contains(ready.Message, wantMsg) {
				t.Errorf("Ready condition %+v, want a message containing %q", ready, wantMsg)
			}
			s, ok := mk8sStatus(t, ctx, sb)
			if ok {
				t.Errorf("mk8s status exited 0 for a refused revision")
			}
			if s.Status.LastAppliedRevision != sandbox.Revision(good) {
				t.Errorf("mk8s status: applied %s, want %s", s.Status.LastAppliedRevision, sandbox.Revision(good))
			}
			before.assertSame(t, takeSnapshot(t, ctx, sb))
			if got := promReplicas(t, ctx, sb); !strings.Contains(got, "replicas: 1") {
				t.Errorf("prometheus config: %q, want replicas: 1", got)
			}
			// Back to the applied revision for the next case (a force push of the
			// operator's clone; the applied revision is its ancestor).
			if _, err := sb.Git(ctx, "reset", "-q", "--hard", good); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.Git(ctx, "push", "-q", "--force", sb.Bare, "main"); err != nil {
				t.Fatal(err)
			}
		})
	}
	refused("unsigned", status.ReasonVerificationFailed, false, func() {}, "unsigned")
	refused("invalid", status.ReasonValidationFailed, true, func() {
		edit(t, sb, "nodes/worker-1.yaml", func(s string) string {
			return s + "spec:\n  taints:\n    - key: example.com/dedicated\n      effect: NoSchedul\n"
		})
	}, "nodes/worker-1.yaml:")
}
