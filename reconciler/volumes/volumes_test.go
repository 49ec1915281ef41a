package volumes_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/volumes"
	"github.com/metalk8s/mk8s/schema"
)

// fakeStorage stands in for the host half (hostsync.VolumeStorage, covered by the
// e2e tests on real hosts and loop devices): it "formats" a volume once, and reports
// the steps and the Info the real one would.
type fakeStorage struct {
	mu        sync.Mutex
	formatted map[string]int // uid → mkfs runs
	released  []string
	fail      map[string]error // volume name → Prepare error
	// failRelease is the Release error of volumes by name.
	failRelease map[string]error
	// asked are the specs Prepare was given, plan or apply.
	asked []volume.Spec
	// crashAfterMkfs makes the first Prepare of that volume format it, then fail: a
	// reconciler killed between mkfs and the PersistentVolume.
	crashAfterMkfs string
}

func newStorage() *fakeStorage {
	return &fakeStorage{formatted: map[string]int{}, fail: map[string]error{}, failRelease: map[string]error{}}
}

func (f *fakeStorage) Prepare(_ context.Context, _ *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome {
	out := make([]volume.Outcome, len(specs))
	for i, s := range specs {
		out[i].Steps, out[i].Info, out[i].Err = f.prepare(s, apply)
	}
	f.mu.Lock()
	f.asked = append(f.asked, specs...)
	f.mu.Unlock()
	return out
}

func (f *fakeStorage) prepare(s volume.Spec, apply bool) (change.Set, volume.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[s.Name]; err != nil {
		return change.Set{{Host: s.Node, Subject: "Filesystem " + s.Name, Action: change.Failed, Message: err.Error()}}, volume.Info{}, err
	}
	e := change.Entry{Host: s.Node, Subject: "Filesystem " + s.Name, Action: change.Unchanged}
	if f.formatted[s.UID] == 0 {
		e.Action = change.Created
		if apply {
			f.formatted[s.UID]++
		}
	}
	if apply && f.crashAfterMkfs == s.Name {
		f.crashAfterMkfs = ""
		return change.Set{e}, volume.Info{}, errors.New("connection lost")
	}
	if !apply {
		return change.Set{e}, volume.Info{}, nil
	}
	return change.Set{e}, volume.Info{Path: "/dev/disk/by-uuid/" + s.UID, SizeBytes: 10 << 30, DeviceName: "loop7"}, nil
}

func (f *fakeStorage) Release(_ context.Context, _ *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]volume.Outcome, len(specs))
	for i, s := range specs {
		if err := f.failRelease[s.Name]; err != nil {
			out[i].Steps = change.Set{{Host: s.Node, Subject: "Host " + s.Node, Action: change.Failed, Message: err.Error()}}
			out[i].Err = err
			continue
		}
		if apply {
			f.released = append(f.released, s.Name)
		}
		out[i].Steps = change.Set{{Host: s.Node, Subject: "SparseFile " + s.Name, Action: change.Deleted}}
	}
	return out
}

type rig struct {
	env     *kubeenv.Env
	c       client.Client
	site    *schema.Site
	storage *fakeStorage
	counter *kubeenv.RequestCounter
	m       *volumes.Manager
}

// start loads site-example, and applies its Volume CRD and Volume objects as the
// objects half would.
func start(t *testing.T) *rig { return startWith(t, nil) }

// startWith is start with the site edited first.
func startWith(t *testing.T, edit func(*schema.Site)) *rig {
	t.Helper()
	env := kubeenv.StartT(t)
	ctx := context.Background()
	site, diags := schema.LoadDir(ctx, "../../site-example")
	if site == nil {
		t.Fatal(diags)
	}
	if edit != nil {
		edit(site)
	}
	objs, err := render.Objects(site, render.Options{SiteName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GetName() == "volumes.storage.metalk8s.scality.com" {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Volume" {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := c.Create(ctx, o.DeepCopy())
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("creating Volume/%s: %v", o.GetName(), err)
			}
			time.Sleep(100 * time.Millisecond) // the CRD becomes established
		}
	}
	r := &rig{env: env, site: site, storage: newStorage(), counter: &kubeenv.RequestCounter{}}
	r.c, err = client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.m, err = volumes.New(volumes.Options{Kube: r.counter.Wrap(env.Config), SiteName: "default", Storage: r.storage})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) get(t *testing.T, apiVersion, kind, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	err := r.c.Get(context.Background(), client.ObjectKey{Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

// claim gives the PersistentVolume of name the claim metalk8s-monitoring/data-0 and
// the phase (Bound, or Released once the claim is gone), as the PV controller does.
func (r *rig) claim(t *testing.T, name, phase string) {
	t.Helper()
	ctx := context.Background()
	pv, _ := r.get(t, "v1", "PersistentVolume", name)
	_ = unstructured.SetNestedMap(pv.Object, map[string]any{"kind": "PersistentVolumeClaim", "namespace": "metalk8s-monitoring", "name": "data-0"}, "spec", "claimRef")
	if err := r.c.Update(ctx, pv); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(pv.Object, phase, "status", "phase")
	if err := r.c.Status().Update(ctx, pv); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) volume(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	v, ok := r.get(t, schema.APIVersionVolume, "Volume", name)
	if !ok {
		t.Fatalf("Volume/%s is gone", name)
	}
	return v
}

func str(u *unstructured.Unstructured, f ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, f...)
	return s
}

// A Volume gets its finalizer, its storage, a PersistentVolume on the persistent path
// with node affinity, StorageClass, template labels, owner and finalizer, and the status
// Available with its device; a second run writes nothing.
func TestDeployMakesVolumesAvailable(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	set, err := r.m.Reconcile(ctx, r.site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	for _, sv := range r.site.Volumes {
		v := r.volume(t, sv.Name)
		if !slices.Contains(v.GetFinalizers(), volumes.Finalizer) || str(v, "status", "phase") != volumes.PhaseAvailable || str(v, "status", "deviceName") != "loop7" {
			t.Errorf("Volume/%s: finalizers %v, status %v", sv.Name, v.GetFinalizers(), v.Object["status"])
		}
		pv, ok := r.get(t, "v1", "PersistentVolume", sv.Name)
		if !ok {
			t.Fatalf("no PersistentVolume/%s", sv.Name)
		}
		affinity, _, _ := unstructured.NestedSlice(pv.Object, "spec", "nodeAffinity", "required", "nodeSelectorTerms")
		owners := pv.GetOwnerReferences()
		if str(pv, "spec", "local", "path") != "/dev/disk/by-uuid/"+string(v.GetUID()) || str(pv, "spec", "storageClassName") != "metalk8s" ||
			!strings.Contains(strings.ReplaceAll(stringify(affinity), " ", ""), sv.NodeName) || len(owners) != 1 || owners[0].UID != v.GetUID() ||
			!slices.Contains(pv.GetFinalizers(), volumes.Finalizer) || pv.GetLabels()["app.kubernetes.io/name"] != sv.TemplateLabels["app.kubernetes.io/name"] ||
			str(pv, "spec", "persistentVolumeReclaimPolicy") != "Retain" {
			t.Errorf("PersistentVolume/%s: %v", sv.Name, pv.Object)
		}
	}
	r.counter.Reset()
	set, err = r.m.Reconcile(ctx, r.site)
	if err != nil || set.Changed() || r.counter.Writes() != 0 {
		t.Fatalf("second run: %v, changes %v, requests %s", err, set, r.counter.String())
	}
	if p, err := r.m.Plan(ctx, r.site); err != nil || p.Changed() {
		t.Fatalf("plan after deploy: %v %v", err, p)
	}
}

// The plan of a first install says what will happen, and writes nothing.
func TestPlanWritesNothing(t *testing.T) {
	r := start(t)
	r.counter.Reset()
	set, err := r.m.Plan(context.Background(), r.site)
	if err != nil || r.counter.Writes() != 0 {
		t.Fatalf("plan: %v, requests %s", err, r.counter.String())
	}
	var pvs, finalizers int
	for _, e := range set {
		if strings.HasPrefix(e.Subject, "PersistentVolume/") && e.Action == change.Created {
			pvs++
		}
		if strings.Contains(e.Message, "finalizer") {
			finalizers++
		}
	}
	if pvs != len(r.site.Volumes) || finalizers != len(r.site.Volumes) || r.storage.formatted[""] != 0 || len(r.storage.formatted) != 0 {
		t.Fatalf("plan: %d PVs, %d finalizers\n%v", pvs, finalizers, set)
	}
	if _, ok := r.get(t, "v1", "PersistentVolume", r.site.Volumes[0].Name); ok {
		t.Fatal("the plan created a PersistentVolume")
	}
}

// A Volume whose storage fails is Failed with the reason; the others go on. An
// invalid spec (a StorageClass the site does not have, one without fsType) is Failed
// too; the platform's metalk8s class needs no document.
func TestFailuresAreRecordedPerVolume(t *testing.T) {
	var nope, bare string
	r := startWith(t, func(site *schema.Site) {
		site.StorageClasses = []schema.StorageClass{{Name: "bare", Provisioner: "kubernetes.io/no-provisioner"}}
		site.Volumes[2].StorageClassName = "nope"
		site.Volumes[3].StorageClassName = "bare"
		nope, bare = site.Volumes[2].Name, site.Volumes[3].Name
	})
	bad, other := r.site.Volumes[0].Name, r.site.Volumes[1].Name
	r.storage.fail[bad] = errors.New("node worker-1: /dev/vdb holds an ext4 filesystem that is not this volume's: refusing to format")
	_, err := r.m.Reconcile(context.Background(), r.site)
	for _, name := range []string{bad, nope, bare} {
		if err == nil || !strings.Contains(err.Error(), "Volume/"+name) {
			t.Errorf("error: %v, want one naming Volume/%s", err, name)
		}
	}
	for name, want := range map[string]string{bad: "refusing to format", nope: `StorageClass \"nope\" is not in the site`,
		bare: "parameters.fsType is not set"} {
		v := r.volume(t, name)
		if str(v, "status", "phase") != volumes.PhaseFailed || !strings.Contains(stringify(v.Object["status"]), want) {
			t.Errorf("Volume/%s status: %v", name, v.Object["status"])
		}
		if _, ok := r.get(t, "v1", "PersistentVolume", name); ok {
			t.Errorf("PersistentVolume/%s created for a failed volume", name)
		}
	}
	if v := r.volume(t, other); str(v, "status", "phase") != volumes.PhaseAvailable {
		t.Errorf("Volume/%s on the platform class: %v", other, v.Object["status"])
	}
	// The same failures again: nothing to write (a Failed Volume is not flipped to
	// Pending and back on every run).
	r.counter.Reset()
	if _, err := r.m.Reconcile(context.Background(), r.site); err == nil || r.counter.Writes() != 0 {
		t.Fatalf("repeated failure: %v, requests %s", err, r.counter.String())
	}
}

// A reconcile killed between mkfs and the PersistentVolume is finished by the next
// one, without formatting twice.
func TestKilledBetweenMkfsAndPersistentVolume(t *testing.T) {
	r := start(t)
	name := r.site.Volumes[0].Name
	r.storage.crashAfterMkfs = name
	if _, err := r.m.Reconcile(context.Background(), r.site); err == nil {
		t.Fatal("the crash went unnoticed")
	}
	if _, ok := r.get(t, "v1", "PersistentVolume", name); ok {
		t.Fatal("a PersistentVolume before the storage was prepared")
	}
	if _, err := r.m.Reconcile(context.Background(), r.site); err != nil {
		t.Fatal(err)
	}
	uid := string(r.volume(t, name).GetUID())
	if _, ok := r.get(t, "v1", "PersistentVolume", name); !ok || r.storage.formatted[uid] != 1 {
		t.Fatalf("after the restart: PV %v, formatted %d times", ok, r.storage.formatted[uid])
	}
}

// A Volume deleted while its PersistentVolume is bound waits, and nothing is
// released; once the claim is gone the PersistentVolume is deleted, the storage
// released and the Volume goes.
func TestDeleteWaitsForTheClaim(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	name := r.site.Volumes[0].Name
	r.claim(t, name, "Bound")
	if err := r.c.Delete(ctx, r.volume(t, name)); err != nil {
		t.Fatal(err)
	}
	set, err := r.m.Reconcile(ctx, r.site)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(set, func(e change.Entry) bool { return e.Subject == "Volume/"+name })
	if i < 0 || set[i].Action != change.Skipped || set[i].Disruptive != change.VolumeRemoval || !strings.Contains(set[i].Message, "metalk8s-monitoring/data-0") {
		t.Fatalf("bound: %v", set)
	}
	if _, ok := r.get(t, "v1", "PersistentVolume", name); !ok || len(r.storage.released) != 0 {
		t.Fatalf("a bound volume was released: PV %v, released %v", ok, r.storage.released)
	}
	if v := r.volume(t, name); !strings.Contains(stringify(v.Object["status"]), "deletion waits") {
		t.Errorf("status: %v", v.Object["status"])
	}

	// The claim is gone.
	pv, _ := r.get(t, "v1", "PersistentVolume", name)
	unstructured.RemoveNestedField(pv.Object, "spec", "claimRef")
	if err := r.c.Update(ctx, pv); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(pv.Object, "Available", "status", "phase")
	if err := r.c.Status().Update(ctx, pv); err != nil {
		t.Fatal(err)
	}
	set, err = r.m.Reconcile(ctx, r.site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	if !slices.Equal(r.storage.released, []string{name}) {
		t.Fatalf("released %v", r.storage.released)
	}
	// The API server deletes the Volume at once; the PersistentVolume keeps the
	// kubernetes.io/pv-protection finalizer the API server adds until the
	// controller-manager (not run here) sees it unbound: it must be deleting, without
	// ours.
	if _, there := r.get(t, schema.APIVersionVolume, "Volume", name); there {
		t.Fatal("the Volume is still there")
	}
	if pv, there := r.get(t, "v1", "PersistentVolume", name); there && (pv.GetDeletionTimestamp() == nil || slices.Contains(pv.GetFinalizers(), volumes.Finalizer)) {
		t.Fatalf("the PersistentVolume is not being deleted: %v", pv.Object["metadata"])
	}
}

// A node removed from the site with its Volumes: mk8s no longer reaches it, so their
// storage is left on that machine (nothing is asked of the host half) and the Volumes
// go, instead of staying Terminating for ever.
func TestVolumesOfANodeThatLeftTheSiteGo(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	gone := r.site.Volumes[0].NodeName
	site := *r.site
	site.Nodes = slices.DeleteFunc(slices.Clone(r.site.Nodes), func(n schema.Node) bool { return n.Name == gone })
	site.Volumes = slices.DeleteFunc(slices.Clone(r.site.Volumes), func(v schema.Volume) bool { return v.NodeName == gone })
	var leaving []string
	for _, v := range r.site.Volumes {
		if v.NodeName == gone {
			leaving = append(leaving, v.Name)
			if err := r.c.Delete(ctx, r.volume(t, v.Name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, err := r.m.Reconcile(ctx, &site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	if len(r.storage.released) != 0 {
		t.Fatalf("the host half was asked to release %v on a node that left the site", r.storage.released)
	}
	for _, name := range leaving {
		if _, there := r.get(t, schema.APIVersionVolume, "Volume", name); there {
			t.Errorf("Volume/%s is still there", name)
		}
		if !slices.ContainsFunc(set, func(e change.Entry) bool {
			return e.Subject == "VolumeStorage/"+name && e.Action == change.Skipped && strings.Contains(e.Message, "no longer in the site")
		}) {
			t.Errorf("no entry says Volume/%s's storage is left on %s: %v", name, gone, set)
		}
	}
}

// A Volume edited in the site after it was created (moved to another node or device,
// resized, another mode or StorageClass): the API server refuses the change (the
// objects half fails on it), and the Volumes phase must not prepare the edited spec
// under the existing Volume's UID (a second filesystem with that UUID on another
// device, storage on a node its PersistentVolume does not name). It says which field
// of which file differs, in the plan and the reconcile, and leaves the Volume, its
// status, its PersistentVolume and its storage as they are.
func TestEditedVolumeIsNotPreparedAnew(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	site := *r.site
	site.Volumes = slices.Clone(r.site.Volumes)
	edits := map[string]struct {
		edit  func(v *schema.Volume)
		field string
	}{
		"bootstrap-prometheus":  {func(v *schema.Volume) { v.NodeName = "worker-2" }, "spec.nodeName"},
		"worker-1-alertmanager": {func(v *schema.Volume) { v.SparseLoopDevice = &schema.SparseLoopDevice{Size: "2Gi"} }, "spec.sparseLoopDevice.size"},
		"worker-1-loki":         {func(v *schema.Volume) { v.Mode = volume.ModeBlock }, "spec.mode"},
		"worker-1-prometheus":   {func(v *schema.Volume) { v.RawBlockDevice = &schema.RawBlockDevice{DevicePath: "/dev/vdc"} }, "spec.rawBlockDevice.devicePath"},
	}
	for i := range site.Volumes {
		v := &site.Volumes[i]
		e, ok := edits[v.Name]
		if !ok {
			t.Fatalf("no edit for Volume/%s", v.Name)
		}
		e.edit(v)
	}
	// The objects half cannot apply them.
	objs, err := render.Objects(&site, render.Options{SiteName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Volume" {
			if err := r.c.Patch(ctx, o, client.Apply, client.FieldOwner("mk8s"), client.ForceOwnership); err == nil || !strings.Contains(err.Error(), "immutable") {
				t.Fatalf("Volume/%s: the API server took the edit: %v", o.GetName(), err)
			}
		}
	}
	before := map[string]string{}
	for name := range edits {
		pv, _ := r.get(t, "v1", "PersistentVolume", name)
		before[name] = pv.GetResourceVersion() + " " + r.volume(t, name).GetResourceVersion()
	}
	r.storage.asked = nil
	for _, run := range []func(context.Context, *schema.Site) (change.Set, error){r.m.Plan, r.m.Reconcile} {
		set, err := run(ctx, &site)
		for name, e := range edits {
			file := "volumes/" + name + ".yaml"
			if err == nil || !strings.Contains(err.Error(), "Volume/"+name) || !strings.Contains(err.Error(), file+":") || !strings.Contains(err.Error(), e.field) {
				t.Errorf("Volume/%s: want an error naming %s and %s, got %v", name, file, e.field, err)
			}
			if !slices.ContainsFunc(set, func(x change.Entry) bool { return x.Subject == "Volume/"+name && x.Action == change.Failed }) {
				t.Errorf("Volume/%s: no failed entry in %v", name, set)
			}
		}
	}
	if len(r.storage.asked) != 0 {
		t.Fatalf("the edited specs were given to the host half: %+v", r.storage.asked)
	}
	for name := range edits {
		pv, _ := r.get(t, "v1", "PersistentVolume", name)
		v := r.volume(t, name)
		if got := pv.GetResourceVersion() + " " + v.GetResourceVersion(); got != before[name] || str(v, "status", "phase") != volumes.PhaseAvailable {
			t.Errorf("Volume/%s or its PersistentVolume changed: %s -> %s, status %v", name, before[name], got, v.Object["status"])
		}
	}
}

// A PersistentVolume named like a Volume that mk8s did not create (someone's own) makes
// the Volume Failed, and is left alone: also when the Volume is removed, in the plan and
// in the reconcile, which release the Volume without deleting that PersistentVolume.
func TestForeignPersistentVolumeIsNeverDeleted(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	name := r.site.Volumes[0].Name
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolume",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"capacity": map[string]any{"storage": "1Gi"}, "accessModes": []any{"ReadWriteOnce"},
			"storageClassName": "manual", "local": map[string]any{"path": "/mnt/someones-data"},
			"nodeAffinity": map[string]any{"required": map[string]any{"nodeSelectorTerms": []any{map[string]any{
				"matchExpressions": []any{map[string]any{"key": "kubernetes.io/hostname", "operator": "In", "values": []any{"worker-3"}}}}}}},
		},
	}}
	if err := r.c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Reconcile(ctx, r.site); err == nil || !strings.Contains(err.Error(), "not created by mk8s") {
		t.Fatalf("want Volume/%s refused for the foreign PersistentVolume, got %v", name, err)
	}

	site := *r.site
	site.Volumes = slices.DeleteFunc(slices.Clone(r.site.Volumes), func(v schema.Volume) bool { return v.Name == name })
	plan, err := r.m.Plan(ctx, &site)
	if err != nil || slices.ContainsFunc(plan, func(e change.Entry) bool { return e.Subject == "PersistentVolume/"+name && e.Action == change.Deleted }) {
		t.Fatalf("the plan of the removal deletes the foreign PersistentVolume: %v\n%v", err, plan)
	}
	if err := r.c.Delete(ctx, r.volume(t, name)); err != nil { // the objects half's prune
		t.Fatal(err)
	}
	set, err := r.m.Reconcile(ctx, &site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	if pv, ok := r.get(t, "v1", "PersistentVolume", name); !ok || pv.GetDeletionTimestamp() != nil || pv.GetUID() != foreign.GetUID() {
		t.Fatalf("the foreign PersistentVolume was deleted: %v", set)
	}
	if _, there := r.get(t, schema.APIVersionVolume, "Volume", name); there {
		t.Fatalf("Volume/%s is still there: %v", name, set)
	}
}

// A Volume removed, then added back under the same name (a new UID) while the
// PersistentVolume of the former one is still being deleted (the API server's
// pv-protection finalizer, removed by the controller-manager, which this test does not
// run): that PersistentVolume names the former storage (/dev/disk/by-uuid/<former uid>)
// and is not the new Volume's, which waits for it instead of being Available on it.
func TestFormerPersistentVolumeIsNotTaken(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	name := r.site.Volumes[0].Name
	former := r.volume(t, name)
	if err := r.c.Delete(ctx, former); err != nil {
		t.Fatal(err)
	}
	site := *r.site
	site.Volumes = slices.DeleteFunc(slices.Clone(r.site.Volumes), func(v schema.Volume) bool { return v.Name == name })
	if _, err := r.m.Reconcile(ctx, &site); err != nil {
		t.Fatal(err)
	}
	if pv, ok := r.get(t, "v1", "PersistentVolume", name); !ok || pv.GetDeletionTimestamp() == nil {
		t.Fatalf("the former PersistentVolume is not being deleted (%v)", ok)
	}

	// Added back: the objects half creates it anew. The plan already says it waits.
	if plan, _ := r.m.Plan(ctx, r.site); !slices.ContainsFunc(plan, func(e change.Entry) bool {
		return e.Subject == "Volume/"+name && e.Action == change.Skipped && strings.Contains(e.Message, "former")
	}) {
		t.Errorf("plan: no entry says Volume/%s waits for the former PersistentVolume:\n%v", name, plan)
	}
	objs, err := render.Objects(r.site, render.Options{SiteName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Volume" && o.GetName() == name {
			if err := r.c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, err := r.m.Reconcile(ctx, r.site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	v := r.volume(t, name)
	if v.GetUID() == former.GetUID() || str(v, "status", "phase") == volumes.PhaseAvailable {
		t.Fatalf("Volume/%s is Available on the PersistentVolume of the former Volume: %v", name, v.Object["status"])
	}
	if !strings.Contains(stringify(v.Object["status"]), "former") {
		t.Errorf("the status does not say what the Volume waits for: %v", v.Object["status"])
	}
}

// A Volume deleted while its node cannot be reached: it stays Terminating, its status
// saying why the release waits (not only "releasing the storage"), and it goes at the
// first reconcile that reaches the node.
func TestReleaseFailureIsInTheStatus(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	name := r.site.Volumes[0].Name
	r.storage.failRelease[name] = errors.New("volume " + name + ": node bootstrap: dial tcp 10.0.0.1:22: connect: no route to host")
	if err := r.c.Delete(ctx, r.volume(t, name)); err != nil {
		t.Fatal(err)
	}
	site := *r.site
	site.Volumes = site.Volumes[1:]
	if _, err := r.m.Reconcile(ctx, &site); err == nil || !strings.Contains(err.Error(), "no route to host") {
		t.Fatalf("want the release's failure, got %v", err)
	}
	v := r.volume(t, name)
	if str(v, "status", "phase") != volumes.PhaseTerminating || !strings.Contains(stringify(v.Object["status"]), "no route to host") {
		t.Fatalf("status: %v", v.Object["status"])
	}
	// Failing again the same way writes nothing.
	r.counter.Reset()
	if _, err := r.m.Reconcile(ctx, &site); err == nil || r.counter.Writes() != 0 {
		t.Fatalf("repeated failure: %v, requests %s", err, r.counter.String())
	}
	delete(r.storage.failRelease, name)
	if _, err := r.m.Reconcile(ctx, &site); err != nil {
		t.Fatal(err)
	}
	if _, there := r.get(t, schema.APIVersionVolume, "Volume", name); there {
		t.Fatal("the Volume is still there once its node was reached")
	}
}

// The Ready condition's lastTransitionTime is when its status last changed (as
// MetalK8s' SetCondition keeps it): a Failed Volume failing for another reason, or an
// Available one whose device is renamed, keeps it; becoming Available moves it.
func TestConditionTransitionTime(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	name := r.site.Volumes[0].Name
	r.storage.fail[name] = errors.New("first reason")
	_, _ = r.m.Reconcile(ctx, r.site)
	const past = "2020-01-14T12:57:56Z"
	setTransition := func() {
		v := r.volume(t, name)
		conds, _, _ := unstructured.NestedSlice(v.Object, "status", "conditions")
		conds[0].(map[string]any)["lastTransitionTime"] = past
		_ = unstructured.SetNestedSlice(v.Object, conds, "status", "conditions")
		if err := r.c.Status().Update(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	transition := func() (string, string) {
		v := r.volume(t, name)
		conds, _, _ := unstructured.NestedSlice(v.Object, "status", "conditions")
		c := conds[0].(map[string]any)
		return c["lastTransitionTime"].(string), c["message"].(string)
	}
	setTransition()
	r.storage.fail[name] = errors.New("second reason")
	_, _ = r.m.Reconcile(ctx, r.site)
	if at, msg := transition(); at != past || !strings.Contains(msg, "second reason") {
		t.Errorf("Failed for another reason: lastTransitionTime %s (want %s), message %q", at, past, msg)
	}
	delete(r.storage.fail, name)
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	if at, _ := transition(); at == past {
		t.Errorf("Failed to Available kept lastTransitionTime %s", at)
	}
}

// The claim of a Volume's PersistentVolume deleted: the PersistentVolume is Released
// and keeps its claimRef (its reclaim policy is Retain). Nothing uses the volume any
// more: deleted, the Volume is released, instead of waiting for a claim that is gone.
func TestReleasedPersistentVolumeDoesNotHoldTheVolume(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	name := r.site.Volumes[0].Name
	r.claim(t, name, "Released")
	if err := r.c.Delete(ctx, r.volume(t, name)); err != nil {
		t.Fatal(err)
	}
	site := *r.site
	site.Volumes = site.Volumes[1:]
	set, err := r.m.Reconcile(ctx, &site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	if !slices.Equal(r.storage.released, []string{name}) {
		t.Fatalf("released %v: %v", r.storage.released, set)
	}
	if _, there := r.get(t, schema.APIVersionVolume, "Volume", name); there {
		t.Fatal("the Volume is still there")
	}
}

// The PersistentVolume of an Available Volume deleted by hand: the finalizer mk8s put
// on it keeps it, being deleted, for ever, and no new claim can bind it. The Volume is
// not Available (as MetalK8s' operator, which checks its PersistentVolume's health):
// it is Failed, saying why and what to do.
func TestPersistentVolumeDeletedByHand(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	if _, err := r.m.Reconcile(ctx, r.site); err != nil {
		t.Fatal(err)
	}
	name := r.site.Volumes[0].Name
	pv, _ := r.get(t, "v1", "PersistentVolume", name)
	if err := r.c.Delete(ctx, pv); err != nil {
		t.Fatal(err)
	}
	set, err := r.m.Reconcile(ctx, r.site)
	if err == nil || !strings.Contains(err.Error(), "PersistentVolume/"+name+" is being deleted") {
		t.Fatalf("want an error saying the PersistentVolume is being deleted, got %v\n%v", err, set)
	}
	if v := r.volume(t, name); str(v, "status", "phase") != volumes.PhaseFailed {
		t.Fatalf("status: %v", v.Object["status"])
	}
}
