package volumes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// run is Reconcile (apply) and Plan (not apply): one path, so that a plan is exactly
// what a reconcile does.
func (m *Manager) run(ctx context.Context, site *schema.Site, apply bool) (change.Set, error) {
	live, err := m.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	var out change.Set
	var errs []error
	seen := map[string]bool{}
	for _, vol := range live {
		seen[vol.GetName()] = true
		var set change.Set
		var err error
		if vol.GetDeletionTimestamp() != nil {
			set, err = m.finalize(ctx, site, vol, apply)
		} else if v := siteVolume(site, vol.GetName()); v != nil {
			set, err = m.deploy(ctx, site, v, vol, apply)
		}
		// A Volume of ours the site no longer has and not yet deleted: prune decides
		// (it keeps a bound one), and the next run finalizes it.
		out = append(out, set...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Volumes the objects half will create: their UID, hence their storage, comes once
	// the API server has them (the plan of a first install).
	for i := range site.Volumes {
		v := &site.Volumes[i]
		if !seen[v.Name] {
			out = append(out, change.Entry{Subject: "VolumeStorage/" + v.Name, Host: v.NodeName, Action: change.Created,
				Message: "prepared on " + v.NodeName + " once the API server has created Volume/" + v.Name + " (its UID names the storage)"})
		}
	}
	return out, errors.Join(errs...)
}

func (m *Manager) listVolumes(ctx context.Context) ([]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(schema.APIVersionVolume)
	list.SetKind(schema.KindVolume + "List")
	if err := m.client.List(ctx, list, client.MatchingLabels(render.OwnershipLabels(m.site))); err != nil {
		if apierrors.IsNotFound(err) || strings.Contains(err.Error(), "no matches for kind") {
			return nil, nil // no Volume CRD yet: nothing to do
		}
		return nil, fmt.Errorf("listing Volumes: %w", err)
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

func siteVolume(site *schema.Site, name string) *schema.Volume {
	for i := range site.Volumes {
		if site.Volumes[i].Name == name {
			return &site.Volumes[i]
		}
	}
	return nil
}

// deploy makes a present Volume real: finalizer first, then storage, then the
// PersistentVolume, then Available. Each step is idempotent, so a run killed anywhere
// is finished by the next (the storage probe finds a filesystem already made).
func (m *Manager) deploy(ctx context.Context, site *schema.Site, v *schema.Volume, vol *unstructured.Unstructured, apply bool) (change.Set, error) {
	subject := "Volume/" + v.Name
	var out change.Set
	if !slices.Contains(vol.GetFinalizers(), Finalizer) {
		out = append(out, change.Entry{Subject: subject, Action: change.Configured, Message: "finalizer " + Finalizer + " added"})
		if apply {
			vol.SetFinalizers(append(vol.GetFinalizers(), Finalizer))
			if err := m.client.Update(ctx, vol); err != nil {
				return out, fmt.Errorf("%s: adding the finalizer: %w", subject, err)
			}
		}
	}
	fail := func(err error) (change.Set, error) {
		err = fmt.Errorf("%s: %w", subject, err)
		out = append(out, change.Entry{Subject: subject, Action: change.Failed, Message: err.Error()})
		if _, serr := m.setStatus(ctx, vol, state{phase: PhaseFailed, ready: readiness(PhaseFailed), reason: "PreparationFailed", message: err.Error()}, apply); serr != nil {
			err = errors.Join(err, serr)
		}
		return out, err
	}
	spec, sc, err := specFor(site, v, string(vol.GetUID()))
	if err != nil {
		return fail(err)
	}
	pv, pvExists, err := m.getPV(ctx, v.Name)
	if err != nil {
		return fail(err)
	}
	st := liveState(vol)
	// Pending marks a Volume seen for the first time; a Failed one stays Failed until it
	// succeeds, so that a repeated failure writes nothing.
	if st.phase == "" {
		if _, err := m.setStatus(ctx, vol, state{phase: PhasePending, ready: readiness(PhasePending), reason: "Pending", message: "preparing the storage on " + v.NodeName}, apply); err != nil {
			return fail(err)
		}
	}
	steps, info, err := m.storage.Prepare(ctx, site, spec, apply)
	out = append(out, steps...)
	if err != nil {
		return fail(err)
	}
	switch {
	case pvExists && !isOurs(pv, m.site):
		return fail(fmt.Errorf("PersistentVolume/%s exists and was not created by mk8s: it is left alone", v.Name))
	case !pvExists:
		e := change.Entry{Subject: "PersistentVolume/" + v.Name, Action: change.Created,
			Message: fmt.Sprintf("on %s, node %s", spec.Mode, v.NodeName)}
		if apply {
			want := desiredPV(m.site, v, vol, spec, sc, info)
			e.Message = fmt.Sprintf("%s on node %s, %d bytes", info.Path, v.NodeName, info.SizeBytes)
			if err := m.client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
				return fail(fmt.Errorf("creating PersistentVolume/%s: %w", v.Name, err))
			}
		}
		out = append(out, e)
	}
	device := info.DeviceName
	if !apply {
		device = st.deviceName
	}
	changed, err := m.setStatus(ctx, vol, state{phase: PhaseAvailable, deviceName: device, ready: readiness(PhaseAvailable), reason: "Available",
		message: "storage prepared and PersistentVolume created"}, apply)
	if err != nil {
		return fail(err)
	}
	if changed {
		out = append(out, change.Entry{Subject: subject, Action: change.Configured, Message: "status " + PhaseAvailable})
	} else if onlyUnchanged(out) {
		out = append(out, change.Entry{Subject: subject, Action: change.Unchanged})
	}
	return out, nil
}

func onlyUnchanged(s change.Set) bool {
	for _, e := range s {
		if e.Action != change.Unchanged {
			return false
		}
	}
	return true
}

// finalize releases a Volume being deleted, unless its PersistentVolume is bound: then
// nothing changes and the deletion waits (MetalK8s: "the volume will be marked for
// deletion and remain available"). There is no Pending Volume to wait for here: a
// Volume is prepared within one run of the reconciler, never concurrently with this.
func (m *Manager) finalize(ctx context.Context, site *schema.Site, vol *unstructured.Unstructured, apply bool) (change.Set, error) {
	name := vol.GetName()
	subject := "Volume/" + name
	if !slices.Contains(vol.GetFinalizers(), Finalizer) {
		return nil, nil
	}
	pv, pvExists, err := m.getPV(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if pvExists {
		if claim := boundClaim(pv); claim != "" {
			msg := fmt.Sprintf("deletion waits: PersistentVolume/%s is bound to PersistentVolumeClaim %s; nothing is released while it is", name, claim)
			if _, err := m.setStatus(ctx, vol, state{phase: liveState(vol).phase, deviceName: liveState(vol).deviceName, ready: liveState(vol).ready, reason: "DeletionWaitsForClaim", message: msg}, apply); err != nil {
				return nil, err
			}
			return change.Set{{Subject: subject, Action: change.Skipped, Disruptive: change.VolumeRemoval, Message: msg}}, nil
		}
	}
	var out change.Set
	if _, err := m.setStatus(ctx, vol, state{phase: PhaseTerminating, deviceName: liveState(vol).deviceName, ready: readiness(PhaseTerminating), reason: "Terminating", message: "releasing the storage"}, apply); err != nil {
		return out, err
	}
	if pvExists {
		out = append(out, change.Entry{Subject: "PersistentVolume/" + name, Action: change.Deleted, Disruptive: change.VolumeRemoval})
		if apply {
			if err := m.deletePV(ctx, pv); err != nil {
				return out, fmt.Errorf("%s: %w", subject, err)
			}
		}
	}
	spec, err := releaseSpec(site, vol)
	if err != nil {
		out = append(out, change.Entry{Subject: subject, Action: change.Failed, Message: err.Error()})
		return out, fmt.Errorf("%s: %w", subject, err)
	}
	steps, err := m.storage.Release(ctx, site, spec, apply)
	out = append(out, steps...)
	if err != nil {
		err = fmt.Errorf("%s: releasing the storage: %w", subject, err)
		out = append(out, change.Entry{Subject: subject, Action: change.Failed, Message: err.Error()})
		return out, err
	}
	out = append(out, change.Entry{Subject: subject, Action: change.Deleted, Disruptive: change.VolumeRemoval, Message: "storage released; finalizer removed"})
	if apply {
		vol.SetFinalizers(slices.DeleteFunc(vol.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		if err := m.client.Update(ctx, vol); err != nil && !apierrors.IsNotFound(err) {
			return out, fmt.Errorf("%s: removing the finalizer: %w", subject, err)
		}
	}
	return out, nil
}
