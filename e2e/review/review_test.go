package review_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// theChange commits, signed, a change of a service override, a new node and the removal
// of a volume: the three kinds of review the acceptance names.
func theChange(t *testing.T, r *siteRepo) {
	t.Helper()
	worker3, err := os.ReadFile(filepath.Join("..", "..", "site-example", "nodes", "worker-3.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := strings.Replace(r.read(t, "services/prometheus.yaml"), "retention_time: 30d", "retention_time: 15d", 1)
	r.remove(t, "volumes/worker-1-loki.yaml")
	r.Commit(r.key, "Prometheus: 15 days; add worker-3; drop worker-1's Loki volume",
		map[string]string{"services/prometheus.yaml": prom, "nodes/worker-3.yaml": string(worker3)})
}

// The offline plan of a change names exactly the objects and host resources it changes,
// with diffs, and flags what is disruptive; --exit-code says 2. The same revision on
// both sides is an empty plan, exit 0.
func TestOfflinePlanOfAChange(t *testing.T) {
	r := newSiteRepo(t)
	theChange(t, r)

	out, stderr, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "--trust-config", r.trustConfig, "-o", "json", "--exit-code")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (changes)\n%s\n%s", code, stderr, out)
	}
	rv := parseReview(t, out)
	if rv.Mode != "offline" || !rv.Descends || rv.WouldBeRefused || rv.Signatures == nil || len(rv.Signatures.Commits) != 1 || rv.Signatures.Commits[0].Refused != nil {
		t.Fatalf("review: mode %s descends %v refused %v signatures %+v", rv.Mode, rv.Descends, rv.WouldBeRefused, rv.Signatures)
	}
	wantObjects := []string{
		"ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config configured",
		"Node/worker-3 created",
		"Volume/worker-1-loki deleted",
	}
	got := changedSubjects(rv.Objects)
	slices.Sort(got)
	if strings.Join(got, "\n") != strings.Join(wantObjects, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantObjects, "\n"))
	}
	for _, e := range rv.Objects {
		switch e.Subject {
		case "ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config":
			if !strings.Contains(e.Diff, "-        retention_time: 30d") || !strings.Contains(e.Diff, "+        retention_time: 15d") {
				t.Errorf("prometheus diff:\n%s", e.Diff)
			}
		case "Volume/worker-1-loki":
			if e.Disruptive != change.VolumeRemoval || !strings.Contains(e.Diff, "--- from/Volume/worker-1-loki") {
				t.Errorf("volume removal: %+v", e)
			}
		}
	}
	// Hosts: worker-3 only, every resource its roles need, created.
	var others []string
	var w3 int
	var sawNode bool
	for _, e := range rv.Hosts {
		if e.Action == change.Unchanged {
			continue
		}
		if e.Host != "worker-3" {
			others = append(others, e.String())
			continue
		}
		w3++
		if e.Action != change.Created {
			t.Errorf("worker-3: %s", e.String())
		}
		sawNode = sawNode || e.Subject == "Node worker-3"
	}
	if len(others) > 0 || !sawNode || w3 < 10 {
		t.Fatalf("host changes: %d on worker-3 (Node entry %v), elsewhere: %v", w3, sawNode, others)
	}
	for _, want := range []string{"File /var/lib/kubelet/config.yaml", "Kubeconfig /etc/kubernetes/kubelet.conf", "Certificate /var/lib/kubelet/pki/kubelet.crt"} {
		if !slices.ContainsFunc(rv.Hosts, func(e change.Entry) bool { return e.Host == "worker-3" && e.Subject == want }) {
			t.Errorf("worker-3 lacks %s", want)
		}
	}

	// The same, for a reader: text and a markdown comment.
	text, _, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main")
	if code != 0 || !strings.Contains(text, "Volume/worker-1-loki deleted") || !strings.Contains(text, "[volume-removal]") ||
		!strings.Contains(text, "signatures: not checked") {
		t.Fatalf("text (exit %d):\n%s", code, text)
	}
	md, _, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "--trust-config", r.trustConfig, "-o", "markdown")
	for _, want := range []string{"### mk8s plan: `main~1` → `main`", "| objects | 1 | 1 | 1 |", "<summary><b>ConfigMap</b>: 1 configured</summary>",
		"<summary><b>host worker-3</b>", "volume-removal", "1 commit(s) checked"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("markdown (exit %d):\n%s", code, md)
	}

	// Nothing between a revision and itself.
	out, _, code = mk8s(t, r.Dir, "plan", "--repo", r.Dir, "--from", "main", "--to", "main", "-o", "json", "--exit-code")
	if rv := parseReview(t, out); code != 0 || len(changedSubjects(rv.Objects))+len(changedSubjects(rv.Hosts)) != 0 {
		t.Fatalf("same revision: exit %d\n%s", code, out)
	}
}

// A commit the reconciler would refuse, unsigned or signed by a key it does not trust,
// is listed with its reason and --exit-code says 3; so is a rewind of the branch, with
// or without the trust.
func TestPlanReportsWhatTheReconcilerWouldRefuse(t *testing.T) {
	r := newSiteRepo(t)
	theChange(t, r)
	stranger := signing.NewSSHKey(t, t.TempDir(), "stranger", "stranger@example.invalid")
	r.Commit(nil, "unsigned tweak", map[string]string{"README.md": "unsigned\n"})
	r.Commit(stranger, "a stranger's tweak", map[string]string{"README.md": "stranger\n"})

	out, _, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~3", "--to", "main", "--trust-config", r.trustConfig, "-o", "json", "--exit-code")
	rv := parseReview(t, out)
	if code != 3 || !rv.WouldBeRefused || rv.Signatures == nil || len(rv.Signatures.Commits) != 3 {
		t.Fatalf("exit %d, review %+v", code, rv)
	}
	reasons := map[string]string{}
	for _, c := range rv.Signatures.Commits {
		if c.Refused != nil {
			reasons[c.Subject] = c.Refused.Reason
		}
	}
	if reasons["unsigned tweak"] != "unsigned" || reasons["a stranger's tweak"] != "untrusted-key" || len(reasons) != 2 {
		t.Fatalf("refusals: %v", reasons)
	}
	md, _, _ := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~3", "--to", "main", "--trust-config", r.trustConfig, "-o", "markdown")
	if !strings.Contains(md, "**The reconciler would refuse this push.**") || !strings.Contains(md, "unsigned") || !strings.Contains(md, "untrusted-key") {
		t.Fatalf("markdown of a refused range:\n%s", md)
	}

	// A rewind: the reconciler refuses it whoever signed it.
	for _, trust := range [][]string{nil, {"--trust-config", r.trustConfig}} {
		args := append([]string{"plan", "--repo", ".", "--from", "main", "--to", "main~2", "-o", "json", "--exit-code"}, trust...)
		out, _, code := mk8s(t, r.Dir, args...)
		rv := parseReview(t, out)
		if code != 3 || rv.Descends || !rv.WouldBeRefused {
			t.Fatalf("rewind %v: exit %d, descends %v\n%s", trust, code, rv.Descends, out)
		}
	}
	text, _, _ := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main", "--to", "main~2")
	if !strings.Contains(text, "does not descend from main") {
		t.Fatalf("text of a rewind:\n%s", text)
	}
}

// An invalid --to prints every error with its file and line, and exits 1.
func TestPlanOfAnInvalidRevision(t *testing.T) {
	r := newSiteRepo(t)
	w1 := r.read(t, "nodes/worker-1.yaml")
	bad := strings.Replace(w1, "metalk8s.scality.com/ssh-port: '22'", "metalk8s.scality.com/ssh-port: 'twenty-two'", 1)
	if bad == w1 {
		t.Fatal("worker-1.yaml has no ssh-port to break")
	}
	prom := strings.Replace(r.read(t, "services/prometheus.yaml"), "replicas: 2", "replicas: many", 1)
	r.Commit(r.key, "two mistakes", map[string]string{"nodes/worker-1.yaml": bad, "services/prometheus.yaml": prom})
	out, stderr, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "--exit-code")
	if code != 1 || !strings.Contains(stderr, "--to: nodes/worker-1.yaml:") || !strings.Contains(stderr, "--to: services/prometheus.yaml:") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	out, _, code = mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "-o", "json")
	if rv := parseReview(t, out); code != 1 || rv.Error == "" {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	// A revision git does not know, and a repository that is not there.
	if _, stderr, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "no-such-branch"); code != 1 || !strings.Contains(stderr, "--from no-such-branch") {
		t.Fatalf("unknown revision: exit %d: %s", code, stderr)
	}
	if _, stderr, code := mk8s(t, r.Dir, "plan", "--repo", filepath.Join(r.Dir, "nope"), "--from", "main"); code != 1 || !strings.Contains(stderr, "no such directory") {
		t.Fatalf("missing repository: exit %d: %s", code, stderr)
	}
}

// A URL is fetched into memory (every branch and tag): the same review as from the
// directory.
func TestPlanOfARepositoryURL(t *testing.T) {
	r := newSiteRepo(t)
	theChange(t, r)
	local, _, code1 := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "-o", "json", "--exit-code")
	remote, stderr, code2 := mk8s(t, t.TempDir(), "plan", "--repo", "file://"+r.Dir, "--from", "main~1", "--to", "main", "-o", "json", "--exit-code")
	if code1 != 2 || code2 != 2 {
		t.Fatalf("exits %d %d: %s", code1, code2, stderr)
	}
	if local != remote {
		t.Fatal("the review of the URL differs from that of the directory")
	}
}

// A change too large for one comment is cut to fit, whole sections at a time, and
// says so.
func TestMarkdownFitsAComment(t *testing.T) {
	r := newSiteRepo(t)
	var big strings.Builder
	for i := range 60 {
		big.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-" + strings.Repeat("x", 3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\n  namespace: default\ndata:\n")
		for j := range 40 {
			big.WriteString("  key" + string(rune('a'+j%26)) + string(rune('a'+j/26)) + ": " + strings.Repeat("v", 60) + "\n")
		}
	}
	r.Commit(r.key, "many big ConfigMaps", map[string]string{"manifests/big.yaml": big.String()})
	md, stderr, code := mk8s(t, r.Dir, "plan", "--repo", ".", "--from", "main~1", "--to", "main", "-o", "markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(md) > 60000 || !strings.Contains(md, "Truncated to fit a comment") || !strings.Contains(md, "| objects | 60 |") {
		t.Fatalf("markdown of %d characters:\n%s", len(md), md[:min(len(md), 3000)])
	}
	if strings.Count(md, "```")%2 != 0 {
		t.Fatal("a code fence is left open")
	}
}

// The CI example of docs/ci runs on a real repository with two commits: a reviewable
// change exits 0 and writes the comment; an unsigned commit on top exits 3.
func TestCIExampleScript(t *testing.T) {
	r := newSiteRepo(t)
	theChange(t, r)
	script, err := filepath.Abs(filepath.Join("..", "..", "docs", "ci", "mk8s-review.sh"))
	if err != nil {
		t.Fatal(err)
	}
	run := func() (string, int) {
		cmd := exec.Command(script, "main~1", "main")
		cmd.Dir = r.Dir
		cmd.Env = append(os.Environ(), "MK8S="+mk8sBin, "MK8S_TRUST_CONFIG="+r.trustConfig)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run()
	comment, err := os.ReadFile(filepath.Join(r.Dir, "mk8s-plan.md"))
	if err != nil || code != 0 || !strings.Contains(out, "has changes to review") || !strings.Contains(string(comment), "Volume/worker-1-loki") {
		t.Fatalf("script: exit %d, %v\n%s\n%s", code, err, out, comment)
	}
	if data, err := os.ReadFile(filepath.Join(r.Dir, "mk8s-plan.json")); err != nil || parseReview(t, string(data)).WouldBeRefused {
		t.Fatalf("mk8s-plan.json: %v", err)
	}
	if err := os.Remove(filepath.Join(r.Dir, "mk8s-plan.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.Dir, "mk8s-plan.json")); err != nil {
		t.Fatal(err)
	}
	r.Commit(nil, "unsigned", map[string]string{"README.md": "x\n"})
	cmd := exec.Command(script, "main~2", "main")
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "MK8S="+mk8sBin, "MK8S_TRUST_CONFIG="+r.trustConfig)
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(b), "would REFUSE") {
		t.Fatalf("script after an unsigned commit: %v\n%s", err, b)
	}
}
