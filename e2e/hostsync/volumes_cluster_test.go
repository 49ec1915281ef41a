package hostsynce2e_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/volumes"
	"github.com/metalk8s/mk8s/schema"
)

// A Volume end to end, on a real host and a real API server: its object applied, its
// storage prepared on the node over SSH (a sparse file, a loop device, xfs whose UUID
// is the Volume's UID), its PersistentVolume on /dev/disk/by-uuid/<uid>, Available; a
// second reconcile changes nothing; the Volume removed from the cluster is released on
// the host (no loop device, no file) and its PersistentVolume deleted.
func TestVolumeEndToEnd(t *testing.T) {
	ctx := testCtx(t)
	env := kubeenv.StartT(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster))
	site.StorageClasses = []schema.StorageClass{{Name: "metalk8s", Provisioner: "kubernetes.io/no-provisioner",
		Parameters: map[string]string{"fsType": "xfs"}, MountOptions: []string{"rw"}}}
	site.Volumes = []schema.Volume{{Name: "node-1-data", NodeName: "node-1", StorageClassName: "metalk8s", Mode: volume.ModeFilesystem,
		SparseLoopDevice: &schema.SparseLoopDevice{Size: "320Mi"}, TemplateLabels: map[string]string{"app.kubernetes.io/name": "data"}}}

	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Objects(site, render.Options{SiteName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var vol *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GetName() == "volumes.storage.metalk8s.scality.com" {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		if o.GetKind() == "Volume" {
			vol = o
		}
	}
	poll(t, ctx, 30*time.Second, "creating the Volume", func() error { return c.Create(ctx, vol.DeepCopy()) })

	po := planOpts(l)
	m, err := volumes.New(volumes.Options{Kube: env.Config, SiteName: "default", Storage: &hostsync.VolumeStorage{Options: po}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan(ctx, site)
	if err != nil || !slices.ContainsFunc(plan, func(e change.Entry) bool {
		return e.Host == "node-1" && strings.HasPrefix(e.Subject, "Filesystem ") && e.Action == change.Created
	}) {
		t.Fatalf("plan: %v\n%v", err, plan)
	}
	set, err := m.Reconcile(ctx, site)
	if err != nil {
		t.Fatalf("%v\n%v", err, set)
	}
	live := &unstructured.Unstructured{}
	live.SetAPIVersion(schema.APIVersionVolume)
	live.SetKind("Volume")
	if err := c.Get(ctx, client.ObjectKey{Name: "node-1-data"}, live); err != nil {
		t.Fatal(err)
	}
	uid := string(live.GetUID())
	if phase, _, _ := unstructured.NestedString(live.Object, "status", "phase"); phase != volumes.PhaseAvailable {
		t.Fatalf("status: %v", live.Object["status"])
	}
	if b := blkidOn(t, ctx, l, h, "$(losetup -n -O NAME -j "+volume.SparseDir+"/"+uid+")"); !strings.Contains(b, "TYPE=xfs") || !strings.Contains(b, "UUID="+uid) {
		t.Fatalf("blkid: %s", b)
	}
	pv := &unstructured.Unstructured{}
	pv.SetAPIVersion("v1")
	pv.SetKind("PersistentVolume")
	if err := c.Get(ctx, client.ObjectKey{Name: "node-1-data"}, pv); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := unstructured.NestedString(pv.Object, "spec", "local", "path"); p != "/dev/disk/by-uuid/"+uid {
		t.Fatalf("PersistentVolume path %q", p)
	}
	if set, err := m.Reconcile(ctx, site); err != nil || set.Changed() {
		t.Fatalf("second reconcile: %v\n%v", err, set)
	}

	// Removed: the objects half's prune deletes the Volume; the finalizer keeps it
	// until the storage is released.
	if err := c.Delete(ctx, live); err != nil {
		t.Fatal(err)
	}
	site.Volumes = nil
	if set, err := m.Reconcile(ctx, site); err != nil {
		t.Fatalf("release: %v\n%v", err, set)
	}
	if out, err := l.Run(ctx, h, "losetup -n -j "+volume.SparseDir+"/"+uid+"; test ! -e "+volume.SparseDir+"/"+uid+" || echo file"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("after release: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(h.Dir(), "upper", volume.SparseDir, uid)); !os.IsNotExist(err) {
		t.Fatalf("the sparse file is still there: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "node-1-data"}, live); !apierrors.IsNotFound(err) {
		t.Fatalf("the Volume is still there: %v", err)
	}
}
