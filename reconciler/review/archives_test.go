package review_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
	"github.com/metalk8s/mk8s/internal/solutiontest"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/review"
	"github.com/metalk8s/mk8s/reconciler/solution"
)

// upgradeRepo is site-example importing both versions of the example Solution, 1.0.0
// active, committed twice with the real git: the staging environment on 1.0.0, then
// upgraded to 2.0.0.
func upgradeRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := gitIn(t, dir)
	write := func(rel, text string) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	write("solutions.yaml", "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n"+
		"  - "+solutiontest.Path("1.0.0")+"\n  - "+solutiontest.Path("2.0.0")+"\nactive:\n  example-solution: 1.0.0\n")
	staging := func(v string) string {
		return "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n" +
			"spec:\n  namespaces:\n    - name: example-staging\n      solutions:\n        example-solution: " + v + "\n"
	}
	write("environments/staging.yaml", staging("1.0.0"))
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "staging runs example-solution 1.0.0")
	write("environments/staging.yaml", staging("2.0.0"))
	git("commit", "-q", "-am", "staging: example-solution 2.0.0")
	return dir
}

func entries(set change.Set, action change.Action) []string {
	var out []string
	for _, e := range set {
		if e.Action == action {
			out = append(out, e.Subject)
		}
	}
	slices.Sort(out)
	return out
}

// With the archives, the review shows what the upgrade of an environment does to its
// operator.
func TestReviewOfASolutionUpgrade(t *testing.T) {
	dir := upgradeRepo(t)
	open := solutiontest.Open(solutiontest.Example("1.0.0"), solutiontest.Example("2.0.0"))
	res, err := review.Plan(context.Background(), review.Options{Repo: dir, From: "main~1", To: "main", OpenArchive: open})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entries(res.Objects, change.Created), []string{
		"ClusterRole/example-solution-2.0.0:example-solution-operator",
		"ClusterRoleBinding/example-solution-2.0.0:example-solution-operator:example-staging",
	}; !slices.Equal(got, want) {
		t.Errorf("created %q, want %q", got, want)
	}
	if got, want := entries(res.Objects, change.Deleted), []string{
		"ClusterRole/example-solution-1.0.0:example-solution-operator",
		"ClusterRoleBinding/example-solution-1.0.0:example-solution-operator:example-staging",
	}; !slices.Equal(got, want) {
		t.Errorf("deleted %q, want %q", got, want)
	}
	configured := entries(res.Objects, change.Configured)
	for _, want := range []string{"ConfigMap/example-staging/metalk8s-environment", "Deployment/example-staging/example-solution-operator"} {
		if !slices.Contains(configured, want) {
			t.Errorf("%s is not configured: %q", want, configured)
		}
	}
	for _, e := range res.Objects {
		if e.Subject == "Deployment/example-staging/example-solution-operator" &&
			!strings.Contains(e.Diff, "+        image: metalk8s-registry-from-config.invalid/example-solution-2.0.0/example-solution-operator:2.0.0") {
			t.Errorf("Deployment diff does not show the new image:\n%s", e.Diff)
		}
		if e.Action == change.Skipped {
			t.Errorf("skipped with every archive readable: %v", e)
		}
	}
}

// Without the archives (a CI runner), nothing fails: the objects of Solutions are not
// compared and one skipped entry names each archive that could not be read.
func TestReviewWithoutTheArchives(t *testing.T) {
	dir := upgradeRepo(t)
	onlyV1 := func(ctx context.Context, path string) (*solution.Archive, error) {
		if path == solutiontest.Path("1.0.0") {
			return solutiontest.Example("1.0.0"), nil
		}
		return nil, errors.New("open " + path + ": no such file or directory")
	}
	for _, tc := range []struct {
		name        string
		open        solution.OpenFunc
		wantSkipped []string
		why         string
	}{
		{"no archive reader", nil, []string{"SolutionArchive//srv/scality/solutions/example-solution-1.0.0.iso",
			"SolutionArchive//srv/scality/solutions/example-solution-2.0.0.iso"}, "no archive reader in this review"},
		{"one archive missing", onlyV1, []string{"SolutionArchive//srv/scality/solutions/example-solution-2.0.0.iso"},
			"open /srv/scality/solutions/example-solution-2.0.0.iso: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := review.Plan(context.Background(), review.Options{Repo: dir, From: "main~1", To: "main", OpenArchive: tc.open})
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(res.Objects, change.Skipped); !slices.Equal(got, tc.wantSkipped) {
				t.Errorf("skipped %q, want %q", got, tc.wantSkipped)
			}
			for _, e := range res.Objects {
				if e.Action == change.Skipped && !strings.Contains(e.Message, tc.why) {
					t.Errorf("%s: message %q does not say why (%s)", e.Subject, e.Message, tc.why)
				}
			}
			// Only what needs no archive is compared: the environment's ConfigMap.
			if got := append(entries(res.Objects, change.Configured), entries(res.Objects, change.Created)...); !slices.Equal(got,
				[]string{"ConfigMap/example-staging/metalk8s-environment"}) {
				t.Errorf("changes without the archives: %q", got)
			}
			if d := entries(res.Objects, change.Deleted); len(d) != 0 {
				t.Errorf("deleted without the archives: %q", d)
			}
		})
	}
}

// An archive this machine has but that solution.Open refuses (here a role.yaml asking
// to escalate) is not "cannot be read here": the reconciler would refuse the revision
// importing it, and so does the review, naming solutions.yaml, the line, the archive
// and the rule.
func TestReviewOfARefusedArchive(t *testing.T) {
	spec := solutioniso.Example("1.0.0")
	spec.RoleYAML = solutioniso.ExampleRoleYAML(spec.Name) + "---\n" + solutioniso.ClusterRoleYAML("greedy",
		"- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterroles]\n  verbs: [escalate]\n")
	iso := solutioniso.Build(t, t.TempDir(), spec)
	dir := t.TempDir()
	git := gitIn(t, dir)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "no solution")
	if err := os.WriteFile(filepath.Join(dir, "solutions.yaml"), []byte("apiVersion: solutions.metalk8s.scality.com/v1alpha1\n"+
		"kind: SolutionsConfiguration\narchives:\n  - "+iso+"\nactive:\n  example-solution: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-q", "-am", "import example-solution 1.0.0")

	res, err := review.Plan(context.Background(), review.Options{Repo: dir, From: "main~1", To: "main", OpenArchive: solution.Open})
	if !errors.Is(err, review.ErrInvalid) {
		t.Fatalf("review: %v, want the revision refused\n%v", err, res.Objects)
	}
	want := "solutions.yaml:4: archives[0]: " + iso + ": operator/deploy/role.yaml:"
	if d := res.Diagnostics.To; len(d) != 1 || !strings.HasPrefix(d[0].String(), want) ||
		!strings.Contains(d[0].String(), `ClusterRole greedy: rules[0].verbs: "escalate" is not allowed`) {
		t.Errorf("diagnostics of --to %q, want one starting %q", d, want)
	}
	if len(res.Diagnostics.From) != 0 {
		t.Errorf("diagnostics of --from %q", res.Diagnostics.From)
	}
}

// gitIn returns a runner of the real git in dir, with a clean configuration and a
// fixed identity; a failure fails tb.
func gitIn(tb testing.TB, dir string) func(args ...string) {
	return func(args ...string) {
		tb.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "PATH=" + os.Getenv("PATH")}
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
