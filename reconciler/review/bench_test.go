package review_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/review"
	"github.com/metalk8s/mk8s/schema/sitegen"
)

// gitRepo commits the files of two revisions with the real git: the 200-node /
// 2,000-volume site of DESIGN §8, then the same with one service override changed, one
// node added (a master: its certificates and static pods) and one volume removed.
func gitRepo(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	git := gitIn(b, dir)
	write := func(files map[string][]byte) {
		for p, c := range files {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(full, c, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	git("init", "-q", "-b", "main")
	small := sitegen.Files(sitegen.Options{Nodes: 199, VolumesPerNode: 10})
	big := sitegen.Files(sitegen.Options{Nodes: 200, VolumesPerNode: 10})
	write(small)
	git("add", "-A")
	git("commit", "-q", "-m", "base")
	write(big)
	var removed bool
	for p := range big {
		if filepath.Dir(p) == "volumes" && !removed {
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				b.Fatal(err)
			}
			removed = true
		}
	}
	for p, c := range big {
		if filepath.Dir(p) == "services" {
			write(map[string][]byte{p: append(bytes.Clone(c), []byte("# reviewed\n")...)})
			break
		}
	}
	git("add", "-A")
	git("commit", "-q", "-m", "change")
	return dir
}

// BenchmarkOfflinePlan200Nodes is the review of a change on the 200-node / 2,000-volume
// site: both trees read from git objects, validated, rendered and compared, objects
// and hosts (DESIGN §8 for validate + render; the review target is 1.5 s).
func BenchmarkOfflinePlan200Nodes(b *testing.B) {
	dir := gitRepo(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		res, err := review.Plan(ctx, review.Options{Repo: dir, From: "main~1", To: "main"})
		if err != nil {
			b.Fatal(err)
		}
		if !res.Changes().Changed() {
			b.Fatal("no change found")
		}
		_ = change.Set(res.Hosts)
	}
}

// BenchmarkOfflinePlan200NodesCLI is the same review through the binary, as a CI step
// runs it (process start, JSON output of every entry included): `mk8s plan --repo R
// --from main~1 --to main -o json`. It runs when MK8S_BENCH_BIN names the binary
// (hack/bench-review.sh).
func BenchmarkOfflinePlan200NodesCLI(b *testing.B) {
	bin := os.Getenv("MK8S_BENCH_BIN")
	if bin == "" {
		b.Skip("MK8S_BENCH_BIN is not set (hack/bench-review.sh sets it)")
	}
	dir := gitRepo(b)
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "plan", "--repo", dir, "--from", "main~1", "--to", "main", "-o", "json", "--exit-code")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			b.Fatalf("mk8s plan: %v\n%s", err, out)
		}
	}
}
