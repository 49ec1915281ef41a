package hostsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// VolumeStorage prepares and releases Volumes on their nodes over the hostsync
// transport (reconciler/volumes.Storage). One call handles every Volume it is given:
// one connection and one plan per node, whatever the number of Volumes on it, so that
// a reconcile of a site with hundreds of Volumes costs a round trip per node, not per
// Volume. A Volume whose step cannot be taken (a device holding something that is not
// the Volume's), or fails when it runs, fails alone: the node's other Volumes are
// planned again without it and applied.
type VolumeStorage struct {
	// Options reach the nodes (Dial, TrustOnFirstUse, HostConcurrency, HostTimeout,
	// Pool); Render and Nodes are set per call.
	Options PlanOptions
}

// Prepare probes the nodes of specs and decides the steps that prepare each of them;
// with apply it runs them and reads each prepared Volume's Info. The outcomes are in
// the order of specs.
func (v *VolumeStorage) Prepare(ctx context.Context, site *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome {
	return v.run(ctx, site, specs, volume.Prepare, apply, true)
}

// Release is Prepare for releasing specs (volume.Release); there is no Info to read.
func (v *VolumeStorage) Release(ctx context.Context, site *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome {
	return v.run(ctx, site, specs, volume.Release, apply, false)
}

// volumeBatch is one call's Volumes: each spec's resources, and which resource IDs
// belong to which specs, so that a node's steps can be told apart by Volume. A
// resource several Volumes of a node share (the boot unit's template) is planned once
// and reported with the first of them.
type volumeBatch struct {
	specs  []volume.Spec
	res    [][]resource.Resource
	owners map[string][]int // resource ID → indexes in specs
	out    []volume.Outcome
}

func (v *VolumeStorage) run(ctx context.Context, site *schema.Site, specs []volume.Spec,
	resources func(volume.Spec) ([]resource.Resource, error), apply, info bool) []volume.Outcome {
	b := &volumeBatch{specs: specs, res: make([][]resource.Resource, len(specs)), owners: map[string][]int{}, out: make([]volume.Outcome, len(specs))}
	var todo []int
	for i, s := range specs {
		if _, ok := site.Node(s.Node); !ok {
			b.fail(i, fmt.Errorf("node %s is not in the site", s.Node))
			continue
		}
		rs, err := resources(s)
		if err != nil {
			b.fail(i, fmt.Errorf("node %s: %w", s.Node, err))
			continue
		}
		b.res[i] = rs
		for _, r := range rs {
			b.owners[r.ID()] = append(b.owners[r.ID()], i)
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return b.out
	}
	po := v.Options
	if po.Pool == nil {
		pool := NewPool(transport.DialOptions{Dial: po.Dial, TrustOnFirstUse: po.TrustOnFirstUse})
		defer pool.Close()
		po.Pool = pool
	}
	if !apply {
		b.plan(ctx, site, po, todo)
		return b.out
	}
	p, todo := b.planToApply(ctx, site, po, todo)
	if p == nil || len(todo) == 0 {
		return b.out
	}
	b.apply(ctx, site, po, p, todo)
	if info {
		b.readInfo(ctx, site, po, todo)
	}
	return b.out
}

// apply applies p, the plan of the Volumes todo, and records their steps. A step that
// fails when it runs (mkfs refusing a size, say: no probe tells) stops its node's
// script, and the steps of the node's other Volumes after it are not attempted: those
// Volumes are planned and applied again without the failed ones, until a round fails
// none, so that one Volume never keeps the others of its node from being prepared.
func (b *volumeBatch) apply(ctx context.Context, site *schema.Site, po PlanOptions, p *HostsPlan, todo []int) {
	// earlier holds the steps of a Volume applied again, from the rounds before.
	earlier := map[int]change.Set{}
	defer func() {
		for i, steps := range earlier {
			b.out[i].Steps = mergeRounds(steps, b.out[i].Steps)
		}
	}()
	for p != nil && p.Changed() {
		applied, _ := Apply(ctx, p, ApplyOptions{HostConcurrency: po.HostConcurrency, HostTimeout: po.HostTimeout})
		b.record(todo, applied)
		failedOn := map[string]bool{}
		for _, i := range todo {
			if b.out[i].Err != nil {
				failedOn[b.specs[i].Node] = true
			}
		}
		var again []int
		for _, i := range todo {
			if b.out[i].Err == nil && failedOn[b.specs[i].Node] {
				again = append(again, i)
				earlier[i] = mergeRounds(earlier[i], b.out[i].Steps)
			}
		}
		if len(again) == 0 {
			return
		}
		p, todo = b.planToApply(ctx, site, po, again)
	}
}

// planToApply plans the Volumes todo for Apply, which refuses a host whose plan cannot
// converge: a Volume whose step cannot be taken is left out (its outcome says why) and
// the others are planned again without it.
func (b *volumeBatch) planToApply(ctx context.Context, site *schema.Site, po PlanOptions, todo []int) (*HostsPlan, []int) {
	p, failed := b.plan(ctx, site, po, todo)
	if len(failed) == 0 {
		return p, todo
	}
	todo = slices.DeleteFunc(slices.Clone(todo), func(i int) bool { return slices.Contains(failed, i) })
	if len(todo) == 0 {
		return nil, nil
	}
	p, _ = b.plan(ctx, site, po, todo)
	return p, todo
}

// mergeRounds are the steps of a Volume applied in two rounds: a step the first round
// took (which the second then finds unchanged) keeps the first round's entry.
func mergeRounds(first, second change.Set) change.Set {
	next := make(map[string]change.Entry, len(second))
	for _, e := range second {
		next[e.Subject] = e
	}
	out := make(change.Set, 0, len(first))
	for _, e := range first {
		if n, ok := next[e.Subject]; ok {
			if n.Action != change.Unchanged || e.Action == change.Skipped {
				e = n
			}
			delete(next, e.Subject)
		}
		out = append(out, e)
	}
	for _, e := range second {
		if _, ok := next[e.Subject]; ok {
			out = append(out, e)
		}
	}
	return out
}

// plan plans the Volumes todo and records their steps; it returns the plan and the
// Volumes that failed.
func (b *volumeBatch) plan(ctx context.Context, site *schema.Site, po PlanOptions, todo []int) (*HostsPlan, []int) {
	po.Nodes, po.Render = nil, func(_ *schema.Site, node string) ([]resource.Resource, error) {
		var out []resource.Resource
		seen := map[string]bool{}
		for _, i := range todo {
			if b.specs[i].Node != node {
				continue
			}
			for _, r := range b.res[i] {
				if !seen[r.ID()] {
					seen[r.ID()] = true
					out = append(out, r)
				}
			}
		}
		return out, nil
	}
	for _, i := range todo {
		if !slices.Contains(po.Nodes, b.specs[i].Node) {
			po.Nodes = append(po.Nodes, b.specs[i].Node)
		}
	}
	p, err := Plan(ctx, site, po)
	if err != nil {
		for _, i := range todo {
			b.fail(i, err)
		}
		return nil, todo
	}
	b.record(todo, p.Entries())
	var failed []int
	for _, i := range todo {
		if b.out[i].Err != nil {
			failed = append(failed, i)
		}
	}
	return p, failed
}

// record replaces the steps of the Volumes todo by those of set: a resource's entry
// goes to the first of its Volumes in todo (a failure fails them all); a host-wide
// entry (a host that could not be reached) goes to every Volume of that host.
func (b *volumeBatch) record(todo []int, set change.Set) {
	for _, i := range todo {
		b.out[i].Steps = nil
	}
	for _, e := range set {
		if owners := b.ownersIn(e.Subject, todo); len(owners) > 0 {
			b.out[owners[0]].Steps = append(b.out[owners[0]].Steps, e)
			if e.Action == change.Failed {
				for _, i := range owners[1:] {
					b.out[i].Err = failedIn(change.Set{e})
				}
			}
			continue
		}
		for _, i := range todo {
			if b.specs[i].Node == e.Host {
				b.out[i].Steps = append(b.out[i].Steps, e)
			}
		}
	}
	for _, i := range todo {
		if err := failedIn(b.out[i].Steps); err != nil {
			b.out[i].Err = err
		}
	}
}

// ownersIn are the Volumes of todo the resource id belongs to.
func (b *volumeBatch) ownersIn(id string, todo []int) []int {
	var out []int
	for _, i := range b.owners[id] {
		if slices.Contains(todo, i) {
			out = append(out, i)
		}
	}
	return out
}

func (b *volumeBatch) fail(i int, err error) {
	b.out[i].Err = fmt.Errorf("volume %s: %w", b.specs[i].Name, err)
}

// readInfo reads, in one script per node, what the PersistentVolume of each prepared
// Volume needs; a Volume whose device does not hold what it should fails.
func (b *volumeBatch) readInfo(ctx context.Context, site *schema.Site, po PlanOptions, todo []int) {
	byNode := map[string][]int{}
	var nodes []string
	for _, i := range todo {
		if n := b.specs[i].Node; b.out[i].Err == nil {
			if _, ok := byNode[n]; !ok {
				nodes = append(nodes, n)
			}
			byNode[n] = append(byNode[n], i)
		}
	}
	forEach(nodes, po.HostConcurrency, func(node string) {
		b.readNodeInfo(ctx, site, po, node, byNode[node])
	})
}

func (b *volumeBatch) readNodeInfo(ctx context.Context, site *schema.Site, po PlanOptions, node string, idx []int) {
	fail := func(err error) {
		for _, i := range idx {
			b.out[i].Err = fmt.Errorf("volume %s: node %s: reading the prepared device: %w", b.specs[i].Name, node, err)
		}
	}
	n, _ := site.Node(node)
	hctx, cancel := hostContext(ctx, po.HostTimeout)
	defer cancel()
	conn, err := po.Pool.Get(hctx, n)
	if err != nil {
		fail(err)
		return
	}
	// Each Volume's script runs in its own subshell (they exit on a failure), after a
	// marker line; its exit code and its stderr follow, marked too.
	var script strings.Builder
	script.WriteString("t=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$t\"' EXIT\n")
	for k, i := range idx {
		fmt.Fprintf(&script, "echo '%s%d'\n(\n%s\n) 2>\"$t/e\"\necho \"%s$?\"\nsed 's/^/%s/' \"$t/e\"\n",
			infoMarker, k, volume.InfoScript(b.specs[i]), infoRC, infoStderr)
	}
	res, err := conn.Run(hctx, []byte(script.String()))
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		po.Pool.Forget(n)
		fail(err)
		return
	}
	outs := splitInfo(res.Stdout, len(idx))
	for k, i := range idx {
		s, o := b.specs[i], outs[k]
		if o.rc != "0" {
			b.out[i].Err = fmt.Errorf("volume %s: node %s: reading the prepared device: exit %s: %s", s.Name, node, o.rc,
				strings.TrimSpace(o.stderr))
			continue
		}
		info, err := volume.ParseInfo(s, o.out)
		if err != nil {
			b.out[i].Err = fmt.Errorf("volume %s: node %s: %w", s.Name, node, err)
			continue
		}
		b.out[i].Info = info
	}
}

// Markers of a node's info script: a Volume's output starts after infoMarker and
// ends with its exit code (infoRC) and its stderr lines (infoStderr).
const (
	infoMarker = "@@mk8s-volume-info "
	infoRC     = "@@rc="
	infoStderr = "@@stderr:"
)

type infoOutput struct {
	out    []byte
	rc     string
	stderr string
}

// splitInfo cuts the output of a node's info script into n Volumes' outputs.
func splitInfo(stdout []byte, n int) []infoOutput {
	outs := make([]infoOutput, n)
	k := -1
	for _, l := range strings.SplitAfter(string(stdout), "\n") {
		t := strings.TrimRight(l, "\n")
		if rest, ok := strings.CutPrefix(t, infoMarker); ok {
			if _, err := fmt.Sscanf(rest, "%d", &k); err != nil {
				k = -1
			}
			continue
		}
		switch {
		case k < 0 || k >= n:
		case strings.HasPrefix(t, infoRC):
			outs[k].rc = strings.TrimPrefix(t, infoRC)
		case strings.HasPrefix(t, infoStderr):
			outs[k].stderr += strings.TrimPrefix(t, infoStderr) + "\n"
		default:
			outs[k].out = append(outs[k].out, l...)
		}
	}
	return outs
}

// failedIn is the first failed entry as an error, naming the node and the resource.
func failedIn(set change.Set) error {
	for _, e := range set {
		if e.Action == change.Failed {
			return errors.New("node " + e.Host + ": " + e.Subject + ": " + e.Message)
		}
	}
	return nil
}
