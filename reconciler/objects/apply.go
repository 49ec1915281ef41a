package objects

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	ssaerrors "github.com/fluxcd/pkg/ssa/errors"
	"github.com/fluxcd/pkg/ssa/utils"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
)

// ApplyOptions configure Apply.
type ApplyOptions struct {
	// Objects are the desired objects (render.Objects). They are not modified.
	Objects []*unstructured.Unstructured
	// AllowPruneAll lets a render that keeps none of the inventoried objects prune them
	// all. Without it such a render is refused before anything is touched.
	AllowPruneAll bool
	// Wait for the applied objects to be healthy (kstatus) before returning.
	Wait bool
	// WaitTimeout bounds the health wait; default 2m.
	WaitTimeout time.Duration
	// StageTimeout bounds the wait for CRDs and namespaces to be ready before the objects
	// that need them are applied; default 1m.
	StageTimeout time.Duration
}

// Apply converges the cluster to the desired objects: server-side apply in stages
// (CRDs, namespaces and cluster roles, then classes, then everything else), prune of
// what the inventory says mk8s created and the render no longer has, health wait. An
// unchanged site against an unchanged cluster makes no write request and no dry-run.
//
// The returned set has one entry per desired or pruned object. On error it holds what
// was done, the object the apply stopped at (failed) and every other one skipped, and
// the inventory keeps every object that may exist.
func (m *Manager) Apply(ctx context.Context, opts ApplyOptions) (change.Set, error) {
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 2 * time.Minute
	}
	if opts.StageTimeout == 0 {
		opts.StageTimeout = time.Minute
	}
	c, err := m.compare(ctx, opts.Objects)
	if err != nil {
		return nil, err
	}
	if err := refusePruneAll(c.inv, c.stale, opts.AllowPruneAll); err != nil {
		return nil, err
	}
	want, inv, stale, sel := c.want, c.inv, c.stale, c.sel

	var set change.Set
	for _, d := range sel.unchanged {
		set.Add(change.Entry{Subject: subjectOf(d.obj), Action: change.Unchanged})
	}
	m.takeApplied()
	cs, applyErr := m.applyStaged(ctx, sel, opts)
	applied, writes := m.takeApplied()
	if applyErr != nil && writes == 0 {
		// Refused before the first write (an object the API server rejects, say):
		// nothing changed, and nothing new needs remembering.
		err := explainApplyError(applyErr)
		set = append(set, stopped(applyErr, err, sel.check, nil, stale)...)
		return set.Sorted(), err
	}

	byID := make(map[string]desired, len(want))
	for _, d := range want {
		byID[d.id] = d
	}
	done := map[string]bool{}
	for _, e := range cs {
		id := e.ObjMetadata.String()
		done[id] = true
		set.Add(change.Entry{Subject: utils.FmtObjMetadata(e.ObjMetadata), Action: change.Action(e.Action)})
		d, ok := byID[id]
		if !ok {
			continue
		}
		inv.entries[id] = InventoryEntry{ID: id, Version: d.obj.GroupVersionKind().Version}
		w, wrote := applied[id]
		inv.state[id] = stateAfterApply(inv.state[id], d.digest, sel.liveRV[id], w, wrote)
	}
	for _, d := range sel.unchanged {
		inv.entries[d.id] = InventoryEntry{ID: d.id, Version: d.obj.GroupVersionKind().Version}
		// An object found intact after someone else wrote it: remember its new
		// resourceVersion only when the inventory is written anyway (a no-op writes nothing).
		if st := inv.state[d.id]; st.ResourceVersion != sel.liveRV[d.id] {
			inv.lazyRV[d.id] = sel.liveRV[d.id]
		}
	}

	if applyErr != nil {
		// Interrupted: remember every desired object, since any of them may now exist,
		// so that the next reconcile (or a prune) still knows it. Objects not confirmed
		// keep no state, so the next reconcile checks them with the server.
		for _, d := range sel.check {
			if !done[d.id] {
				inv.entries[d.id] = InventoryEntry{ID: d.id, Version: d.obj.GroupVersionKind().Version}
				// Whether mk8s created it is not forgotten: without that, prune would
				// never delete it.
				st := objectState{CreatedUID: inv.state[d.id].CreatedUID}
				if w, ok := applied[d.id]; ok {
					// Written before the stop (by a stage that then failed): what it
					// created or recreated is mk8s's.
					st = stateAfterApply(inv.state[d.id], d.digest, "", w, true)
					a := change.Configured
					if w.created {
						a = change.Created
					}
					set.Add(change.Entry{Subject: subjectOf(d.obj), Action: a})
					done[d.id] = true
				}
				inv.state[d.id] = st
			}
		}
		err := explainApplyError(applyErr)
		set = append(set, stopped(applyErr, err, sel.check, done, stale)...)
		return set.Sorted(), errors.Join(err, m.saveInventoryAfter(ctx, inv))
	}

	pruned, pruneErr := m.prune(ctx, stale, inv, want)
	set = append(set, pruned...)

	var waitErr error
	if opts.Wait {
		waitErr = m.wait(ctx, cs, opts.WaitTimeout)
	}
	saveErr := m.saveInventoryAfter(ctx, inv)
	return set.Sorted(), errors.Join(pruneErr, waitErr, saveErr)
}

// saveInventoryAfter saves the inventory at the end of an apply, even one cancelled
// midway (Ctrl-C): without it, what mk8s created would be taken for adopted and never
// pruned. The save gets its own bound, counted from now rather than from the start of
// an apply that may have waited minutes for health.
func (m *Manager) saveInventoryAfter(ctx context.Context, inv *inventory) error {
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return m.saveInventory(saveCtx, inv)
}

// applyStaged applies the objects that may have changed. Cluster definitions (CRDs,
// namespaces, cluster roles) and classes go through ssa's ApplyAllStaged, which waits
// for them to be ready before anything that needs them; the rest goes through
// applyBulk (each object dry-run first, written only when it drifted).
func (m *Manager) applyStaged(ctx context.Context, sel *selection, opts ApplyOptions) ([]ssa.ChangeSetEntry, error) {
	check := sel.check
	if len(check) == 0 {
		return nil, nil
	}
	ao := ssa.ApplyOptions{
		ForceSelector: map[string]string{render.AnnotationRecreate: "true"},
		WaitInterval:  500 * time.Millisecond,
		WaitTimeout:   opts.StageTimeout,
	}
	// defs go through ssa's staged apply; checked are those of them checked here first.
	var defs, checked, rest []*unstructured.Unstructured
	for _, d := range check {
		// ssa sorts its input in place and strips CRD caBundles: give it copies.
		o := d.obj.DeepCopy()
		switch {
		case utils.IsClusterDefinition(o):
			defs = append(defs, o)
			if utils.AnyInMetadata(o, ao.ForceSelector) {
				// ssa would delete it to recreate it before finding the new one invalid.
				checked = append(checked, o.DeepCopy())
			}
		case utils.IsClassDefinition(o):
			defs, checked = append(defs, o), append(checked, o.DeepCopy())
		default:
			rest = append(rest, o)
		}
	}
	// Every object is checked by the server before anything is written, so that an
	// object it refuses changes nothing: cluster definitions by ssa's own dry-run of
	// their stage (the first; those that opt in to recreation here too), classes and the
	// rest here. Only an object whose namespace or kind this apply creates cannot be
	// checked yet; it is checked once they exist.
	namespaces, kinds := createdBy(check)
	absent, err := m.absentDefinitions(ctx, sel)
	if err != nil {
		return nil, err
	}
	absentNS, absentKinds := createdBy(absent)
	later := deferral{
		absent: func(o *unstructured.Unstructured) bool {
			gvk := o.GroupVersionKind()
			return absentNS[o.GetNamespace()] || absentKinds[gvk.Group+"/"+gvk.Kind]
		},
		refused: func(o *unstructured.Unstructured, err error) bool { return dependsOnPlanned(err, o, namespaces, kinds) },
	}
	if _, err := m.dryRunAll(ctx, checked, ao, later); err != nil {
		return nil, err
	}
	pre, err := m.dryRunAll(ctx, rest, ao, later)
	if err != nil {
		return nil, err
	}
	var out []ssa.ChangeSetEntry
	if len(defs) > 0 {
		cs, err := m.rm.ApplyAllStaged(ctx, defs, ao)
		if cs != nil {
			out = append(out, cs.Entries...)
		}
		if err != nil {
			return out, err
		}
	}
	cs, err := m.applyBulk(ctx, rest, pre, ao)
	out = append(out, cs...)
	return out, err
}

// absentDefinitions are the namespaces and CRDs of the apply that do not exist yet. The
// per-kind lists only see objects carrying our labels, so one that they did not find is
// read to tell absent from not yet ours.
func (m *Manager) absentDefinitions(ctx context.Context, sel *selection) ([]desired, error) {
	var out []desired
	for _, d := range sel.check {
		kind := d.obj.GetKind()
		if kind != "Namespace" && kind != "CustomResourceDefinition" {
			continue
		}
		if _, found := sel.liveRV[d.id]; found {
			continue
		}
		live := &metav1.PartialObjectMetadata{}
		live.SetGroupVersionKind(d.obj.GroupVersionKind())
		err := m.client.Get(ctx, clientKey(d.obj), live)
		switch {
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			out = append(out, d)
		case err != nil:
			return nil, fmt.Errorf("%s: read: %w", subjectOf(d.obj), err)
		}
	}
	return out, nil
}

// stateAfterApply is what the inventory remembers of an object the apply examined or
// wrote: its desired digest, the resourceVersion last seen, and whether mk8s created
// it. An object counts as created by mk8s when mk8s's apply created it (the server
// answered 201; a recreation of an opted-in object too) and mk8s was then its only
// field manager; an object that existed before (kubectl, an installer, another tool)
// stays adopted, never created.
func stateAfterApply(prev objectState, digest, liveRV string, w written, wrote bool) objectState {
	st := objectState{Digest: digest, ResourceVersion: liveRV, CreatedUID: prev.CreatedUID}
	if !wrote {
		return st
	}
	st.ResourceVersion = w.resourceVersion
	// Only a write that created the object (201) makes it mk8s's, a recreation
	// (immutable field, opted in) too; taking over every field of an object someone
	// else recreated does not.
	if w.onlyMk8s && w.created {
		st.CreatedUID = w.uid
	}
	return st
}

// stopped reports an apply that stopped on applyErr (explained as err): the object it
// stopped at failed, and every other object it did not get to (not done, and the
// prunes) is skipped, so that the result still has one entry per object.
func stopped(applyErr, err error, check []desired, done map[string]bool, stale []InventoryEntry) change.Set {
	failed := failedSubject(applyErr)
	if failed == "apply" {
		// ssa's own errors name the object first: "Kind/namespace/name apply failed: …".
		for _, d := range check {
			if s := subjectOf(d.obj); strings.HasPrefix(applyErr.Error(), s+" ") {
				failed = s
				break
			}
		}
	}
	set := change.Set{{Subject: failed, Action: change.Failed, Message: err.Error()}}
	for _, d := range check {
		if s := subjectOf(d.obj); !done[d.id] && s != failed {
			set.Add(change.Entry{Subject: s, Action: change.Skipped, Message: "not applied: the apply stopped at " + failed})
		}
	}
	for _, e := range stale {
		if u, err := e.stub(); err == nil {
			set.Add(change.Entry{Subject: subjectOf(u), Action: change.Skipped, Message: "not pruned: the apply stopped at " + failed})
		}
	}
	return set
}

// failedSubject names the object an apply error is about (Kind/namespace/name), or
// "apply" when the error names none.
func failedSubject(err error) string {
	var ie *ImmutableError
	if errors.As(err, &ie) {
		return ie.Subject
	}
	if e := explainApplyError(err); errors.As(e, &ie) {
		return ie.Subject
	}
	if o := ObjectOf(explainApplyError(err)); o != nil {
		return subjectOf(o)
	}
	var dr *ssaerrors.DryRunErr
	if errors.As(err, &dr) && dr.InvolvedObject() != nil {
		return subjectOf(dr.InvolvedObject())
	}
	var we *writeError
	if errors.As(err, &we) {
		return we.subject
	}
	return "apply"
}

// writeError is a failed write of one object.
type writeError struct {
	subject string
	err     error
}

func (e *writeError) Error() string { return fmt.Sprintf("%s apply failed: %v", e.subject, e.err) }
func (e *writeError) Unwrap() error { return e.err }

// wait waits for the created and configured objects to be healthy (kstatus).
func (m *Manager) wait(ctx context.Context, cs []ssa.ChangeSetEntry, timeout time.Duration) error {
	var set object.ObjMetadataSet
	for _, e := range cs {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction {
			set = append(set, e.ObjMetadata)
		}
	}
	if len(set) == 0 {
		return nil
	}
	if err := m.rm.WaitForSetWithContext(ctx, set, ssa.WaitOptions{Interval: time.Second, Timeout: timeout}); err != nil {
		return fmt.Errorf("wait for health: %w", err)
	}
	return nil
}

// staleEntries are the inventoried objects the render no longer has.
func staleEntries(inv *inventory, want []desired) []InventoryEntry {
	keep := make(map[string]bool, len(want))
	for _, d := range want {
		keep[d.id] = true
	}
	var out []InventoryEntry
	for id, e := range inv.entries {
		if !keep[id] {
			out = append(out, e)
		}
	}
	return out
}

// ErrPruneAll refuses a render that would delete every object mk8s manages.
var ErrPruneAll = errors.New("refusing to prune every object mk8s manages: the render keeps none of them")

func refusePruneAll(inv *inventory, stale []InventoryEntry, allow bool) error {
	if allow || len(inv.entries) == 0 || len(stale) < len(inv.entries) {
		return nil
	}
	return fmt.Errorf("%w (%d objects); nothing was changed. If this is intended, run again with --allow-prune-all",
		ErrPruneAll, len(stale))
}

// comparison is where Apply and Plan both start, so that a plan is computed exactly as
// the apply it announces: the desired objects (scope-checked and prepared), the
// inventory, the inventoried objects the render no longer has, and the objects that
// may have changed.
type comparison struct {
	want  []desired
	inv   *inventory
	stale []InventoryEntry
	sel   *selection
}

func (m *Manager) compare(ctx context.Context, objects []*unstructured.Unstructured) (*comparison, error) {
	objs, err := m.scoped(objects)
	if err != nil {
		return nil, err
	}
	want, err := prepare(objs)
	if err != nil {
		return nil, err
	}
	inv, err := m.loadInventory(ctx)
	if err != nil {
		return nil, err
	}
	sel, err := m.selectChanged(ctx, want, inv)
	if err != nil {
		return nil, err
	}
	return &comparison{want: want, inv: inv, stale: staleEntries(inv, want), sel: sel}, nil
}
