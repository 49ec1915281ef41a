package objects

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// resourceVersions reads the resourceVersion of every inventoried object.
func resourceVersions(t *testing.T, env *kubeenv.Env) map[string]string {
	t.Helper()
	m, err := objects.New(env.Config, objects.NewOptions{Site: reconciler.DefaultSiteName})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := m.ReadInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, env)
	out := map[string]string{}
	for _, e := range inv.Entries {
		md, err := object.ParseObjMetadata(e.ID) // ns_name_group_Kind, ':' in a name as "__"
		if err != nil {
			t.Fatal(err)
		}
		ns, name, group, kind := md.Namespace, md.Name, md.GroupKind.Group, md.GroupKind.Kind
		apiVersion := e.Version
		if group != "" {
			apiVersion = group + "/" + e.Version
		}
		u, ok := getObj(t, c, apiVersion, kind, ns, name)
		if !ok {
			t.Fatalf("inventoried %s is absent", e.ID)
		}
		out[e.ID] = u.GetResourceVersion()
	}
	return out
}

// Apply site-example, then again: every object unchanged, no write request, no
// dry-run, no resourceVersion moves.
func TestSiteExampleSecondReconcileIsNoop(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	first := mustReconcile(t, env, dir)
	if n := first.Summary()[change.Created]; n < 20 {
		t.Fatalf("first reconcile created %d objects: %v", n, first)
	}
	before := resourceVersions(t, env)

	var counter kubeenv.RequestCounter
	res, err := reconcile(t, env, dir, func(o *reconciler.Options) { o.Kube = counter.Wrap(env.Config) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects.Changed() || len(res.Objects) != len(first) {
		t.Fatalf("second reconcile is not all unchanged: %v", byAction(res.Objects))
	}
	for _, e := range res.Objects {
		if e.Action != change.Unchanged {
			t.Errorf("%s: %s", e.Subject, e.Action)
		}
	}
	if counter.Writes() != 0 || counter.DryRuns() != 0 {
		t.Errorf("second reconcile made %d writes, %d dry-runs: %s", counter.Writes(), counter.DryRuns(), counter.String())
	}
	after := resourceVersions(t, env)
	if len(after) != len(before) {
		t.Fatalf("inventory changed: %d -> %d entries", len(before), len(after))
	}
	for id, rv := range before {
		if after[id] != rv {
			t.Errorf("%s: resourceVersion %s -> %s", id, rv, after[id])
		}
	}
	t.Logf("%d objects, no-op requests: %s", len(first), counter.String())
}

// Changing one service override changes exactly that ConfigMap and its effective
// configuration digest.
func TestServiceOverrideChangesOneConfigMap(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	mustReconcile(t, env, dir)
	c := newClient(t, env)
	digests := map[string]string{}
	for _, name := range []string{"metalk8s-prometheus-config", "metalk8s-alertmanager-config", "metalk8s-grafana-config"} {
		u, _ := getObj(t, c, "v1", "ConfigMap", "metalk8s-monitoring", name)
		digests[name] = u.GetAnnotations()[render.AnnotationEffectiveConfigDigest]
	}

	edit(t, dir, "services/prometheus.yaml", "retention_time: 30d", "retention_time: 45d")
	set := mustReconcile(t, env, dir)
	got := byAction(set)
	want := "ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config"
	if len(got[change.Configured]) != 1 || got[change.Configured][0] != want || len(got[change.Created]) != 0 || len(got[change.Deleted]) != 0 {
		t.Fatalf("want exactly %s configured, got %v", want, got)
	}
	prom, _ := getObj(t, c, "v1", "ConfigMap", "metalk8s-monitoring", "metalk8s-prometheus-config")
	if conf, _, _ := unstructured.NestedString(prom.Object, "data", "config.yaml"); !strings.Contains(conf, "retention_time: 45d") {
		t.Errorf("config.yaml not updated:\n%s", conf)
	}
	if d := prom.GetAnnotations()[render.AnnotationEffectiveConfigDigest]; d == digests["metalk8s-prometheus-config"] || !strings.HasPrefix(d, "sha256:") {
		t.Errorf("effective digest did not change: %s", d)
	}
	for _, name := range []string{"metalk8s-alertmanager-config", "metalk8s-grafana-config"} {
		u, _ := getObj(t, c, "v1", "ConfigMap", "metalk8s-monitoring", name)
		if d := u.GetAnnotations()[render.AnnotationEffectiveConfigDigest]; d != digests[name] {
			t.Errorf("%s digest changed", name)
		}
	}
}

// Removing a node and a volume from the site prunes their objects; objects created by
// kubectl alongside are untouched.
func TestRemovedNodeAndVolumeArePruned(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	mustReconcile(t, env, dir)

	ctx := context.Background()
	byHand := `apiVersion: storage.metalk8s.scality.com/v1alpha1
kind: Volume
metadata:
  name: by-hand
spec:
  nodeName: worker-3
  storageClassName: metalk8s
  sparseLoopDevice:
    size: 1Gi
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: by-hand
  namespace: metalk8s-monitoring
data:
  note: created with kubectl
`
	if out, err := env.RunKubectlStdin(ctx, []byte(byHand), "create", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := env.RunKubectl(ctx, "create", "configmap", "by-hand-2", "-n", "metalk8s-monitoring", "--from-literal=a=b"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	if err := os.Remove(filepath.Join(dir, "nodes", "worker-3.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "volumes", "worker-1-loki.yaml")); err != nil {
		t.Fatal(err)
	}
	set := mustReconcile(t, env, dir)
	got := byAction(set)
	for _, s := range []string{"Node/worker-3", "Volume/worker-1-loki"} {
		if !contains(got[change.Deleted], s) {
			t.Errorf("%s not deleted: %v", s, got)
		}
	}
	if n := len(got[change.Deleted]); n != 2 {
		t.Errorf("%d objects deleted, want 2: %v", n, got[change.Deleted])
	}
	c := newClient(t, env)
	if _, ok := getObj(t, c, "v1", "Node", "", "worker-3"); ok {
		t.Error("Node worker-3 still exists")
	}
	if _, ok := getObj(t, c, schema.APIVersionVolume, "Volume", "", "worker-1-loki"); ok {
		t.Error("Volume worker-1-loki still exists")
	}
	for _, o := range [][3]string{{schema.APIVersionVolume, "Volume", ""}, {"v1", "ConfigMap", "metalk8s-monitoring"}} {
		u, ok := getObj(t, c, o[0], o[1], o[2], "by-hand")
		if !ok {
			t.Errorf("%s by-hand created by kubectl was deleted", o[1])
		} else if _, mine := u.GetLabels()[render.LabelManagedBy]; mine {
			t.Errorf("%s by-hand was modified: %v", o[1], u.GetLabels())
		}
	}
	if _, ok := getObj(t, c, "v1", "ConfigMap", "metalk8s-monitoring", "by-hand-2"); !ok {
		t.Error("ConfigMap by-hand-2 was deleted")
	}
}

// A field edited by hand on an owned object is restored; a field added by another
// manager that mk8s does not set is left alone.
func TestKubectlEditIsRestored(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	mustReconcile(t, env, dir)
	ctx := context.Background()
	// kubectl edit = an update by another field manager; patch does the same without an editor.
	for _, args := range [][]string{
		{"-n", "metalk8s-monitoring", "patch", "configmap", "metalk8s-prometheus-config", "--type=merge",
			"-p", `{"data":{"config.yaml":"edited by hand\n"},"metadata":{"annotations":{"example.com/ticket":"OPS-1"}}}`},
		{"label", "node", "worker-1", "--overwrite", "node-role.kubernetes.io/node-", "example.com/rack=r1"},
		{"patch", "storageclass", "metalk8s", "--type=merge", "-p", `{"mountOptions":["ro"]}`},
	} {
		if out, err := env.RunKubectl(ctx, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	set := mustReconcile(t, env, dir)
	got := byAction(set)
	for _, s := range []string{"ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config", "Node/worker-1", "StorageClass/metalk8s"} {
		if !contains(got[change.Configured], s) {
			t.Errorf("%s not configured: %v", s, got)
		}
	}
	c := newClient(t, env)
	cm, _ := getObj(t, c, "v1", "ConfigMap", "metalk8s-monitoring", "metalk8s-prometheus-config")
	if conf, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml"); !strings.Contains(conf, "retention_time: 30d") {
		t.Errorf("config.yaml not restored:\n%s", conf)
	}
	if cm.GetAnnotations()["example.com/ticket"] != "OPS-1" {
		t.Errorf("annotation of another manager removed: %v", cm.GetAnnotations())
	}
	node, _ := getObj(t, c, "v1", "Node", "", "worker-1")
	if _, ok := node.GetLabels()["node-role.kubernetes.io/node"]; !ok {
		t.Errorf("role label not restored: %v", node.GetLabels())
	}
	if node.GetLabels()["example.com/rack"] != "r1" {
		t.Errorf("label of another manager removed: %v", node.GetLabels())
	}
	sc, _ := getObj(t, c, "storage.k8s.io/v1", "StorageClass", "", "metalk8s")
	if mo, _, _ := unstructured.NestedStringSlice(sc.Object, "mountOptions"); len(mo) != 1 || mo[0] != "rw" {
		t.Errorf("mountOptions not restored: %v", mo)
	}
}

// An immutable-field change fails with a clear message naming the object and field,
// and changes nothing; with the recreate annotation the object is recreated.
func TestImmutableFieldChange(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	mustReconcile(t, env, dir)
	c := newClient(t, env)
	old, _ := getObj(t, c, schema.APIVersionVolume, "Volume", "", "worker-1-alertmanager")

	edit(t, dir, "volumes/worker-1-alertmanager.yaml", "nodeName: worker-1", "nodeName: worker-2")
	res, err := reconcile(t, env, dir, nil)
	if err == nil {
		t.Fatalf("reconcile accepted an immutable change: %v", res.Objects)
	}
	for _, want := range []string{"Volume/worker-1-alertmanager", "spec.nodeName", "immutable", render.AnnotationRecreate} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	if u, _ := getObj(t, c, schema.APIVersionVolume, "Volume", "", "worker-1-alertmanager"); u.GetUID() != old.GetUID() {
		t.Fatal("the refused object was recreated")
	} else if n, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName"); n != "worker-1" {
		t.Fatalf("the refused change was applied: nodeName=%s", n)
	}

	edit(t, dir, "volumes/worker-1-alertmanager.yaml", "  name: worker-1-alertmanager\n",
		"  name: worker-1-alertmanager\n  annotations:\n    "+render.AnnotationRecreate+": \"true\"\n")
	set := mustReconcile(t, env, dir)
	u, ok := getObj(t, c, schema.APIVersionVolume, "Volume", "", "worker-1-alertmanager")
	if !ok || u.GetUID() == old.GetUID() {
		t.Fatalf("opted-in volume not recreated: %v", byAction(set))
	}
	if n, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName"); n != "worker-2" {
		t.Errorf("recreated volume nodeName=%s", n)
	}
}
