package hostsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// RenderFunc returns the desired host state of one node.
type RenderFunc func(site *schema.Site, node string) ([]resource.Resource, error)

// PlanOptions tunes Plan.
type PlanOptions struct {
	// Dial opens TCP connections (the e2e harness dials inside a network namespace).
	Dial transport.DialFunc
	// TrustOnFirstUse accepts hosts without a pinned key and reports the key to pin.
	TrustOnFirstUse bool
	// HostConcurrency bounds how many hosts are probed (and, in Apply, converged) at
	// once; 10 when zero.
	HostConcurrency int
	// Packages says whether missing packages are installed or only reported.
	Packages resource.PackageMode
	// Nodes limits the plan to these nodes; all nodes of the site when empty.
	Nodes []string
	// Backoff defers hosts that failed recently; nil disables it.
	Backoff *Backoff
	// Now is the clock of the backoff; time.Now when nil.
	Now func() time.Time
	// Pool reuses connections; Plan creates one (closed by Plan.Close) when nil.
	Pool *Pool
	// Render computes a node's desired state; roles.Render when nil.
	Render RenderFunc
	// HostTimeout bounds the dial and probe of one host; no bound when zero (the
	// caller's context still applies). SSH keepalives detect dead peers meanwhile.
	HostTimeout time.Duration
}

// HostsPlan is the value a dry run returns: per host, the steps Apply will perform.
type HostsPlan struct {
	Hosts []*HostPlan `json:"hosts"`
	pool  *Pool
	owned bool
}

// HostPlan is the plan of one host.
type HostPlan struct {
	Node  string             `json:"node"`
	Roles []string           `json:"roles"`
	Addr  string             `json:"addr"`
	Steps []resource.Step    `json:"steps,omitempty"`
	Facts resource.HostFacts `json:"facts"`
	// Err is why the host could not be planned (unreachable, host key refused, probe
	// failed); such a host is reported failed and left alone by Apply.
	Err error `json:"-"`
	// Error is Err's message, for JSON.
	Error string `json:"error,omitempty"`
	// PresentedKey is the host key seen when trust on first use accepted an unpinned
	// host: the operator should pin it.
	PresentedKey string `json:"presentedKey,omitempty"`
	// Deferred explains why a host in backoff was not planned.
	Deferred string `json:"deferred,omitempty"`

	node *schema.Node
}

// Entries is the plan in the shared result vocabulary: one entry per resource, and one
// per host that could not be planned.
func (p *HostsPlan) Entries() change.Set {
	var s change.Set
	for _, h := range p.Hosts {
		s = append(s, h.Entries()...)
	}
	return s
}

// Changed reports whether applying the plan would change anything.
func (p *HostsPlan) Changed() bool { return p.Entries().Changed() }

// Close closes the connections the plan opened (not those of a caller's Pool).
func (p *HostsPlan) Close() error {
	if p.owned && p.pool != nil {
		return p.pool.Close()
	}
	return nil
}

// Entries of one host.
func (h *HostPlan) Entries() change.Set {
	switch {
	case h.Deferred != "":
		return change.Set{{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Skipped, Message: h.Deferred}}
	case h.Err != nil:
		return change.Set{{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Failed, Message: h.Err.Error()}}
	}
	var s change.Set
	if h.PresentedKey != "" {
		s = append(s, change.Entry{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Unchanged,
			Message: "host key not pinned, trusted on first use: pin metalk8s.scality.com/ssh-host-key: " + h.PresentedKey})
	}
	return append(s, entries(h, h.Steps)...)
}

// failed returns the first step that cannot be converged.
func (h *HostPlan) failed() *resource.Step {
	for i := range h.Steps {
		if h.Steps[i].Action == change.Failed {
			return &h.Steps[i]
		}
	}
	return nil
}

// Plan renders the desired state of every node and probes every host (in parallel,
// bounded), returning what Apply would do. Plan changes nothing on any host. A host that
// cannot be reached is part of the plan (with Err), never an error of Plan itself;
// Plan's error is for a site it cannot render.
func Plan(ctx context.Context, site *schema.Site, opts PlanOptions) (*HostsPlan, error) {
	render := opts.Render
	if render == nil {
		render = func(s *schema.Site, n string) ([]resource.Resource, error) {
			return roles.Render(s, n, roles.Options{})
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	p := &HostsPlan{pool: opts.Pool}
	if p.pool == nil {
		p.pool, p.owned = NewPool(transport.DialOptions{Dial: opts.Dial, TrustOnFirstUse: opts.TrustOnFirstUse}), true
	}
	desired := map[string][]resource.Resource{}
	for i := range site.Nodes {
		n := &site.Nodes[i]
		if len(opts.Nodes) > 0 && !slices.Contains(opts.Nodes, n.Name) {
			continue
		}
		rs, err := render(site, n.Name)
		if err != nil {
			return nil, fmt.Errorf("rendering host state of node %s: %w", n.Name, err)
		}
		desired[n.Name] = rs
		p.Hosts = append(p.Hosts, &HostPlan{Node: n.Name, Roles: n.Roles, Addr: Target(n).Addr(), node: n})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency(opts.HostConcurrency))
	for _, h := range p.Hosts {
		if b, ok := opts.Backoff.deferred(h.Node, now()); ok {
			h.Deferred = fmt.Sprintf("retrying after %s (%d consecutive failures; last: %s)",
				b.NextAttempt.UTC().Format(time.RFC3339), b.Failures, b.LastError)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			planHost(ctx, p.pool, h, desired[h.Node], opts, roles.Header(roles.PlatformVersion(site)))
		}()
	}
	wg.Wait()
	return p, nil
}

func concurrency(n int) int {
	if n <= 0 {
		return 10
	}
	return n
}

func planHost(ctx context.Context, pool *Pool, h *HostPlan, rs []resource.Resource, opts PlanOptions, header string) {
	if opts.HostTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.HostTimeout)
		defer cancel()
	}
	conn, err := pool.Get(ctx, h.node)
	if err != nil {
		h.Err, h.Error = err, err.Error()
		return
	}
	if h.node.SSH.HostKey == "" {
		h.PresentedKey = conn.PresentedKey()
	}
	h.Steps, h.Facts, err = resource.Plan(ctx, conn, rs, resource.Options{Packages: opts.Packages, Header: header})
	if err != nil {
		pool.Forget(h.node)
		h.Err = fmt.Errorf("node %s: probing: %w", h.Node, err)
		h.Error = h.Err.Error()
	}
}

// HostKeyError reports whether err is a refused host key.
func HostKeyError(err error) (*transport.HostKeyError, bool) {
	var hk *transport.HostKeyError
	ok := errors.As(err, &hk)
	return hk, ok
}
