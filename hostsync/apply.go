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
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/hostsync/transport"
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
	// EtcdHealthTimeout bounds the wait for a converged etcd member to be healthy
	// before the next member; 5 minutes when zero.
	EtcdHealthTimeout time.Duration
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
	// A CA created or restored for this reconcile is in the backup before any host
	// holds it: a host that fails half-way cannot take the only copy with it.
	if err := p.pki.persistBackup(); err != nil {
		return nil, err
	}
	// etcdBlocked, once set, skips the etcd members still to converge: the gate
	// between members (DESIGN §4.6). The etcd waves hold one host each.
	etcdBlocked := ""
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
				entries, errMsg := p.applyMember(hctx, h, opts, &etcdBlocked)
				cancel()
				if errMsg == "" && p.pki != nil && h.Node == p.pki.bootstrap && h.Deferred == "" {
					if err := p.pki.markInstalled(); err != nil {
						errMsg = err.Error()
						entries = append(entries, change.Entry{Subject: "PKI backup", Host: h.Node, Action: change.Failed, Message: errMsg})
					}
				}
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

// applyMember converges a host; for an etcd member it is the runbook of MetalK8s'
// etcd expansion: refuse while an earlier member is unhealthy, add the member to the
// running cluster, converge the host, then wait until the member is healthy before the
// next one. Other hosts go straight to applyHost.
func (p *HostsPlan) applyMember(ctx context.Context, h *HostPlan, opts ApplyOptions, blocked *string) (change.Set, string) {
	if p.etcd == nil || !p.etcd.running || !h.node.HasRole(schema.RoleEtcd) || h.Deferred != "" || h.Err != nil {
		return p.applyHost(ctx, h)
	}
	changed := slices.ContainsFunc(h.Steps, func(s resource.Step) bool { return s.Action != change.Unchanged && s.Action != change.Skipped })
	if !changed {
		return p.applyHost(ctx, h)
	}
	skip := func(why string) (change.Set, string) {
		out := make([]resource.Step, len(h.Steps))
		copy(out, h.Steps)
		for i := range out {
			if out[i].Action != change.Unchanged {
				out[i].Action, out[i].Message = change.Skipped, "not attempted: "+why
			}
		}
		return entries(h, out), ""
	}
	if *blocked != "" {
		return skip(*blocked)
	}
	if p.etcd.unhealthy != "" && p.etcd.client.Health(ctx, roles.EtcdClientURL(h.node)) == nil {
		// The cluster is degraded and this member is one of its healthy ones: a restart
		// now could cost the quorum. (An unhealthy member is converged: that may be the fix.)
		*blocked = "the etcd cluster was unhealthy before any change (" + p.etcd.unhealthy + ")"
		return skip(*blocked)
	}
	var out change.Set
	if h.etcdJoin {
		e := change.Entry{Subject: "EtcdMember " + h.Node, Host: h.Node, Action: change.Created, Message: h.Steps[0].Message}
		if err := p.etcd.join(ctx, h.node); err != nil {
			e.Action, e.Message = change.Failed, err.Error()
			*blocked = "etcd member " + h.Node + " could not be added"
			return append(change.Set{e}, entries(h, skippedAfter(h.Steps[1:], e.Subject))...), err.Error()
		}
		out = append(out, e)
		h.Steps = h.Steps[1:]
	}
	res, errMsg := p.applyHost(ctx, h)
	out = append(out, res...)
	if errMsg != "" {
		*blocked = "etcd member " + h.Node + " failed to converge"
		return out, errMsg
	}
	timeout := opts.EtcdHealthTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	if err := p.etcd.waitHealthy(ctx, h.node, timeout); err != nil {
		*blocked = "etcd member " + h.Node + " is not healthy"
		return append(out, change.Entry{Subject: "EtcdMember " + h.Node, Host: h.Node, Action: change.Failed, Message: err.Error()}), err.Error()
	}
	return out, ""
}

func skippedAfter(steps []resource.Step, first string) []resource.Step {
	out := make([]resource.Step, len(steps))
	copy(out, steps)
	for i := range out {
		if out[i].Action != change.Unchanged {
			out[i].Action, out[i].Message = change.Skipped, "not attempted: "+first+" failed first"
		}
	}
	return out
}

// applyHost converges one host and returns its entries and, when it failed, why.
func (p *HostsPlan) applyHost(ctx context.Context, h *HostPlan) (change.Set, string) {
	pool := p.pool
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
	if h.deferredPKI {
		return p.applyKeysFirst(ctx, conn, h)
	}
	done, err := resource.Apply(ctx, conn, h.Steps)
	if err != nil {
		pool.Forget(h.node)
		return entries(h, done), fmt.Sprintf("node %s: %v", h.Node, err)
	}
	return entries(h, done), ""
}

// applyKeysFirst converges a host some of whose certificates wait for keys it has not
// generated yet: the directories and keys first, then the host is read and planned again
// (now every certificate can be signed for its key) and that plan is applied. The
// entries are the keys' and the second plan's.
func (p *HostsPlan) applyKeysFirst(ctx context.Context, conn *transport.Conn, h *HostPlan) (change.Set, string) {
	var first []resource.Step
	reported := map[string]bool{}
	for _, st := range h.Steps {
		if strings.HasPrefix(st.Resource, "Directory ") || strings.HasPrefix(st.Resource, "PrivateKey ") {
			first = append(first, st)
			if st.Action != change.Unchanged {
				reported[st.Resource] = true
			}
		}
	}
	done, err := resource.Apply(ctx, conn, first)
	if err != nil {
		p.pool.Forget(h.node)
		return entries(h, done), fmt.Sprintf("node %s: %v", h.Node, err)
	}
	out := entries(h, slices.DeleteFunc(done, func(s resource.Step) bool { return !reported[s.Resource] }))
	if h.pki, err = p.pki.probe(ctx, conn, h.Node); err != nil {
		p.pool.Forget(h.node)
		return append(out, change.Entry{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Failed, Message: err.Error()}), err.Error()
	}
	rs, err := p.renderNode(h.Node, h)
	if err == nil && h.deferredPKI {
		err = fmt.Errorf("node %s: keys still missing after they were generated", h.Node)
	}
	if err != nil {
		return append(out, change.Entry{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Failed, Message: err.Error()}), err.Error()
	}
	planHost(ctx, p.pool, h, rs, p.opts, roles.Header(roles.PlatformVersion(p.site)))
	if h.Err != nil {
		return append(out, change.Entry{Subject: "Host " + h.Addr, Host: h.Node, Action: change.Failed, Message: h.Err.Error()}), h.Err.Error()
	}
	if f := h.failed(); f != nil {
		return append(out, entries(h, h.Steps)...), f.Resource + ": " + f.Message
	}
	done, err = resource.Apply(ctx, conn, h.Steps)
	done = slices.DeleteFunc(done, func(s resource.Step) bool { return reported[s.Resource] })
	out = append(out, entries(h, done)...)
	if err != nil {
		p.pool.Forget(h.node)
		return out, fmt.Sprintf("node %s: %v", h.Node, err)
	}
	return out, ""
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
