package loop

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// waitLogLine polls the daemon's log until line occurs more than n times.
func waitLogLine(t *testing.T, ctx context.Context, d *sandbox.Daemon, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(d.Log)
		if strings.Count(string(b), line) > n {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("daemon %d never logged %q: %s", d.PID, line, d.Tail(20))
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronisation
	}
}

func logCount(d *sandbox.Daemon, line string) int {
	b, _ := os.ReadFile(d.Log)
	return strings.Count(string(b), line)
}

// Killing the daemon (SIGKILL, by PID) in the middle of a reconcile — while it
// converges the hosts, and while it applies the objects — and starting it again
// completes the convergence: the revision ends applied, the live state equals the
// desired state (a fresh plan of hosts and objects finds nothing to do), the inventory
// lists every object once, and no object exists twice.
func TestDaemonKilledMidReconcileCompletesOnRestart(t *testing.T) {
	ctx := testCtx(t)
	sb := startSandbox(t, ctx, 5)
	d := startDaemon(t, ctx, sb, sandbox.DaemonOptions{})
	waitApplied(t, ctx, sb, head(t, ctx, sb))

	for i, c := range []struct {
		killAt, node string
		replicas     int
	}{
		{"converging hosts", "worker-2", 2},
		{"applying objects", "worker-3", 3},
	} {
		edit(t, sb, "services/prometheus.yaml", func(s string) string { return sandbox.SetReplicas(s, c.replicas) })
		if _, err := sb.AddNode(c.node); err != nil {
			t.Fatal(err)
		}
		seen := logCount(d, c.killAt)
		commit := commitPush(t, ctx, sb, true, "add "+c.node)
		waitLogLine(t, ctx, d, c.killAt, seen)
		if err := d.Kill(); err != nil {
			t.Fatal(err)
		}
		site, err := sb.Site(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if site.Status.LastAppliedRevision == sandbox.Revision(commit) {
			t.Fatalf("case %d: the reconcile finished before the kill; nothing was interrupted", i)
		}
		t.Logf("killed daemon %d at %q; status: %s", d.PID, c.killAt, sandbox.Describe(site))
		if c.killAt == "converging hosts" {
			// Objects come after hosts: the interrupted reconcile left the new Node
			// object unapplied, which the next daemon must apply.
			if out, err := sb.Kube.RunKubectl(ctx, "get", "node", c.node); err == nil {
				t.Fatalf("node %s exists although the daemon was killed during the host half: %s", c.node, out)
			}
		}

		// A new daemon (a new Lease identity: it waits for the dead one's Lease to expire).
		d = startDaemon(t, ctx, sb, sandbox.DaemonOptions{})
		waitApplied(t, ctx, sb, commit)
		assertConverged(t, ctx, sb, c.replicas)
	}
}

// assertConverged checks that the live state is the desired state of the working
// clone's HEAD, through the real planners, and that nothing is duplicated.
func assertConverged(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, replicas int) {
	t.Helper()
	// Objects: a plan against the live cluster has nothing to do.
	out, err := sb.MK8s(ctx, "plan", "--dir", sb.Work, "--objects-only", "--exit-code")
	if err != nil {
		t.Errorf("objects plan after the restart is not empty (%v):\n%s", err, out)
	}
	// Hosts: a plan over SSH of every node finds every resource unchanged (or skipped:
	// lab hosts have no package manager).
	site, diags := schema.LoadDir(ctx, sb.Work)
	if site == nil {
		t.Fatalf("loading the site: %v", diags)
	}
	hr := &hostsync.Reconciler{PlanOptions: hostsync.PlanOptions{Dial: sb.Lab.Dial, Packages: resource.PackagesProbeOnly}}
	plan, err := hr.Plan(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range plan {
		if e.Action != change.Unchanged && e.Action != change.Skipped {
			t.Errorf("host plan after the restart: %s", e.String())
		}
	}
	if got := promReplicas(t, ctx, sb); !strings.Contains(got, "replicas: "+strconv.Itoa(replicas)) {
		t.Errorf("prometheus config: %q, want replicas: %d", got, replicas)
	}
	// Inventory: every object once, every one of them live.
	st, err := sb.Site(ctx)
	if err != nil {
		t.Fatal(err)
	}
	objs, ids, err := sb.ObjectVersions(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(ids) {
		t.Errorf("inventory lists an object twice: %v", ids)
	}
	for id, rv := range objs {
		if rv == "absent" {
			t.Errorf("inventory lists %s, which does not exist", id)
		}
	}
	// The objects of the site carry the site label; there are exactly as many as the
	// inventory says, per kind checked here.
	nodes := strings.Fields(kubectl(t, ctx, sb, "get", "nodes", "-l", "mk8s.metalk8s.scality.com/site=default", "-o", "jsonpath={.items[*].metadata.name}"))
	var invNodes int
	for _, id := range ids {
		if strings.HasSuffix(id, "__Node") {
			invNodes++
		}
	}
	if len(nodes) != len(sb.Nodes) || invNodes != len(sb.Nodes) {
		t.Errorf("nodes: live %v, inventory %d, site %d", nodes, invNodes, len(sb.Nodes))
	}
	// The status names every node converged at the applied revision.
	for _, n := range st.Status.Nodes {
		if n.Revision != st.Status.LastAppliedRevision || n.FailingResource != "" {
			t.Errorf("node %s: %+v", n.Name, n)
		}
	}
	if len(st.Status.Nodes) != len(sb.Nodes) {
		t.Errorf("status lists %d nodes, the site has %d", len(st.Status.Nodes), len(sb.Nodes))
	}
}
