package objects

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fluxcd/pkg/ssa"
	ssaerrors "github.com/fluxcd/pkg/ssa/errors"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
)

// PlanOptions configure Plan.
type PlanOptions struct {
	// Objects are the desired objects (render.Objects). They are not modified.
	Objects []*unstructured.Unstructured
	// AllowPruneAll: see ApplyOptions.
	AllowPruneAll bool
	// Concurrency of the dry-run requests; default 8.
	Concurrency int
}

// Plan compares the desired objects with the cluster without changing it: each object
// that may have changed is server-side dry-run applied and diffed against the live
// object; inventoried objects the render no longer has are listed as deleted. Entries
// carry a unified diff (Secrets redacted) when they change content. The error reports
// objects the server refuses (as Apply would fail on them) and a refused prune-all.
func (m *Manager) Plan(ctx context.Context, opts PlanOptions) (change.Set, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	c, err := m.compare(ctx, opts.Objects)
	if err != nil {
		return nil, err
	}
	want, inv, stale, sel := c.want, c.inv, c.stale, c.sel
	pruneAllErr := refusePruneAll(inv, stale, opts.AllowPruneAll)
	var set change.Set
	for _, d := range sel.unchanged {
		set.Add(change.Entry{Subject: subjectOf(d.obj), Action: change.Unchanged})
	}

	// What the plan creates, so that an object whose namespace or CRD does not exist
	// yet is reported as created rather than failed.
	namespaces, kinds := createdBy(want)

	var mu sync.Mutex
	var errs []error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for _, d := range sel.check {
		g.Go(func() error {
			e, err := m.planOne(gctx, d.obj.DeepCopy(), namespaces, kinds)
			mu.Lock()
			defer mu.Unlock()
			set.Add(e)
			if err != nil {
				errs = append(errs, err)
			}
			return nil
		})
	}
	_ = g.Wait()

	verdicts, err := m.judgeStale(ctx, stale, inv, want)
	if err != nil {
		return nil, err
	}
	for _, v := range verdicts {
		e := change.Entry{Subject: subjectOf(v.obj), Action: v.action, Message: v.reason}
		if v.action == change.Failed {
			// As Apply's prune would fail on it.
			errs = append(errs, fmt.Errorf("prune %s: %s", e.Subject, v.reason))
		}
		if v.action == change.Deleted {
			if e.Diff, err = unifiedDiff(e.Subject, v.live, nil); err != nil {
				return nil, err
			}
		}
		set.Add(e)
	}
	if pruneAllErr != nil {
		errs = append(errs, pruneAllErr)
	}
	return set.Sorted(), errors.Join(errs...)
}

func (m *Manager) planOne(ctx context.Context, obj *unstructured.Unstructured, namespaces, kinds map[string]bool) (change.Entry, error) {
	name := subjectOf(obj)
	desiredCopy := obj.DeepCopy()
	// As Apply, recreate only an object whose desired version opts in (ssa's Diff would
	// also follow the live object's annotation).
	var force map[string]string
	if recreate := map[string]string{render.AnnotationRecreate: "true"}; utils.AnyInMetadata(obj, recreate) {
		force = recreate
	}
	e, live, merged, err := m.rm.Diff(ctx, obj, ssa.DiffOptions{ForceSelector: force})
	if err != nil {
		if dependsOnPlanned(err, desiredCopy, namespaces, kinds) {
			d, derr := unifiedDiff(name, nil, desiredCopy)
			return change.Entry{Subject: name, Action: change.Created, Diff: d}, derr
		}
		err = explainApplyError(err)
		return change.Entry{Subject: name, Action: change.Failed, Message: err.Error()}, err
	}
	out := change.Entry{Subject: name, Action: change.Action(e.Action)}
	switch e.Action {
	case ssa.CreatedAction:
		// Either new, or an opted-in object to be recreated because of an immutable field.
		before := m.getLive(ctx, desiredCopy)
		if before != nil {
			if err := m.checkRecreate(ctx, desiredCopy); err != nil {
				err = explainApplyError(ssaerrors.NewDryRunErr(err, desiredCopy))
				return change.Entry{Subject: name, Action: change.Failed, Message: err.Error()}, err
			}
			out.Message = "will be deleted and recreated (immutable field changed; " + render.AnnotationRecreate + ")"
		}
		out.Diff, err = unifiedDiff(name, before, desiredCopy)
	case ssa.ConfiguredAction:
		out.Diff, err = unifiedDiff(name, live, merged)
	}
	return out, err
}

func (m *Manager) getLive(ctx context.Context, obj *unstructured.Unstructured) *unstructured.Unstructured {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	if err := m.client.Get(ctx, clientKey(obj), live); err != nil {
		return nil
	}
	return live
}

// createdBy lists the namespaces and the kinds (group/Kind, from CRDs) that the
// desired objects define.
func createdBy(want []desired) (namespaces, kinds map[string]bool) {
	namespaces, kinds = map[string]bool{}, map[string]bool{}
	for _, d := range want {
		switch d.obj.GetKind() {
		case "Namespace":
			namespaces[d.obj.GetName()] = true
		case "CustomResourceDefinition":
			k, _, _ := unstructured.NestedString(d.obj.Object, "spec", "names", "kind")
			g, _, _ := unstructured.NestedString(d.obj.Object, "spec", "group")
			kinds[g+"/"+k] = true
		}
	}
	return namespaces, kinds
}

// dependsOnPlanned reports whether a dry-run failed only because the object's
// namespace or kind does not exist yet, and the plan creates it.
func dependsOnPlanned(err error, obj *unstructured.Unstructured, namespaces, kinds map[string]bool) bool {
	var dr *ssaerrors.DryRunErr
	under := err
	if errors.As(err, &dr) {
		under = dr.Unwrap()
	}
	gvk := obj.GroupVersionKind()
	if meta.IsNoMatchError(under) || meta.IsNoMatchError(err) {
		return kinds[gvk.Group+"/"+gvk.Kind]
	}
	if apierrors.IsNotFound(under) && obj.GetNamespace() != "" {
		return namespaces[obj.GetNamespace()]
	}
	return false
}
