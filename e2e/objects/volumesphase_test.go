package objects

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// recordingVolumes is a VolumeReconciler that records what the cluster held when it
// was called.
type recordingVolumes struct {
	t                   *testing.T
	c                   client.Client
	reconciled, planned int
	uid                 string
}

func (v *recordingVolumes) Plan(context.Context, *schema.Site) (change.Set, error) {
	v.planned++
	return change.Set{{Subject: "Volume/worker-1-loki", Action: change.Unchanged}}, nil
}

func (v *recordingVolumes) Reconcile(context.Context, *schema.Site) (change.Set, error) {
	v.reconciled++
	if u, ok := getObj(v.t, v.c, "storage.metalk8s.scality.com/v1alpha1", "Volume", "", "worker-1-loki"); ok {
		v.uid = string(u.GetUID())
	}
	return change.Set{{Subject: "PersistentVolume/worker-1-loki", Action: change.Created}}, nil
}

// The Volumes phase runs after the objects are applied — the Volumes it makes real
// exist and have the UIDs the API server gave them — and only when both halves run.
func TestVolumesPhaseRunsAfterTheObjects(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	v := &recordingVolumes{t: t, c: newClient(t, env)}

	if _, err := reconcile(t, env, dir, func(o *reconciler.Options) { o.Volumes = v }); err != nil {
		t.Fatal(err)
	}
	if v.reconciled != 0 {
		t.Fatal("the Volumes phase ran with --objects-only")
	}
	res, err := reconcile(t, env, dir, func(o *reconciler.Options) { o.Volumes, o.ObjectsOnly = v, false })
	if err != nil {
		t.Fatal(err)
	}
	if v.reconciled != 1 || v.uid == "" || len(res.Volumes) != 1 || res.Volumes[0].Subject != "PersistentVolume/worker-1-loki" {
		t.Fatalf("volumes phase: ran %d, saw UID %q, entries %v", v.reconciled, v.uid, res.Volumes)
	}
	if c := res.Changes(); c[len(c)-1].Subject != "PersistentVolume/worker-1-loki" {
		t.Fatalf("the phase's entries come last: %v", c)
	}
	pres, err := reconciler.Plan(context.Background(), reconciler.Options{Dir: dir, Kube: env.Config, Volumes: v})
	if err != nil || v.planned != 1 || len(pres.Volumes) != 1 {
		t.Fatalf("plan: %v, planned %d, %v", err, v.planned, pres.Volumes)
	}
}
