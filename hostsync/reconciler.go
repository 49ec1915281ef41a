package hostsync

import (
	"context"
	"sync"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// Reconciler adapts Plan and Apply to the pipeline's host half
// (reconciler.HostReconciler): Plan is the dry run; Apply plans and then applies
// exactly that plan over the same connections. It keeps the per-host backoff between
// calls, so a daemon that reuses one Reconciler retries failed hosts with backoff.
type Reconciler struct {
	PlanOptions  PlanOptions
	ApplyOptions ApplyOptions

	mu      sync.Mutex
	backoff Backoff
}

func (r *Reconciler) options() (PlanOptions, ApplyOptions) {
	po, ao := r.PlanOptions, r.ApplyOptions
	if po.Backoff == nil {
		po.Backoff = &r.backoff
	}
	if ao.Backoff == nil {
		ao.Backoff = po.Backoff
	}
	if ao.HostConcurrency == 0 {
		ao.HostConcurrency = po.HostConcurrency
	}
	if ao.Now == nil {
		ao.Now = po.Now
	}
	return po, ao
}

// Plan probes every host and returns what Apply would do.
func (r *Reconciler) Plan(ctx context.Context, site *schema.Site) (change.Set, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	po, _ := r.options()
	p, err := Plan(ctx, site, po)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Entries(), nil
}

// Apply plans and applies that plan. The error is a *FailedHostsError when some hosts
// failed; the set still holds every host's entries.
func (r *Reconciler) Apply(ctx context.Context, site *schema.Site) (change.Set, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	po, ao := r.options()
	p, err := Plan(ctx, site, po)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return Apply(ctx, p, ao)
}
