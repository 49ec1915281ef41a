package hostsync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// ApplyOptions tunes Apply.
type ApplyOptions struct {
	// HostConcurrency bounds the hosts converged in parallel in the last wave; 10 when zero.
	HostConcurrency int
	// Backoff records failures (and clears successes) for the next reconcile; nil disables it.
	Backoff *Backoff
	// Now is the clock of the backoff; time.Now when nil.
	Now func() time.Time
	// HostTimeout bounds the convergence of one host; no bound when zero.
	HostTimeout time.Duration
}

// FailedHostsError lists the hosts that failed; the result set says which resource
// failed on each and carries the remote stderr.
type FailedHostsError struct{ Nodes []string }

func (e *FailedHostsError) Error() string {
	return "hosts failed to converge: " + strings.Join(e.Nodes, ", ")
}

// Waves orders the hosts as MetalK8s upgrades them: the bootstrap node first, then the
// etcd members one at a time, then the masters one at a time, then every other host in
// one parallel wave.
func Waves(hosts []*HostPlan) [][]*HostPlan {
	var boot, etcd, master, rest []*HostPlan
	for _, h := range hosts {
		r := h.Roles
		switch {
		case slices.Contains(r, schema.RoleBootstrap):
			boot = append(boot, h)
		case slices.Contains(r, schema.RoleEtcd):
			etcd = append(etcd, h)
		case slices.Contains(r, schema.RoleMaster):
			master = append(master, h)
		default:
			rest = append(rest, h)
		}
	}
	var waves [][]*HostPlan
	for _, g := range [][]*HostPlan{boot, etcd, master} {
		sort.Slice(g, func(i, j int) bool { return g[i].Node < g[j].Node })
		for _, h := range g {
			waves = append(waves, []*HostPlan{h})
		}
	}
	if len(rest) > 0 {
		waves = append(waves, rest)
	}
	return waves
}

// Apply performs exactly the steps of the plan, host by host in Waves order. A host that
// fails does not stop the others: its failing resource is reported with the remote
// stderr, the steps after it are skipped, and the backoff records it. The error is a
// *FailedHostsError when any host failed.
func Apply(ctx context.Context, p *HostsPlan, opts ApplyOptions) (change.Set, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	var (
		mu     sync.Mutex
		result change.Set
		failed []string
	)
	record := func(h *HostPlan, entries change.Set, errMsg string) {
		mu.Lock()
		defer mu.Unlock()
		result = append(result, entries...)
		switch {
		case h.Deferred != "":
		case errMsg != "":
			failed = append(failed, h.Node)
			opts.Backoff.fail(h.Node, now(), errMsg)
		default:
			opts.Backoff.succeed(h.Node)
		}
	}
	for _, wave := range Waves(p.Hosts) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, concurrency(opts.HostConcurrency))
		for _, h := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				hctx, cancel := ctx, context.CancelFunc(func() {})
				if opts.HostTimeout > 0 {
					hctx, cancel = context.WithTimeout(ctx, opts.HostTimeout)
				}
				entries, errMsg := applyHost(hctx, p.pool, h)
				cancel()
				record(h, entries, errMsg)
			}()
		}
		wg.Wait()
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		return result, &FailedHostsError{Nodes: failed}
	}
	return result, nil
}

// applyHost converges one host and returns its entries and, when it failed, why.
func applyHost(ctx context.Context, pool *Pool, h *HostPlan) (change.Set, string) {
	if h.Deferred != "" || h.Err != nil {
		msg := ""
		if h.Err != nil {
			msg = h.Err.Error()
		}
		return h.Entries(), msg
	}
	if f := h.failed(); f != nil {
		out := make([]resource.Step, len(h.Steps))
		copy(out, h.Steps)
		for i := range out {
			if out[i].Script != "" {
				out[i].Action = change.Skipped
				out[i].Message = "not attempted: " + f.Resource + " cannot be converged"
			}
		}
		return entries(h, out), f.Resource + ": " + f.Message
	}
	conn, err := pool.Get(ctx, h.node)
	if err != nil {
		return change.Set{{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Failed, Message: err.Error()}}, err.Error()
	}
	done, err := resource.Apply(ctx, conn, h.Steps)
	if err != nil {
		pool.Forget(h.node)
		return entries(h, done), fmt.Sprintf("node %s: %v", h.Node, err)
	}
	return entries(h, done), ""
}

func entries(h *HostPlan, steps []resource.Step) change.Set {
	s := make(change.Set, 0, len(steps))
	for _, st := range steps {
		if !st.Internal || st.Action == change.Failed {
			s = append(s, st.Entry(h.Node))
		}
	}
	return s
}
