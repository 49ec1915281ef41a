package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// env is one real kube-apiserver + etcd shared by the tests of this package; every
// test uses a Site and Lease of its own, so they do not depend on each other's order.
var (
	env    *kubeenv.Env
	envErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// needEnv skips (outside CI) or fails a test that needs the real apiserver when it
// could not be started.
func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		kubeenv.SkipOrFail(t, envErr)
	}
}

func runMain(m *testing.M) int {
	e, err := kubeenv.Start(context.Background(), kubeenv.StartOptions{})
	if err != nil {
		envErr = err
		if !errors.Is(err, kubeenv.ErrNoAssets) {
			fmt.Fprintln(os.Stderr, "real apiserver:", err)
		}
		return m.Run()
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test apiserver:", err)
		}
	}()
	env = e
	return m.Run()
}

// recorder is a ReconcileFunc that records every run and can hold runs until released.
type recorder struct {
	mu    sync.Mutex
	runs  []Trigger
	ran   chan Trigger // one value per run started
	hold  chan struct{}
	out   func(Trigger) (Outcome, error)
	block bool
}

func newRecorder() *recorder {
	return &recorder{ran: make(chan Trigger, 100), hold: make(chan struct{})}
}

func (r *recorder) reconcile(ctx context.Context, t Trigger) (Outcome, error) {
	r.mu.Lock()
	r.runs = append(r.runs, t)
	block, out := r.block, r.out
	r.mu.Unlock()
	r.ran <- t
	if block {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return Outcome{Revision: "main@sha1:interrupted"}, ctx.Err()
		}
	}
	if out != nil {
		return out(t)
	}
	return Outcome{Revision: "main@sha1:0001", NoOp: true}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

// next waits for the next run to start.
func (r *recorder) next(t *testing.T) Trigger {
	t.Helper()
	select {
	case tr := <-r.ran:
		return tr
	case <-time.After(30 * time.Second):
		t.Fatal("no reconcile within 30s")
	}
	return Trigger{}
}

type running struct {
	d    *Daemon
	stop func()
	done chan error
}

// start runs a daemon with test-friendly lease timings until the test ends.
func start(t *testing.T, opts Options) *running {
	t.Helper()
	needEnv(t)
	opts.Config = env.Config
	if opts.Listener == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts.Listener = l
	}
	if opts.Lease.Duration == 0 {
		opts.Lease.Duration, opts.Lease.RenewDeadline, opts.Lease.RetryPeriod = 4*time.Second, 3*time.Second, 200*time.Millisecond
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	opts.RetryInterval = 200 * time.Millisecond
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
	}
	t.Cleanup(r.stop)
	return r
}

func (r *running) url(path string) string { return "http://" + r.d.Addr().String() + path }

func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *running) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, "readyz 200", func() bool { c, _ := r.get(t, "/readyz"); return c == http.StatusOK })
}

func statusClient(t *testing.T) *status.Client {
	t.Helper()
	c, err := status.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// counter reads one counter of the daemon's registry.
func counter(t *testing.T, d *Daemon, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				}
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

func reasonsAre(tr Trigger, want ...string) bool { return slices.Equal(tr.Reasons, want) }

// siteName is unique per test run, so that -count=N and parallel packages never share a
// Site or a Lease.
func siteName(t *testing.T) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + hex.EncodeToString(b)
}
