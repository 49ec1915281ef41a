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
	certs   []Certificate
}

// Certificates are the certificates the last Plan or Apply found or left on the hosts
// (reconciler.CertificateReporter); nil before the first, or when the PKI was skipped.
func (r *Reconciler) Certificates() []Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Certificate(nil), r.certs...)
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
	r.certs = nil
	po, _ := r.options()
	p, err := Plan(ctx, site, po)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	r.certs = p.Certificates()
	return p.Entries(), nil
}

// Apply plans and applies that plan. The error is a *FailedHostsError when some hosts
// failed; the set still holds every host's entries.
func (r *Reconciler) Apply(ctx context.Context, site *schema.Site) (change.Set, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.certs = nil
	po, ao := r.options()
	p, err := Plan(ctx, site, po)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	set, err := Apply(ctx, p, ao)
	// After Apply: a host re-planned once its keys exist reports what it was issued.
	r.certs = p.Certificates()
	return set, err
}
