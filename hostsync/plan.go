package hostsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/metalk8s/mk8s/hostsync/isomount"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/solution"
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
	// PKI tunes the certificates stage.
	PKI PKIOptions
	// OpenArchive opens the Solution archives the site imports
	// (SolutionsConfiguration.archives, paths on the bootstrap node where the reconciler
	// runs), for the bootstrap node's mounts and registry includes. A site that imports
	// archives cannot be planned on its bootstrap node without it.
	OpenArchive solution.OpenFunc
}

// HostsPlan is the value a dry run returns: per host, the steps Apply will perform.
type HostsPlan struct {
	Hosts []*HostPlan `json:"hosts"`
	pool  *Pool
	owned bool
	site  *schema.Site
	opts  PlanOptions
	pki   *pkiStage
	etcd  *etcdStage
	// solutions are the site's archives as the bootstrap node serves them.
	solutions []roles.SolutionArchive
}

// Certificates lists the certificates the plan leaves on the hosts, by node and path.
func (p *HostsPlan) Certificates() []Certificate {
	var out []Certificate
	for _, h := range p.Hosts {
		out = append(out, h.Certificates...)
	}
	return out
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
	// Certificates are the certificates (CAs included) the plan leaves on the host.
	Certificates []Certificate `json:"certificates,omitempty"`

	node        *schema.Node
	pki         *hostPKI
	imported    []isomount.Imported // the archives mk8s mounted (bootstrap node)
	deferredPKI bool                // some certificate waits for a key the apply generates first
	etcdJoin    bool                // the node's etcd member is added before its host is converged
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
// Plan's error is for a site it cannot render, and for a PKI it refuses to touch (a
// *pki.RefusedError: a CA missing from a running cluster, a SAN that cannot be computed).
//
// With the default render and the bootstrap node in the plan, the Solution archives of
// the site are opened first (PlanOptions.OpenArchive): one that cannot be, or none at
// all without OpenArchive, fails the plan naming solutions.yaml, before any host is
// contacted.
//
// With the default render, the plan runs in three steps: every host is connected and
// its PKI read (one round trip); the authority is resolved from the bootstrap node, the
// backup and what the nodes hold; then every host is rendered with its certificates and
// probed (one more round trip, two when diffs need live content).
func Plan(ctx context.Context, site *schema.Site, opts PlanOptions) (*HostsPlan, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	p := &HostsPlan{pool: opts.Pool, site: site, opts: opts}
	if p.pool == nil {
		p.pool, p.owned = NewPool(transport.DialOptions{Dial: opts.Dial, TrustOnFirstUse: opts.TrustOnFirstUse}), true
	}
	if opts.Render == nil && plansBootstrap(site, opts.Nodes) {
		var err error
		if p.solutions, err = openArchives(ctx, site, opts.OpenArchive); err != nil {
			p.Close()
			return nil, err
		}
	}
	custom := map[string][]resource.Resource{}
	for i := range site.Nodes {
		n := &site.Nodes[i]
		if len(opts.Nodes) > 0 && !slices.Contains(opts.Nodes, n.Name) {
			continue
		}
		rs, err := p.renderNode(n.Name, nil)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("rendering host state of node %s: %w", n.Name, err)
		}
		custom[n.Name] = rs
		p.Hosts = append(p.Hosts, &HostPlan{Node: n.Name, Roles: n.Roles, Addr: Target(n).Addr(), node: n})
	}
	var active []*HostPlan
	for _, h := range p.Hosts {
		if b, ok := opts.Backoff.deferred(h.Node, now()); ok {
			h.Deferred = fmt.Sprintf("retrying after %s (%d consecutive failures; last: %s)",
				b.NextAttempt.UTC().Format(time.RFC3339), b.Failures, b.LastError)
			continue
		}
		active = append(active, h)
	}
	if opts.Render == nil && !opts.PKI.Skip {
		stage, err := newPKIStage(site, opts.PKI)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.pki = stage
		if err := p.readPKI(ctx, active); err != nil {
			p.Close()
			return nil, err
		}
		if err := p.readEtcd(ctx); err != nil {
			p.Close()
			return nil, err
		}
	}
	forEach(active, opts.HostConcurrency, func(h *HostPlan) {
		if h.Err != nil {
			return // could not be connected or read: reported as failed
		}
		rs := custom[h.Node]
		if opts.Render == nil {
			var err error
			if h.node.HasRole(schema.RoleBootstrap) {
				if h.imported, err = p.readImported(ctx, h); err != nil {
					h.Err, h.Error = err, err.Error()
					return
				}
			}
			if rs, err = p.renderNode(h.Node, h); err != nil {
				h.Err, h.Error = err, err.Error()
				return
			}
		}
		planHost(ctx, p.pool, h, rs, opts, roles.Header(roles.PlatformVersion(site)))
		p.planJoin(h)
	})
	return p, nil
}

// readEtcd asks the running etcd cluster, if any, for its members. A CA created by this
// plan means no cluster can run yet: nobody is asked.
func (p *HostsPlan) readEtcd(ctx context.Context) error {
	p.etcd = &etcdStage{}
	if p.pki.resolution == nil {
		return nil
	}
	if _, generated := p.pki.resolution.Origin[pki.CADefs()[1].CertPath]; generated {
		return nil
	}
	s, err := newEtcdStage(ctx, p.site, p.pki.resolution.Authority, p.opts.Dial, p.pki.now())
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	p.etcd = s
	return nil
}

// planJoin puts the member add a new etcd member needs first in its host's plan.
func (p *HostsPlan) planJoin(h *HostPlan) {
	if p.etcd == nil || h.Err != nil || !h.node.HasRole(schema.RoleEtcd) {
		return
	}
	if e := p.etcd.joinStep(h.node); e != nil {
		h.etcdJoin = true
		h.Steps = append([]resource.Step{{Resource: e.Subject, Action: e.Action, Message: e.Message}}, h.Steps...)
	}
}

// readPKI connects every host, reads its PKI, and resolves the authority. A host that
// cannot be read is failed (the others still get their certificates) unless it is the
// bootstrap node and no backup stands in for it, which fails the plan.
func (p *HostsPlan) readPKI(ctx context.Context, hosts []*HostPlan) error {
	var bootErr error
	var mu sync.Mutex
	probes := map[string]*hostPKI{}
	forEach(hosts, p.opts.HostConcurrency, func(h *HostPlan) {
		hctx, cancel := hostContext(ctx, p.opts.HostTimeout)
		defer cancel()
		conn, err := p.connect(hctx, h)
		if err == nil {
			h.pki, err = p.pki.probe(hctx, conn, h.Node)
			if err != nil {
				p.pool.Forget(h.node)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			h.Err, h.Error = err, err.Error()
			if h.Node == p.pki.bootstrap {
				bootErr = err
			}
			return
		}
		probes[h.Node] = h.pki
	})
	// The bootstrap node holds the CA: it is read even when the plan is limited to
	// other nodes (read only: nothing is planned on it).
	if n, ok := p.site.Node(p.pki.bootstrap); ok && !slices.ContainsFunc(hosts, func(h *HostPlan) bool { return h.Node == n.Name }) {
		hctx, cancel := hostContext(ctx, p.opts.HostTimeout)
		defer cancel()
		conn, err := p.pool.Get(hctx, n)
		if err == nil {
			var h *hostPKI
			if h, err = p.pki.probe(hctx, conn, n.Name); err == nil {
				probes[n.Name] = h
			}
		}
		bootErr = err
	}
	return p.pki.resolve(probes, bootErr)
}

// renderNode renders one node: with the custom Render, or roles.Render with the node's
// PKI when the host was read (h nil: a render for errors only).
func (p *HostsPlan) renderNode(node string, h *HostPlan) ([]resource.Resource, error) {
	if p.opts.Render != nil {
		return p.opts.Render(p.site, node)
	}
	ro := roles.Options{Solutions: p.solutions}
	if h != nil {
		ro.Unimported = h.imported
	}
	if h != nil && p.pki != nil {
		if h.pki == nil {
			return nil, fmt.Errorf("node %s: PKI not read", node)
		}
		rs, certs, err := p.pki.resources(node, h.pki)
		if err != nil {
			return nil, err
		}
		ro.PKI, h.Certificates = rs, certs
		if n, ok := p.site.Node(node); ok && n.HasRole(schema.RoleEtcd) && p.etcd != nil {
			ro.Etcd = p.etcd.start(p.site, n, h.pki.files[etcdManifest])
		}
		h.deferredPKI = slices.ContainsFunc(rs, func(r resource.Resource) bool {
			d, ok := r.(*resource.Deferred)
			return ok && d.Action != change.Skipped
		})
	}
	return roles.Render(p.site, node, ro)
}

// forEach calls f on every item, n at a time (concurrency(n)), and returns when all
// are done.
func forEach[T any](items []T, n int, f func(T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency(n))
	for _, h := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f(h)
		}()
	}
	wg.Wait()
}

func hostContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

func concurrency(n int) int {
	if n <= 0 {
		return 10
	}
	return n
}

func (p *HostsPlan) connect(ctx context.Context, h *HostPlan) (*transport.Conn, error) {
	conn, err := p.pool.Get(ctx, h.node)
	if err != nil {
		return nil, err
	}
	if h.node.SSH.HostKey == "" {
		h.PresentedKey = conn.PresentedKey()
	}
	return conn, nil
}

func planHost(ctx context.Context, pool *Pool, h *HostPlan, rs []resource.Resource, opts PlanOptions, header string) {
	ctx, cancel := hostContext(ctx, opts.HostTimeout)
	defer cancel()
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
