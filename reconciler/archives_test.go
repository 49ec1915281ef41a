package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/internal/solutiontest"
	"github.com/metalk8s/mk8s/reconciler/solution"
)

// solutionSite is site-example importing both versions of the example Solution, 1.0.0
// active and run by the staging environment.
func solutionSite(t *testing.T, stagingVersion string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"solutions.yaml": "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n" +
			"  - " + solutiontest.Path("1.0.0") + "\n  - " + solutiontest.Path("2.0.0") + "\nactive:\n  example-solution: 1.0.0\n",
		"environments/staging.yaml": "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n" +
			"spec:\n  namespaces:\n    - name: example-staging\n      solutions:\n        example-solution: " + stagingVersion + "\n",
	}
	for rel, text := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// countingOpen counts the archives opened.
func countingOpen(n *atomic.Int32, open solution.OpenFunc) solution.OpenFunc {
	return func(ctx context.Context, path string) (*solution.Archive, error) {
		n.Add(1)
		return open(ctx, path)
	}
}

// The archives are opened before the host half runs, each once.
func TestArchivesAreOpenedFirst(t *testing.T) {
	var opened atomic.Int32
	hosts := &fakeHosts{}
	open := countingOpen(&opened, solutiontest.Open(solutiontest.Example("1.0.0"), solutiontest.Example("2.0.0")))
	_, err := Reconcile(context.Background(), Options{Dir: solutionSite(t, "1.0.0"), Hosts: hosts, HostsOnly: true, OpenArchive: open})
	if err != nil {
		t.Fatal(err)
	}
	if opened.Load() != 2 || hosts.applied != 1 {
		t.Errorf("opened %d archives, hosts applied %d times; want 2 and 1", opened.Load(), hosts.applied)
	}
}

// An archive that cannot be opened refuses the revision with a diagnostic naming
// solutions.yaml, its line, the field and the path, before any host or object.
func TestArchiveThatCannotBeOpenedRefusesTheRevision(t *testing.T) {
	damaged := func(ctx context.Context, path string) (*solution.Archive, error) {
		if path == solutiontest.Path("1.0.0") {
			return solutiontest.Example("1.0.0"), nil
		}
		return nil, errors.New("solution archive " + path + ": manifest.yaml: not found in the image")
	}
	for _, tc := range []struct {
		name string
		open solution.OpenFunc
		want string
	}{
		{"missing", solutiontest.Open(solutiontest.Example("1.0.0")),
			"solutions.yaml:5: archives[1]: /srv/scality/solutions/example-solution-2.0.0.iso: file does not exist; a valid Solution ISO the reconciler can read on the bootstrap node"},
		{"damaged", damaged,
			"solutions.yaml:5: archives[1]: /srv/scality/solutions/example-solution-2.0.0.iso: manifest.yaml: not found in the image; a valid Solution ISO the reconciler can read on the bootstrap node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, hostsOnly := range []bool{true, false} {
				hosts := &fakeHosts{}
				res, err := Reconcile(context.Background(), Options{Dir: solutionSite(t, "1.0.0"), Hosts: hosts, HostsOnly: hostsOnly,
					OpenArchive: tc.open, Kube: &rest.Config{Host: "https://127.0.0.1:1"}})
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was changed") {
					t.Fatalf("hosts-only %v: want an error quoting %q, got %v", hostsOnly, tc.want, err)
				}
				if len(res.Diagnostics) != 1 || res.Diagnostics[0].String() != tc.want {
					t.Errorf("diagnostics %q, want %q", res.Diagnostics, tc.want)
				}
				if hosts.applied != 0 {
					t.Errorf("hosts-only %v: the hosts were converged", hostsOnly)
				}
			}
			hosts := &fakeHosts{}
			if _, err := Plan(context.Background(), Options{Dir: solutionSite(t, "1.0.0"), Hosts: hosts, HostsOnly: true, OpenArchive: tc.open}); err == nil || hosts.planned != 0 {
				t.Errorf("plan: %v, hosts planned %d", err, hosts.planned)
			}
		})
	}
}

// A site that imports archives needs a way to open them.
func TestArchivesWithoutOpener(t *testing.T) {
	hosts := &fakeHosts{}
	_, err := Reconcile(context.Background(), Options{Dir: solutionSite(t, "1.0.0"), Hosts: hosts, HostsOnly: true})
	if err == nil || !strings.Contains(err.Error(), "solutions.yaml:3: archives: the site imports 2 Solution archive(s) and this reconciler was given no way to open them") {
		t.Errorf("want an error naming solutions.yaml and OpenArchive, got %v", err)
	}
	if hosts.applied != 0 {
		t.Error("the hosts were converged")
	}
}

// What keeps the Solutions from rendering (here a version not imported) is reported
// as diagnostics, before the hosts.
func TestSolutionRenderErrorsAreDiagnostics(t *testing.T) {
	hosts := &fakeHosts{}
	open := solutiontest.Open(solutiontest.Example("1.0.0"), solutiontest.Example("2.0.0"))
	res, err := Reconcile(context.Background(), Options{Dir: solutionSite(t, "3.0.0"), Hosts: hosts, OpenArchive: open,
		Kube: &rest.Config{Host: "https://127.0.0.1:1"}})
	want := `environments/staging.yaml:9: spec.namespaces[0].solutions.example-solution: version "3.0.0" of example-solution is not imported; an imported version of example-solution (1.0.0, 2.0.0)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want an error quoting %q, got %v", want, err)
	}
	if len(res.Diagnostics) != 1 || res.Diagnostics[0].String() != want {
		t.Errorf("diagnostics %q", res.Diagnostics)
	}
	if hosts.applied != 0 {
		t.Error("the hosts were converged")
	}
}
