package objects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	ssaerrors "github.com/fluxcd/pkg/ssa/errors"
	"github.com/fluxcd/pkg/ssa/normalize"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/reconciler/volumes"
	"github.com/metalk8s/mk8s/schema"
)

// dryRunResult is what the server-side dry-run of one object decided.
type dryRunResult struct {
	entry ssa.ChangeSetEntry
	apply bool // the object is new or drifted: write it
	force bool // an immutable field changed and the object opted in to recreation
	// deferred: the dry-run failed only because the object's namespace or kind does
	// not exist yet and this apply creates it; it is checked again once it exists.
	deferred bool
}

// deferral says which objects cannot be dry-run yet because their namespace or kind
// does not exist and this apply creates it.
type deferral struct {
	// absent: known up front (the per-kind lists did not find the namespace or CRD);
	// such an object is not sent at all.
	absent func(*unstructured.Unstructured) bool
	// refused: the dry-run failed for that reason.
	refused func(*unstructured.Unstructured, error) bool
}

// dryRunAll server-side dry-run applies every object, concurrently, and fails on the
// first object the server refuses. The live object is read only when the object
// exists (a new object needs no GET). Objects the deferral names are marked deferred
// instead.
func (m *Manager) dryRunAll(ctx context.Context, objs []*unstructured.Unstructured, ao ssa.ApplyOptions, later deferral) ([]dryRunResult, error) {
	results := make([]dryRunResult, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency)
	for i, obj := range objs {
		if later.absent != nil && later.absent(obj) {
			results[i] = dryRunResult{deferred: true}
			continue
		}
		g.Go(func() error {
			dry := obj.DeepCopy()
			err := m.client.Patch(gctx, dry, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(FieldManager))
			if err != nil {
				switch {
				case utils.AnyInMetadata(obj, ao.ForceSelector) && ssaerrors.IsImmutableError(err) && !apierrors.IsNotFound(err):
					// ssa's test also matches any invalid object: the live one would be
					// deleted and the new one refused.
					if err := m.checkRecreate(gctx, obj); err != nil {
						return ssaerrors.NewDryRunErr(err, obj)
					}
					results[i] = dryRunResult{force: true}
					return nil
				case later.refused != nil && later.refused(obj, err):
					results[i] = dryRunResult{deferred: true}
					return nil
				}
				return ssaerrors.NewDryRunErr(err, obj)
			}
			action := ssa.CreatedAction
			if dry.GetResourceVersion() != "" {
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(obj.GroupVersionKind())
				if err := m.client.Get(gctx, client.ObjectKeyFromObject(obj), live); err != nil {
					return fmt.Errorf("%s: read: %w", subjectOf(obj), err)
				}
				action = ssa.UnchangedAction
				if drifted(live, dry) {
					action = ssa.ConfiguredAction
				}
			}
			results[i] = dryRunResult{entry: changeSetEntry(obj, action), apply: action != ssa.UnchangedAction}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// checkRecreate checks that an opted-in object may be deleted to be recreated: never a
// Volume whose PersistentVolume is Bound (DESIGN §4), and only when the server would
// accept obj as a new object (a dry-run create validates the object before it finds
// the name taken). An IP or port the live object holds (a Service's fixed nodePort) is
// freed by the deletion, so it is no refusal.
func (m *Manager) checkRecreate(ctx context.Context, obj *unstructured.Unstructured) error {
	if obj.GroupVersionKind().Group == "storage.metalk8s.scality.com" && obj.GetKind() == schema.KindVolume {
		if bound, pv := m.volumeBound(ctx, obj.GetName()); bound {
			return &boundVolumeError{pv: pv}
		}
		// Its storage is released, and its finalizer removed, by the Volumes phase, which
		// runs after the objects: waiting here for its deletion would wait for ever.
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(obj.GroupVersionKind())
		if err := m.client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if slices.Contains(live.GetFinalizers(), volumes.Finalizer) {
			return errPreparedVolume
		}
	}
	err := m.client.Create(ctx, obj.DeepCopy(), client.DryRunAll, client.FieldOwner(FieldManager))
	if err == nil || apierrors.IsAlreadyExists(err) || onlyAllocated(err) {
		return nil
	}
	return err
}

// boundVolumeError refuses to recreate a Volume whose PersistentVolume is Bound.
type boundVolumeError struct{ pv string }

func (e *boundVolumeError) Error() string {
	return fmt.Sprintf("the change touches an immutable field, so the Volume would be deleted and recreated, "+
		"but its PersistentVolume %s is Bound and mk8s never deletes a bound Volume; revert the change, or release the volume first", e.pv)
}

// errPreparedVolume refuses to recreate a Volume whose storage is prepared.
var errPreparedVolume = errors.New("the change touches an immutable field, so the Volume would be deleted and recreated, " +
	"but its storage is prepared and is only released once the Volume is deleted, after the objects are applied; " +
	"to move it, remove the Volume from the site and reconcile (its storage is released), then add it back")

// onlyAllocated: every cause of the refusal is an IP or port already allocated.
func onlyAllocated(err error) bool {
	var st apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &st) || st.Status().Details == nil || len(st.Status().Details.Causes) == 0 {
		return false
	}
	for _, c := range st.Status().Details.Causes {
		if !strings.Contains(c.Message, "already allocated") {
			return false
		}
	}
	return true
}

// applyBulk applies the objects of the last stage (everything but cluster and class
// definitions) with ssa's ApplyAll algorithm, made concurrent end to end:
//
//  1. every object has been server-side dry-run before anything was written (pre, from
//     dryRunAll); the ones deferred then, because their namespace or kind did not exist,
//     are dry-run now. If any dry-run fails, nothing more is written;
//  2. the objects whose dry-run result differs from the live object (ssa's drift rule:
//     labels, annotations, or anything but metadata and status, normalised) are
//     applied, concurrently.
//
// ssa's ApplyAll reads every object first and writes one object after the other; on
// 1,000 objects that costs a third more requests and leaves the writes sequential
// (see BENCHMARKS.md). Objects that opt in to recreation and hit an immutable field go
// through ssa's ApplyAll, which deletes them, waits until they are gone and applies.
func (m *Manager) applyBulk(ctx context.Context, objs []*unstructured.Unstructured, pre []dryRunResult, ao ssa.ApplyOptions) ([]ssa.ChangeSetEntry, error) {
	results := slices.Clone(pre)
	var later []*unstructured.Unstructured
	var at []int
	for i, r := range results {
		if r.deferred {
			later, at = append(later, objs[i]), append(at, i)
		}
	}
	if len(later) > 0 {
		checked, err := m.dryRunAll(ctx, later, ao, deferral{})
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			results[i] = checked[j]
		}
	}

	var mu sync.Mutex
	var out []ssa.ChangeSetEntry
	var force []*unstructured.Unstructured
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency)
	for i, r := range results {
		switch {
		case r.force:
			force = append(force, objs[i])
		case !r.apply:
			out = append(out, r.entry)
		default:
			g.Go(func() error {
				// After a refusal no new write starts, but those already sent are not
				// abandoned: what the server wrote must be known (created by mk8s).
				if err := gctx.Err(); err != nil {
					return err // the group keeps the first error, the one that stopped it
				}
				err := m.client.Patch(ctx, objs[i].DeepCopy(), client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager))
				if err != nil {
					return &writeError{subject: subjectOf(objs[i]), err: err}
				}
				mu.Lock()
				out = append(out, r.entry)
				mu.Unlock()
				return nil
			})
		}
	}
	err := g.Wait()
	// One object at a time: ssa's ApplyAll deletes every object it recreates before it
	// applies the first, so a refusal would leave the later ones deleted.
	for _, o := range force {
		if err != nil {
			break
		}
		var cs *ssa.ChangeSet
		cs, err = m.rm.ApplyAll(ctx, []*unstructured.Unstructured{o}, ao)
		if cs != nil {
			out = append(out, cs.Entries...)
		}
	}
	return out, err
}

// drifted is ssa's drift rule (manager_diff.go hasDrifted): the object is new, or its
// labels or annotations differ, or anything but metadata and status differs once both
// sides are normalised.
func drifted(live, dry *unstructured.Unstructured) bool {
	if dry.GetResourceVersion() == "" {
		return true
	}
	if !apiequality.Semantic.DeepEqual(dry.GetLabels(), live.GetLabels()) ||
		!apiequality.Semantic.DeepEqual(dry.GetAnnotations(), live.GetAnnotations()) {
		return true
	}
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		unstructured.RemoveNestedField(c.Object, "metadata")
		unstructured.RemoveNestedField(c.Object, "status")
		if err := normalize.DryRunUnstructured(c); err != nil {
			return u.Object
		}
		return c.Object
	}
	return !apiequality.Semantic.DeepEqual(strip(live), strip(dry))
}

func changeSetEntry(u *unstructured.Unstructured, action ssa.Action) ssa.ChangeSetEntry {
	return ssa.ChangeSetEntry{
		ObjMetadata:  object.UnstructuredToObjMetadata(u),
		GroupVersion: u.GroupVersionKind().Version,
		Subject:      utils.FmtUnstructured(u),
		Action:       action,
	}
}
