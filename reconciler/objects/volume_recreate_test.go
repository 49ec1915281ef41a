package objects_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/volumes"
	"github.com/metalk8s/mk8s/schema"
)

// A Volume that opts in to recreation is still never deleted while its
// PersistentVolume is Bound (DESIGN §4 safety rules): the immutable change fails and
// the Volume keeps its UID. (Uses volumeObjects of volume_test.go.)
func TestRecreateNeverDeletesABoundVolume(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	site, name := unique("volrec"), unique("vol")
	v := schema.Volume{Name: name, NodeName: "node-a", StorageClassName: "metalk8s",
		Annotations: map[string]string{render.AnnotationRecreate: "true"}, SparseLoopDevice: &schema.SparseLoopDevice{Size: "1Gi"}}
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: volumeObjects(t, site, v)})
	vol := volumeObjects(t, site, v)[1]
	uid := get(t, m.Client(), vol).GetUID()

	pv := `apiVersion: v1
kind: PersistentVolume
metadata: {name: ` + name + `}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: metalk8s
  local: {path: /mnt/` + name + `}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-a]}]
`
	if out, err := e.RunKubectlStdin(ctx, []byte(pv), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := e.RunKubectl(ctx, "patch", "pv", name, "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Bound"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	v.NodeName = "node-b"
	_, err := m.Apply(ctx, objects.ApplyOptions{Objects: volumeObjects(t, site, v)})
	if err == nil || !strings.Contains(err.Error(), "Volume/"+name+": the change touches an immutable field") || !strings.Contains(err.Error(), "is Bound") {
		t.Errorf("moving a bound Volume to another node: want an error saying its PersistentVolume is Bound, got %v", err)
	}
	if got := get(t, m.Client(), vol).GetUID(); got != uid {
		t.Errorf("the Volume was deleted and recreated although its PersistentVolume is Bound (uid %s -> %s)", uid, got)
	}
	// The plan says the same, rather than announcing a recreation.
	if _, err := m.Plan(ctx, objects.PlanOptions{Objects: volumeObjects(t, site, v)}); err == nil || !strings.Contains(err.Error(), "is Bound") {
		t.Errorf("plan of the same change: want the same refusal, got %v", err)
	}
}

// A Volume that opts in to recreation, whose storage the Volumes phase prepared (its
// finalizer is on it): deleting it waits for that finalizer, which only the Volumes
// phase removes, after the objects are applied. The apply must not wait for it (it
// would wait for ever, and the daemon with it): the change is refused, in the plan and
// the apply, saying how to move the Volume, and the Volume is not deleted.
func TestRecreateOfAPreparedVolumeIsRefused(t *testing.T) {
	needEnv(t)
	site, name := unique("volprep"), unique("vol")
	v := schema.Volume{Name: name, NodeName: "node-a", StorageClassName: "metalk8s",
		Annotations: map[string]string{render.AnnotationRecreate: "true"}, SparseLoopDevice: &schema.SparseLoopDevice{Size: "1Gi"}}
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: volumeObjects(t, site, v)})
	vol := get(t, m.Client(), volumeObjects(t, site, v)[1])
	uid := vol.GetUID()
	vol.SetFinalizers([]string{volumes.Finalizer})
	if err := m.Client().Update(context.Background(), vol); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Let the API server delete it at the end, whatever the test left.
		u := get(t, m.Client(), volumeObjects(t, site, v)[1])
		u.SetFinalizers(nil)
		_ = m.Client().Update(context.Background(), u)
	})

	v.NodeName = "node-b"
	if _, err := m.Plan(context.Background(), objects.PlanOptions{Objects: volumeObjects(t, site, v)}); err == nil ||
		!strings.Contains(err.Error(), "Volume/"+name) || !strings.Contains(err.Error(), "storage") {
		t.Errorf("plan: want a refusal naming Volume/%s and its storage, got %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := m.Apply(ctx, objects.ApplyOptions{Objects: volumeObjects(t, site, v)})
	if ctx.Err() != nil {
		t.Fatalf("the apply waited for the Volume's deletion: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "Volume/"+name) || !strings.Contains(err.Error(), "storage") {
		t.Errorf("apply: want a refusal naming Volume/%s and its storage, got %v", name, err)
	}
	if got := get(t, m.Client(), volumeObjects(t, site, v)[1]); got.GetUID() != uid || got.GetDeletionTimestamp() != nil {
		t.Errorf("the Volume was deleted (uid %s -> %s, deletion %v)", uid, got.GetUID(), got.GetDeletionTimestamp())
	}
}

// A Volume removed from the site while a claim is being bound to its PersistentVolume
// (the PV controller sets the claimRef before the phase Bound): a deletion cannot be
// undone, and the claim is about to use the volume, so prune keeps it, in the plan and
// the apply, as it keeps a Bound one. Once Released (the claim deleted), it goes.
func TestPruneKeepsAVolumeBeingClaimed(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	site, name := unique("volclaim"), unique("vol")
	v := schema.Volume{Name: name, NodeName: "node-a", StorageClassName: "metalk8s", SparseLoopDevice: &schema.SparseLoopDevice{Size: "1Gi"}}
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: volumeObjects(t, site, v)})
	vol := volumeObjects(t, site, v)[1]
	uid := get(t, m.Client(), vol).GetUID()
	pv := `apiVersion: v1
kind: PersistentVolume
metadata: {name: ` + name + `}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: metalk8s
  local: {path: /mnt/` + name + `}
  claimRef: {kind: PersistentVolumeClaim, namespace: default, name: data-0}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-a]}]
`
	if out, err := e.RunKubectlStdin(ctx, []byte(pv), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	crdOnly := volumeObjects(t, site, v)[:1]
	plan, err := m.Plan(ctx, objects.PlanOptions{Objects: crdOnly, AllowPruneAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(plan)["Volume/"+name]; a != change.Skipped {
		t.Errorf("plan: Volume/%s %s, want skipped: %v", name, a, plan)
	}
	set, err := m.Apply(ctx, objects.ApplyOptions{Objects: crdOnly, AllowPruneAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, m.Client(), vol); got.GetUID() != uid || got.GetDeletionTimestamp() != nil {
		t.Fatalf("the Volume was deleted while a claim is being bound to its PersistentVolume: %v", set)
	}
	if i := slices.IndexFunc(set, func(e change.Entry) bool { return e.Subject == "Volume/"+name }); i < 0 ||
		set[i].Action != change.Skipped || !strings.Contains(set[i].Message, "default/data-0") {
		t.Errorf("apply: %v", set)
	}
	// The claim deleted: the PersistentVolume is Released and keeps its claimRef (a
	// Retain volume does). The Volume is free, and goes.
	if out, err := e.RunKubectl(ctx, "patch", "pv", name, "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Released"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if set, err = m.Apply(ctx, objects.ApplyOptions{Objects: crdOnly, AllowPruneAll: true}); err != nil || actions(set)["Volume/"+name] != change.Deleted {
		t.Fatalf("the Volume of a Released PersistentVolume was not pruned: %v %v", err, set)
	}
}
