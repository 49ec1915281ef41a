package volumes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// run is Reconcile (apply) and Plan (not apply): one path, so that a plan is exactly
// what a reconcile does. It reads the Volumes and PersistentVolumes once, takes the
// API steps that come before the storage (finalizer, status, a PersistentVolume to
// delete), has the storage of every Volume prepared or released in one call of the
// host half, then takes the API steps that come after (PersistentVolume, status,
// finalizer removed).
func (m *Manager) run(ctx context.Context, site *schema.Site, apply bool) (change.Set, error) {
	live, err := m.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	pvs, err := m.listPVs(ctx)
	if err != nil {
		return nil, err
	}
	var deploys, releases []*volumeRun
	seen := map[string]bool{}
	for _, vol := range live {
		seen[vol.GetName()] = true
		r := &volumeRun{name: vol.GetName(), vol: vol, pv: pvs[vol.GetName()]}
		switch v := siteVolume(site, r.name); {
		case vol.GetDeletionTimestamp() != nil:
			m.beginRelease(ctx, site, r, apply)
			releases = append(releases, r)
		case v != nil:
			r.site = v
			m.beginDeploy(ctx, site, r, apply)
			deploys = append(deploys, r)
		default:
			// The site no longer has it: the objects half's prune deletes it, before
			// this phase, unless its PersistentVolume is bound.
			m.removed(ctx, site, r, apply)
			if !r.done {
				releases = append(releases, r)
			}
		}
	}
	// Volumes the objects half is to create: their UID, which names their storage,
	// comes from the API server. A plan shows their steps with a placeholder for it.
	for i := range site.Volumes {
		v := &site.Volumes[i]
		if seen[v.Name] {
			continue
		}
		r := &volumeRun{name: v.Name, site: v, planned: true, pv: pvs[v.Name], placeholder: placeholderUID(i)}
		if apply {
			r.skip("Volume/" + v.Name + " is not in the cluster (its object was not applied): its storage waits for it")
		} else {
			m.beginDeploy(ctx, site, r, false)
		}
		deploys = append(deploys, r)
	}

	m.storageStep(ctx, site, deploys, apply, m.storage.Prepare)
	m.storageStep(ctx, site, releases, apply, m.storage.Release)

	var out change.Set
	var errs []error
	for _, r := range deploys {
		m.finishDeploy(ctx, r, apply)
	}
	for _, r := range releases {
		m.finishRelease(ctx, r, apply)
	}
	for _, r := range append(deploys, releases...) {
		out = append(out, r.out...)
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return out, errors.Join(errs...)
}

// volumeRun is one Volume's way through a run.
type volumeRun struct {
	name string
	// vol is the live Volume; nil for one the objects half has yet to create.
	vol *unstructured.Unstructured
	// site is the site's Volume; nil for one being released.
	site *schema.Volume
	// planned: not in the cluster yet, its UID is placeholder.
	planned     bool
	placeholder string
	pv          *unstructured.Unstructured
	spec        volume.Spec
	sc          *schema.StorageClass
	storage     volume.Outcome
	out         change.Set
	err         error
	// done: nothing more to do in this run (failed, waiting, or nothing to release).
	done bool
	// noStorage: nothing to prepare or release on a node (its node left the site).
	noStorage bool
}

func (r *volumeRun) subject() string { return "Volume/" + r.name }

func (r *volumeRun) add(e change.Entry) { r.out = append(r.out, e) }

func (r *volumeRun) skip(msg string) {
	r.add(change.Entry{Subject: r.subject(), Action: change.Skipped, Message: msg})
	r.done = true
}

// placeholderUID stands for the UID of the i-th Volume of the site when it is not
// created yet, in a plan; entries name it "<uid of Volume/NAME>". Each has its own: the
// UID names a sparse Volume's file and unit, which two Volumes of a node must not share.
func placeholderUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// beginDeploy takes the steps before the storage of a present Volume: the finalizer
// first (nothing is prepared that a deletion could leave behind), its spec, Pending.
func (m *Manager) beginDeploy(ctx context.Context, site *schema.Site, r *volumeRun, apply bool) {
	uid := r.placeholder
	if !r.planned {
		uid = string(r.vol.GetUID())
		if field, want, have := specChange(r.site, r.vol); field != "" {
			// The objects half could not apply the change either: nothing is done, the
			// Volume stays as the cluster has it.
			src := r.site.Source
			err := fmt.Errorf("%s: %s:%d: %s is %q in the site but %q in the cluster: the storage of a Volume cannot move "+
				"nor change, and the API server refuses the edit; nothing is done on node %s. Revert the change, or remove "+
				"the Volume from the site and reconcile (its storage is released), then add it back",
				r.subject(), src.File, src.LineOf(field), field, want, have, liveNode(r.vol))
			r.add(change.Entry{Subject: r.subject(), Action: change.Failed, Message: err.Error()})
			r.err, r.done = err, true
			return
		}
	}
	if r.planned || !slices.Contains(r.vol.GetFinalizers(), Finalizer) {
		r.add(change.Entry{Subject: r.subject(), Action: change.Configured, Message: "finalizer " + Finalizer + " added"})
		if apply {
			r.vol.SetFinalizers(append(r.vol.GetFinalizers(), Finalizer))
			if err := m.client.Update(ctx, r.vol); err != nil {
				m.failDeploy(ctx, r, fmt.Errorf("adding the finalizer: %w", err), apply)
				return
			}
		}
	}
	var err error
	if r.spec, r.sc, err = specFor(site, r.site, uid); err != nil {
		m.failDeploy(ctx, r, err, apply)
		return
	}
	if r.pv != nil && !isOurs(r.pv, m.site) {
		m.failDeploy(ctx, r, fmt.Errorf("PersistentVolume/%s exists and was not created by mk8s: it is left alone", r.name), apply)
		return
	}
	if r.pv != nil && (r.planned || !ownedBy(r.pv, string(r.vol.GetUID()))) {
		// The PersistentVolume of a former Volume of this name: it names the former
		// storage (its UID), not this Volume's.
		if r.pv.GetDeletionTimestamp() != nil {
			m.waitForFormerPV(ctx, r, apply)
			return
		}
		m.failDeploy(ctx, r, fmt.Errorf("PersistentVolume/%s belongs to a former Volume of this name, not to this one: "+
			"mk8s does not adopt it; delete it once its data is not needed", r.name), apply)
		return
	}
	if r.pv != nil && r.pv.GetDeletionTimestamp() != nil {
		// Deleted by someone while the Volume is in the site: its finalizer keeps it,
		// and no new claim binds a PersistentVolume being deleted.
		m.failDeploy(ctx, r, fmt.Errorf("PersistentVolume/%s is being deleted, not by mk8s, and its finalizer %s keeps it "+
			"while the Volume is in the site: remove the Volume from the site to release it, or remove that finalizer "+
			"from the PersistentVolume to have it made again on the same storage", r.name, Finalizer), apply)
		return
	}
	// Pending marks a Volume seen for the first time; a Failed one stays Failed until
	// it succeeds, so that a repeated failure writes nothing.
	if !r.planned && liveState(r.vol).phase == "" {
		if _, err := m.setStatus(ctx, r.vol, state{phase: PhasePending, ready: readiness(PhasePending), reason: "Pending",
			message: "preparing the storage on " + r.site.NodeName}, apply); err != nil {
			m.failDeploy(ctx, r, err, apply)
		}
	}
}

// waitForFormerPV records that a Volume waits for the PersistentVolume of a former
// Volume of its name to be gone (the controller-manager removes it once unused) before
// anything is done for it: Pending, not Failed, and no error.
func (m *Manager) waitForFormerPV(ctx context.Context, r *volumeRun, apply bool) {
	msg := fmt.Sprintf("waits: PersistentVolume/%s of a former Volume of this name is being deleted; "+
		"this Volume is prepared once it is gone", r.name)
	r.add(change.Entry{Subject: r.subject(), Action: change.Skipped, Message: msg})
	r.done = true
	if r.planned {
		return
	}
	if _, err := m.setStatus(ctx, r.vol, state{phase: PhasePending, ready: readiness(PhasePending), reason: "Pending", message: msg}, apply); err != nil {
		r.err = fmt.Errorf("%s: %w", r.subject(), err)
	}
}

// finishDeploy takes the steps after the storage: the PersistentVolume on the
// persistent path the storage reported, then Available.
func (m *Manager) finishDeploy(ctx context.Context, r *volumeRun, apply bool) {
	if r.done {
		return
	}
	if r.storage.Err != nil {
		m.failDeploy(ctx, r, r.storage.Err, apply)
		return
	}
	if r.pv == nil {
		e := change.Entry{Subject: "PersistentVolume/" + r.name, Action: change.Created,
			Message: fmt.Sprintf("%s on node %s, StorageClass %s", r.spec.Mode, r.site.NodeName, r.site.StorageClassName)}
		if apply {
			info := r.storage.Info
			e.Message = fmt.Sprintf("%s on node %s, %d bytes", info.Path, r.site.NodeName, info.SizeBytes)
			// Already there: created by a run that died before recording it.
			if err := m.client.Create(ctx, desiredPV(m.site, r.site, r.vol, r.spec, r.sc, info)); err != nil && !apierrors.IsAlreadyExists(err) {
				m.failDeploy(ctx, r, fmt.Errorf("creating PersistentVolume/%s: %w", r.name, err), apply)
				return
			}
		}
		r.add(e)
	}
	if r.planned {
		r.add(change.Entry{Subject: r.subject(), Action: change.Configured, Message: "status " + PhaseAvailable})
		return
	}
	device := r.storage.Info.DeviceName
	if !apply {
		device = liveState(r.vol).deviceName
	}
	changed, err := m.setStatus(ctx, r.vol, state{phase: PhaseAvailable, deviceName: device, ready: readiness(PhaseAvailable), reason: "Available",
		message: "storage prepared and PersistentVolume created"}, apply)
	switch {
	case err != nil:
		m.failDeploy(ctx, r, err, apply)
	case changed:
		r.add(change.Entry{Subject: r.subject(), Action: change.Configured, Message: "status " + PhaseAvailable})
	case onlyUnchanged(r.out):
		r.add(change.Entry{Subject: r.subject(), Action: change.Unchanged})
	}
}

// failDeploy records a Volume's failure: its entry, its error, and the status Failed
// with the reason.
func (m *Manager) failDeploy(ctx context.Context, r *volumeRun, err error, apply bool) {
	err = fmt.Errorf("%s: %w", r.subject(), err)
	r.add(change.Entry{Subject: r.subject(), Action: change.Failed, Message: err.Error()})
	if !r.planned {
		if _, serr := m.setStatus(ctx, r.vol, state{phase: PhaseFailed, ready: readiness(PhaseFailed), reason: "PreparationFailed", message: err.Error()}, apply); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	r.err, r.done = err, true
}

// beginRelease takes the steps before releasing a Volume being deleted, unless its
// PersistentVolume is bound: then nothing changes and the deletion waits (MetalK8s:
// "the volume will be marked for deletion and remain available"). There is no Pending
// Volume to wait for here: a Volume is prepared within one run of the reconciler,
// never concurrently with this.
func (m *Manager) beginRelease(ctx context.Context, site *schema.Site, r *volumeRun, apply bool) {
	if !slices.Contains(r.vol.GetFinalizers(), Finalizer) {
		r.done = true
		return
	}
	m.leaveForeignPV(r)
	if r.pv != nil {
		if claim := boundClaim(r.pv); claim != "" {
			msg := fmt.Sprintf("deletion waits: PersistentVolume/%s is bound to PersistentVolumeClaim %s; nothing is released while it is", r.name, claim)
			m.waitForClaim(ctx, r, msg, apply)
			return
		}
	}
	// Terminating once: a release that failed before keeps the status saying why.
	if live := liveState(r.vol); live.phase != PhaseTerminating {
		if _, err := m.setStatus(ctx, r.vol, state{phase: PhaseTerminating, deviceName: live.deviceName, ready: readiness(PhaseTerminating),
			reason: "Terminating", message: "releasing the storage"}, apply); err != nil {
			r.err, r.done = fmt.Errorf("%s: %w", r.subject(), err), true
			return
		}
	}
	m.prepareRelease(ctx, site, r, apply)
}

// removed handles a live Volume the site no longer has and that is not being deleted.
// In a plan, that is the Volume the objects half's prune is about to delete: its
// release is planned as it will happen, unless the PersistentVolume is bound (prune
// keeps it; the objects half says so). In a reconcile, prune ran already and kept it:
// a bound PersistentVolume is why, and the Volume's status says so.
func (m *Manager) removed(ctx context.Context, site *schema.Site, r *volumeRun, apply bool) {
	m.leaveForeignPV(r)
	claim := ""
	if r.pv != nil {
		claim = boundClaim(r.pv)
	}
	switch {
	case claim != "" && apply:
		m.waitForClaim(ctx, r, fmt.Sprintf("removed from the site, kept: PersistentVolume/%s is bound to PersistentVolumeClaim %s; "+
			"the Volume is deleted once the claim is gone", r.name, claim), apply)
	case claim != "" || apply || !slices.Contains(r.vol.GetFinalizers(), Finalizer):
		r.done = true
	default:
		m.prepareRelease(ctx, site, r, false)
	}
}

// leaveForeignPV forgets, for a Volume being released, a PersistentVolume of its name
// that mk8s did not create (the Volume was Failed for it): it is not the Volume's, and
// is neither deleted nor waited for.
func (m *Manager) leaveForeignPV(r *volumeRun) {
	if r.pv != nil && !isOurs(r.pv, m.site) {
		r.add(change.Entry{Subject: "PersistentVolume/" + r.name, Action: change.Skipped,
			Message: "not created by mk8s: not the Volume's, left alone"})
		r.pv = nil
	}
}

// waitForClaim records why a Volume is not released, in its status and in the result.
func (m *Manager) waitForClaim(ctx context.Context, r *volumeRun, msg string, apply bool) {
	live := liveState(r.vol)
	if _, err := m.setStatus(ctx, r.vol, state{phase: live.phase, deviceName: live.deviceName, ready: live.ready,
		reason: "DeletionWaitsForClaim", message: msg}, apply); err != nil {
		r.err = fmt.Errorf("%s: %w", r.subject(), err)
	}
	r.add(change.Entry{Subject: r.subject(), Action: change.Skipped, Disruptive: change.VolumeRemoval, Message: msg})
	r.done = true
}

// prepareRelease deletes the PersistentVolume, then says which storage to release.
func (m *Manager) prepareRelease(ctx context.Context, site *schema.Site, r *volumeRun, apply bool) {
	// Deleted by a run before this one (still there for the API server's pv-protection):
	// nothing more to do for it.
	if r.pv != nil && (r.pv.GetDeletionTimestamp() == nil || slices.Contains(r.pv.GetFinalizers(), Finalizer)) {
		r.add(change.Entry{Subject: "PersistentVolume/" + r.name, Action: change.Deleted, Disruptive: change.VolumeRemoval})
		if apply {
			if err := m.deletePV(ctx, r.pv); err != nil {
				r.err, r.done = fmt.Errorf("%s: %w", r.subject(), err), true
				return
			}
		}
	}
	var err error
	if r.spec, err = releaseSpec(site, r.vol); err != nil {
		err = fmt.Errorf("%s: %w", r.subject(), err)
		r.add(change.Entry{Subject: r.subject(), Action: change.Failed, Message: err.Error()})
		r.err, r.done = err, true
		return
	}
	if _, ok := site.Node(r.spec.Node); !ok {
		// The node left the site with its Volumes (a node removal): mk8s no longer
		// reaches it, and the machine leaves the cluster with what is on its disks.
		// Waiting for it would keep the Volume Terminating for ever.
		r.add(change.Entry{Subject: "VolumeStorage/" + r.name, Host: r.spec.Node, Action: change.Skipped,
			Message: "node " + r.spec.Node + " is no longer in the site: its storage is left on that machine as it is"})
		r.noStorage = true
	}
}

// finishRelease removes the finalizer once the storage is released, so that the API
// server deletes the Volume.
func (m *Manager) finishRelease(ctx context.Context, r *volumeRun, apply bool) {
	if r.done {
		return
	}
	if err := r.storage.Err; err != nil {
		err = fmt.Errorf("%s: releasing the storage: %w", r.subject(), err)
		r.add(change.Entry{Subject: r.subject(), Action: change.Failed, Message: err.Error()})
		r.err = err
		// Still Terminating (the next reconcile tries again), and the status says why.
		if r.vol != nil && slices.Contains(r.vol.GetFinalizers(), Finalizer) {
			if _, serr := m.setStatus(ctx, r.vol, state{phase: PhaseTerminating, deviceName: liveState(r.vol).deviceName,
				ready: readiness(PhaseTerminating), reason: "Terminating",
				message: "releasing the storage failed, tried again at the next reconcile: " + r.storage.Err.Error()}, apply); serr != nil {
				r.err = errors.Join(err, serr)
			}
		}
		return
	}
	msg := "storage released; finalizer removed"
	if r.noStorage {
		msg = "finalizer removed; the storage stays on " + r.spec.Node + ", which left the site"
	}
	r.add(change.Entry{Subject: r.subject(), Action: change.Deleted, Disruptive: change.VolumeRemoval, Message: msg})
	if apply {
		r.vol.SetFinalizers(slices.DeleteFunc(r.vol.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		if err := m.client.Update(ctx, r.vol); err != nil && !apierrors.IsNotFound(err) {
			r.err = fmt.Errorf("%s: removing the finalizer: %w", r.subject(), err)
		}
	}
}

// storageStep has the host half prepare (or release) the storage of every run not
// done yet, in one call, and hands each its outcome. A planned Volume's placeholder
// UID is named for what it stands for.
func (m *Manager) storageStep(ctx context.Context, site *schema.Site, runs []*volumeRun, apply bool,
	call func(context.Context, *schema.Site, []volume.Spec, bool) []volume.Outcome) {
	var todo []*volumeRun
	var specs []volume.Spec
	for _, r := range runs {
		if !r.done && !r.noStorage {
			todo = append(todo, r)
			specs = append(specs, r.spec)
		}
	}
	if len(specs) == 0 {
		return
	}
	outs := call(ctx, site, specs, apply)
	for i, r := range todo {
		if i >= len(outs) {
			r.storage.Err = errors.New("the host half returned no outcome for it")
			continue
		}
		r.storage = outs[i]
		if r.planned {
			r.storage = unplaceholder(r.storage, r.placeholder, r.name)
		}
		r.out = append(r.out, r.storage.Steps...)
	}
}

// unplaceholder names the placeholder UID of a planned Volume in its outcome.
func unplaceholder(o volume.Outcome, placeholder, name string) volume.Outcome {
	named := "<uid of Volume/" + name + ">"
	steps := make(change.Set, len(o.Steps))
	for i, e := range o.Steps {
		e.Subject = strings.ReplaceAll(e.Subject, placeholder, named)
		e.Message = strings.ReplaceAll(e.Message, placeholder, named)
		steps[i] = e
	}
	o.Steps = steps
	if o.Err != nil {
		o.Err = errors.New(strings.ReplaceAll(o.Err.Error(), placeholder, named))
	}
	return o
}

func onlyUnchanged(s change.Set) bool {
	for _, e := range s {
		if e.Action != change.Unchanged {
			return false
		}
	}
	return true
}

func (m *Manager) listVolumes(ctx context.Context) ([]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(schema.APIVersionVolume)
	list.SetKind(schema.KindVolume + "List")
	if err := m.client.List(ctx, list, client.MatchingLabels(render.OwnershipLabels(m.site))); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err) ||
			strings.Contains(err.Error(), "no matches for") {
			return nil, nil // no Volume CRD yet (a first install): no live Volume
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

func liveNode(vol *unstructured.Unstructured) string {
	n, _, _ := unstructured.NestedString(vol.Object, "spec", "nodeName")
	return n
}

func siteVolume(site *schema.Site, name string) *schema.Volume {
	for i := range site.Volumes {
		if site.Volumes[i].Name == name {
			return &site.Volumes[i]
		}
	}
	return nil
}
