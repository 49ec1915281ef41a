package loop

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/e2e/harness/mk8sbin"
	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// mk8sBin is the mk8s binary built from this tree for the tests.
var mk8sBin string

func TestMain(m *testing.M) { os.Exit(mk8sbin.Main(m, &mk8sBin)) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startSandbox starts the loop sandbox and stops it at the end of the test.
func startSandbox(t *testing.T, ctx context.Context, hostCount int) *sandbox.Sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the loop sandbox needs root (network namespaces for the SSH hosts)")
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{Hosts: hostCount, MK8s: mk8sBin})
	if err != nil {
		kubeenv.SkipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("closing the sandbox: %v", err)
		}
	})
	return sb
}

// startDaemon starts `mk8s run` and, on failure, prints its log.
func startDaemon(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, o sandbox.DaemonOptions) *sandbox.Daemon {
	t.Helper()
	d, err := sb.StartDaemon(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("MK8S_DEBUG_DAEMON") != "" {
			t.Logf("daemon %d log:\n%s", d.PID, d.Tail(200))
		}
	})
	return d
}

func waitApplied(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, commit string) *status.Site {
	t.Helper()
	site, err := sb.WaitApplied(ctx, 4*time.Minute, commit)
	if err != nil {
		st, _ := sb.MK8s(ctx, "status")
		t.Fatalf("%v\nmk8s status:\n%s", err, st)
	}
	return site
}

func head(t *testing.T, ctx context.Context, sb *sandbox.Sandbox) string {
	t.Helper()
	h, err := sb.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// commitPush commits (signed or not) and pushes to the bootstrap node's repository.
func commitPush(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, signed bool, msg string) string {
	t.Helper()
	if _, err := sb.Commit(ctx, signed, msg); err != nil {
		t.Fatal(err)
	}
	c, err := sb.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func edit(t *testing.T, sb *sandbox.Sandbox, rel string, f func(string) string) {
	t.Helper()
	s, err := sb.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.WriteFile(rel, f(s)); err != nil {
		t.Fatal(err)
	}
}

func kubectl(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, args ...string) string {
	t.Helper()
	out, err := sb.Kube.RunKubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func promReplicas(t *testing.T, ctx context.Context, sb *sandbox.Sandbox) string {
	t.Helper()
	return kubectl(t, ctx, sb, "-n", "metalk8s-monitoring", "get", "configmap", "metalk8s-prometheus-config", "-o", "jsonpath={.data.config\\.yaml}")
}

func hasReason(s *status.Site, reason string) bool {
	for _, c := range s.Status.Conditions {
		if c.Reason == reason {
			return true
		}
	}
	return false
}

// hostHas fails unless every path exists on the node's host.
func hostHas(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, node string, paths ...string) {
	t.Helper()
	files, err := sb.HostFiles(ctx, sb.Nodes[node])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, ok := files[p]; !ok {
			var have []string
			for f := range files {
				have = append(have, f)
			}
			t.Errorf("%s: %s missing; has %s", node, p, strings.Join(have, ", "))
		}
	}
}
