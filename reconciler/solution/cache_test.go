package solution

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
)

// countingOpen is Open, counting its calls.
type countingOpen struct{ n atomic.Int32 }

func (c *countingOpen) open(ctx context.Context, path string) (*Archive, error) {
	c.n.Add(1)
	return Open(ctx, path)
}

func TestCacheReopensOnlyAfterChange(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "solution.iso")
	solutioniso.BuildAt(t, p, solutioniso.Example("1.0.0"))
	counter := &countingOpen{}
	c := NewCache(counter.open)
	ctx := context.Background()
	step := func(what string, wantOpens int32) (*Archive, error) {
		t.Helper()
		a, err := c.Open(ctx, p)
		if got := counter.n.Load(); got != wantOpens {
			t.Fatalf("%s: %d opens, want %d", what, got, wantOpens)
		}
		return a, err
	}

	first, err := step("first open", 1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := step("unchanged file", 1)
	if again != first {
		t.Fatalf("unchanged file: a new Archive")
	}

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if a, _ := step("new mtime", 2); a == first || a.Digest != first.Digest {
		t.Fatalf("new mtime: got %+v", a)
	}

	// The same bytes, size and mtime in another file moved in place: only the inode tells.
	data, _ := os.ReadFile(p)
	copied := filepath.Join(dir, "copy.iso")
	os.WriteFile(copied, data, 0o644)
	if err := os.Chtimes(copied, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copied, p); err != nil {
		t.Fatal(err)
	}
	step("another inode", 3)

	// Another version moved in place.
	next := filepath.Join(dir, "next.iso")
	solutioniso.BuildAt(t, next, solutioniso.Example("2.0.0"))
	if err := os.Rename(next, p); err != nil {
		t.Fatal(err)
	}
	if a, err := step("replaced file", 4); err != nil || a.Version != "2.0.0" {
		t.Fatalf("replaced file: %+v, %v", a, err)
	}

	// A refusal is kept until the file changes.
	st, _ := os.Stat(p)
	solutioniso.Truncate(t, p, st.Size()/2)
	_, err1 := step("truncated file", 5)
	_, err2 := step("truncated file, unchanged", 5)
	var ae *ArchiveError
	if !errors.As(err1, &ae) || err2 != err1 {
		t.Fatalf("truncated file: %v then %v", err1, err2)
	}

	// A missing file is not kept: the wrapped Open says so each time.
	os.Remove(p)
	step("removed file", 6)
	if _, err := step("removed file, again", 7); !errors.As(err, &ae) || ae.Reason != "no such file" {
		t.Fatalf("removed file: %v", err)
	}
}

func TestCacheConcurrent(t *testing.T) {
	var (
		opens   atomic.Int32
		started = make(chan struct{}, 1)
		release = make(chan struct{})
		want    = &Archive{Name: "x"}
	)
	c := NewCache(func(ctx context.Context, path string) (*Archive, error) {
		opens.Add(1)
		started <- struct{}{}
		<-release
		return want, nil
	})
	p := filepath.Join(t.TempDir(), "a.iso")
	os.WriteFile(p, []byte("x"), 0o644)

	var wg sync.WaitGroup
	results := make([]*Archive, 8)
	wg.Add(1)
	go func() { defer wg.Done(); results[0], _ = c.Open(context.Background(), p) }()
	<-started // the first Open holds the path

	// Another caller waits for it; one whose context ends stops waiting.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Open(cancelled, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	for i := 1; i < len(results); i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = c.Open(context.Background(), p) }()
	}
	close(release)
	wg.Wait()
	if n := opens.Load(); n != 1 {
		t.Fatalf("%d opens of one unchanged file, want 1", n)
	}
	for i, a := range results {
		if a != want {
			t.Fatalf("caller %d got %+v", i, a)
		}
	}
}

func TestCacheDoesNotKeepCancelledOpens(t *testing.T) {
	var opens atomic.Int32
	c := NewCache(func(ctx context.Context, path string) (*Archive, error) {
		if opens.Add(1) == 1 {
			return nil, context.Canceled
		}
		return &Archive{Name: "x"}, nil
	})
	p := filepath.Join(t.TempDir(), "a.iso")
	os.WriteFile(p, []byte("x"), 0o644)
	if _, err := c.Open(context.Background(), p); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if a, err := c.Open(context.Background(), p); err != nil || a.Name != "x" || opens.Load() != 2 {
		t.Fatalf("after a cancelled open: %+v, %v, %d opens", a, err, opens.Load())
	}
}
