package review_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// Live, the plan is that of --to against the cluster (the cluster runs --from: the
// three objects of the change), and the drift lists what was edited in the cluster
// outside the repository.
func TestLivePlanAndDrift(t *testing.T) {
	env := kubeenv.StartT(t)
	r := newSiteRepo(t)
	theChange(t, r)

	// The cluster runs --from, applied by mk8s from an export of that revision.
	applied := t.TempDir()
	archive := exec.Command("sh", "-c", "git archive main~1 | tar -x -C "+applied)
	archive.Dir = r.Dir
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	if out, stderr, code := mk8s(t, r.Dir, "reconcile", "--once", "--dir", applied, "--objects-only", "--kubeconfig", env.Kubeconfig); code != 0 {
		t.Fatalf("reconcile of --from: exit %d\n%s\n%s", code, out, stderr)
	}

	plan := func() review {
		t.Helper()
		out, stderr, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "--kubeconfig", env.Kubeconfig, "-o", "json", "--exit-code")
		if code != 2 {
			t.Fatalf("live plan: exit %d\n%s\n%s", code, stderr, out)
		}
		return parseReview(t, out)
	}
	rv := plan()
	got := changedSubjects(rv.Objects)
	slices.Sort(got)
	want := []string{"ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config configured", "Node/worker-3 created", "Volume/worker-1-loki deleted"}
	if rv.Mode != "live" || strings.Join(got, "\n") != strings.Join(want, "\n") || len(rv.Drift) != 0 {
		t.Fatalf("live plan: mode %s\nobjects:\n%s\ndrift: %v", rv.Mode, strings.Join(got, "\n"), rv.Drift)
	}
	if rv.Error != "" || len(changedSubjects(rv.Hosts)) == 0 {
		t.Fatalf("live plan without --probe-hosts compares the hosts offline: %s %v", rv.Error, rv.Hosts)
	}

	// Someone edits a managed ConfigMap by hand.
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cm, err := cs.CoreV1().ConfigMaps("metalk8s-logging").Get(ctx, "metalk8s-loki-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range cm.Data {
		cm.Data[k] += "\n# edited by hand\n"
	}
	if _, err := cs.CoreV1().ConfigMaps("metalk8s-logging").Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	rv = plan()
	if d := changedSubjects(rv.Drift); len(d) != 1 || d[0] != "ConfigMap/metalk8s-logging/metalk8s-loki-config configured" {
		t.Fatalf("drift after a manual edit: %v", d)
	}
	text, _, _ := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "--kubeconfig", env.Kubeconfig)
	if !strings.Contains(text, "Drift of the cluster from --from main~1: 1") {
		t.Fatalf("text:\n%s", text)
	}
}
