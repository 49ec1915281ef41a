package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// Daemon is one `mk8s run` process.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	queue    *queue
	metrics  *metrics
	status   *status.Client
	core     kubernetes.Interface
	recorder *status.Recorder
	listener net.Listener
	secret   []byte

	mu        sync.Mutex
	leading   bool
	crdReady  bool
	firstDone bool
}

// New checks opts, reads the webhook secret and binds the HTTP listener, so that a
// configuration error is reported before anything runs.
func New(opts Options) (*Daemon, error) {
	opts.defaults()
	switch {
	case opts.Config == nil:
		return nil, errors.New("daemon: no cluster configuration")
	case opts.Site == "":
		return nil, errors.New("daemon: no Site name")
	case opts.Reconcile == nil:
		return nil, errors.New("daemon: no reconcile function")
	case opts.PollInterval < 0:
		return nil, fmt.Errorf("daemon: poll interval %s is negative", opts.PollInterval)
	}
	d := &Daemon{opts: opts, log: opts.Logger, queue: newQueue(), metrics: newMetrics()}
	if opts.WebhookSecretFile != "" {
		s, err := readSecret(opts.WebhookSecretFile)
		if err != nil {
			return nil, err
		}
		d.secret = s
	}
	if opts.WatchRepo != "" {
		if fi, err := os.Stat(opts.WatchRepo); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("daemon: watched repository %s is not a directory: %v", opts.WatchRepo, err)
		}
	}
	var err error
	if d.status, err = status.NewClient(opts.Config); err != nil {
		return nil, err
	}
	if d.core, err = kubernetes.NewForConfig(opts.Config); err != nil {
		return nil, fmt.Errorf("daemon: kubernetes client: %w", err)
	}
	if d.opts.Lease.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		d.opts.Lease.Identity = host + "_" + hex.EncodeToString(b)
	}
	d.recorder = d.status.NewRecorder(d.opts.Lease.Identity)
	d.listener = opts.Listener
	if d.listener == nil && opts.Listen != "" {
		if d.listener, err = net.Listen("tcp", opts.Listen); err != nil {
			return nil, fmt.Errorf("daemon: listen on %s: %w", opts.Listen, err)
		}
	}
	return d, nil
}

// Run is New followed by (*Daemon).Run.
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// Addr is the address the HTTP server listens on, or nil without one.
func (d *Daemon) Addr() net.Addr {
	if d.listener == nil {
		return nil
	}
	return d.listener.Addr()
}

// Registry is the daemon's private Prometheus registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.metrics.registry }

// Identity is this daemon's name in the Lease.
func (d *Daemon) Identity() string { return d.opts.Lease.Identity }

// Run serves HTTP, watches the triggers and, while holding the Lease, reconciles,
// until ctx is done; then it lets the running reconcile finish within ShutdownGrace,
// releases the Lease and returns.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()

	if d.listener != nil {
		srv := &http.Server{Handler: d.mux(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(d.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("HTTP server stopped", "err", err)
			}
		})
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if d.opts.WatchRepo != "" {
		wg.Go(func() {
			for bg.Err() == nil {
				err := watchRefs(bg, d.opts.WatchRepo, d.opts.WatchDebounce, func() { d.queue.Add(TriggerGitPush) })
				if err == nil {
					return
				}
				d.log.Error("ref watch failed; retrying", "repo", d.opts.WatchRepo, "err", err)
				select {
				case <-bg.Done():
				case <-time.After(d.opts.RetryInterval):
				}
			}
		})
	}
	return d.elect(ctx)
}

// elect campaigns for the Lease until ctx is done, and leads while it holds it. The
// elector gets a context of its own, cancelled only once the loop has stopped, so that
// the Lease is released after (never before) the last reconcile ends.
func (d *Daemon) elect(ctx context.Context) error {
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, d.opts.Lease.Namespace, d.opts.Lease.Name,
		d.core.CoreV1(), d.core.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: d.opts.Lease.Identity})
	if err != nil {
		return fmt.Errorf("daemon: Lease %s/%s: %w", d.opts.Lease.Namespace, d.opts.Lease.Name, err)
	}
	for ctx.Err() == nil {
		started := make(chan context.Context, 1)
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   d.opts.Lease.Duration,
			RenewDeadline:   d.opts.Lease.RenewDeadline,
			RetryPeriod:     d.opts.Lease.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            d.opts.Lease.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) { started <- lctx },
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					if id != d.opts.Lease.Identity {
						d.log.Info("Lease held by another daemon", "holder", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("daemon: leader election: %w", err)
		}
		electCtx, stopElect := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { elector.Run(electCtx); close(done) }()
		select {
		case <-ctx.Done():
		case <-done:
			// Run returns only once electCtx is done; kept for safety.
		case lctx := <-started:
			d.log.Info("acquired the Lease", "lease", d.opts.Lease.Namespace+"/"+d.opts.Lease.Name, "identity", d.opts.Lease.Identity)
			d.lead(ctx, lctx)
		}
		stopElect()
		<-done
		d.setLeading(false)
	}
	return nil
}

func (d *Daemon) setLeading(b bool) {
	d.mu.Lock()
	d.leading = b
	if !b {
		d.crdReady, d.firstDone = false, false
	}
	d.mu.Unlock()
	boolGauge(d.metrics.leader, b)
}

// ready reports readiness and, when not ready, why.
func (d *Daemon) ready() (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !d.leading:
		return false, "not the Lease holder (standby)"
	case !d.crdReady:
		return false, "Site CRD not installed yet"
	case !d.firstDone:
		return false, "first reconcile not finished"
	}
	return true, "ok"
}

func (d *Daemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", d.metrics.handler())
	if d.secret != nil {
		mux.Handle("/webhook", d.webhookHandler(d.secret))
	}
	return mux
}
