package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/schema"
)

// fakeEffective stands in for schema.EffectiveConfig: the override's spec, or an
// empty map, so that these tests exercise render alone.
func fakeEffective(site *schema.Site, kind string) (map[string]any, error) {
	if s, ok := site.Service(kind); ok {
		return map[string]any{"kind": kind, "override": s.Override}, nil
	}
	return map[string]any{"kind": kind}, nil
}

func testSite() *schema.Site {
	return &schema.Site{
		Cluster: schema.Cluster{Version: "2.10.0"},
		Nodes: []schema.Node{
			{Name: "node-1", Roles: []string{"bootstrap", "etcd", "master"},
				Labels:      map[string]string{"topology.kubernetes.io/zone": "a"},
				Annotations: map[string]string{"example.com/note": "first"},
				Taints: []schema.Taint{{Key: "node-role.kubernetes.io/bootstrap", Effect: "NoSchedule"},
					{Key: "node-role.kubernetes.io/infra", Effect: "NoSchedule"}},
				SSH: schema.SSH{Host: "10.213.1.1", User: "root", Port: 22, KeyPath: "/etc/metalk8s/pki/salt-bootstrap", HostKey: "ssh-ed25519 AAAAC3Nza"}},
			{Name: "node-2", Roles: []string{"node"},
				SSH: schema.SSH{Host: "10.213.1.2", User: "centos", Port: 2222, Sudo: true}},
		},
		Volumes: []schema.Volume{
			{Name: "node-1-prometheus", NodeName: "node-1", StorageClassName: "metalk8s",
				RawBlockDevice: &schema.RawBlockDevice{DevicePath: "/dev/vdb"},
				TemplateLabels: map[string]string{"app.kubernetes.io/name": "prometheus-operator-prometheus"}},
			{Name: "node-2-loop", NodeName: "node-2", StorageClassName: "metalk8s", Mode: "Block",
				SparseLoopDevice: &schema.SparseLoopDevice{Size: "10Gi"}},
		},
		StorageClasses: []schema.StorageClass{{Name: "metalk8s", Provisioner: "kubernetes.io/no-provisioner",
			ReclaimPolicy: "Retain", VolumeBindingMode: "WaitForFirstConsumer", MountOptions: []string{"rw"},
			Parameters: map[string]string{"fsType": "ext4", "mkfsOptions": `["-m", "0"]`}}},
		Services: []schema.ServiceConfig{{Kind: "PrometheusConfig", APIVersion: "addons.metalk8s.scality.com",
			Override: map[string]any{"apiVersion": "addons.metalk8s.scality.com", "kind": "PrometheusConfig",
				"spec": map[string]any{"deployment": map[string]any{"replicas": 2}}}}},
		Environments: []schema.Environment{{Name: "prod", Description: "Production",
			Namespaces: []schema.EnvironmentNamespace{{Name: "prod-a", Solutions: map[string]string{"example-solution": "1.0.0"}}}}},
		Manifests: []schema.Manifest{{Source: schema.Source{File: "manifests/rbac.yaml", Line: 1},
			APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding", Name: "ops-admin",
			Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
				"metadata": map[string]any{"name": "ops-admin", "resourceVersion": "12"},
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
				"subjects": []any{map[string]any{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}}}}},
	}
}

func renderT(t *testing.T, site *schema.Site) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective})
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("%s %s/%s not rendered", kind, ns, name)
	return nil
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := Marshal(renderT(t, testSite()))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Marshal(renderT(t, testSite()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("two renders of the same site differ:\n%s\n---\n%s", a, b)
		}
	}
}

func TestEveryObjectCarriesOwnershipLabels(t *testing.T) {
	for _, o := range renderT(t, testSite()) {
		l := o.GetLabels()
		if l[LabelManagedBy] != "mk8s" || l[LabelSite] != "test" {
			t.Errorf("%s lacks ownership labels: %v", ID(o), l)
		}
	}
}

func TestNodes(t *testing.T) {
	objs := renderT(t, testSite())
	n := find(t, objs, "Node", "", "node-1")
	if _, ok := n.Object["status"]; ok {
		t.Error("Node carries a status")
	}
	l := n.GetLabels()
	for _, r := range []string{"bootstrap", "etcd", "master"} {
		if v, ok := l["node-role.kubernetes.io/"+r]; !ok || v != "" {
			t.Errorf("role label %s missing or not empty: %v", r, l)
		}
	}
	if l["metalk8s.scality.com/version"] != "2.10.0" || l["topology.kubernetes.io/zone"] != "a" {
		t.Errorf("labels: %v", l)
	}
	a := n.GetAnnotations()
	want := map[string]string{
		"metalk8s.scality.com/ssh-host": "10.213.1.1", "metalk8s.scality.com/ssh-user": "root",
		"metalk8s.scality.com/ssh-port": "22", "metalk8s.scality.com/ssh-key-path": "/etc/metalk8s/pki/salt-bootstrap",
		"metalk8s.scality.com/ssh-sudo": "false", "metalk8s.scality.com/ssh-host-key": "ssh-ed25519 AAAAC3Nza",
		"example.com/note": "first",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a[k], v)
		}
	}
	taints, _, _ := unstructured.NestedSlice(n.Object, "spec", "taints")
	if len(taints) != 2 || taints[0].(map[string]any)["key"] != "node-role.kubernetes.io/bootstrap" || taints[0].(map[string]any)["effect"] != "NoSchedule" {
		t.Errorf("taints: %v", taints)
	}
	n2 := find(t, objs, "Node", "", "node-2")
	if _, ok := n2.Object["spec"]; ok {
		t.Errorf("node without taints renders a spec: %v", n2.Object["spec"])
	}
	if n2.GetAnnotations()["metalk8s.scality.com/ssh-sudo"] != "true" || n2.GetAnnotations()["metalk8s.scality.com/ssh-port"] != "2222" {
		t.Errorf("node-2 annotations: %v", n2.GetAnnotations())
	}
}

func TestVolumesAndCRD(t *testing.T) {
	objs := renderT(t, testSite())
	crd := find(t, objs, "CustomResourceDefinition", "", "volumes.storage.metalk8s.scality.com")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	v := versions[0].(map[string]any)
	if v["name"] != "v1alpha1" {
		t.Errorf("CRD version %v", v["name"])
	}
	if _, ok, _ := unstructured.NestedMap(v, "subresources", "status"); !ok {
		t.Error("CRD has no status subresource")
	}
	var cols []string
	for _, c := range v["additionalPrinterColumns"].([]any) {
		cols = append(cols, strings.ToUpper(c.(map[string]any)["name"].(string)))
	}
	if got := strings.Join(cols, ","); !strings.HasPrefix(got, "NODE,STORAGECLASS") {
		t.Errorf("printer columns %s", got)
	}
	props, _, _ := unstructured.NestedMap(v, "schema", "openAPIV3Schema", "properties", "spec", "properties")
	for _, f := range []string{"nodeName", "storageClassName", "mode", "rawBlockDevice", "sparseLoopDevice", "lvmLogicalVolume", "template"} {
		if _, ok := props[f]; !ok {
			t.Errorf("CRD spec lacks %s", f)
		}
	}
	st, _, _ := unstructured.NestedMap(v, "schema", "openAPIV3Schema", "properties", "status", "properties")
	for _, f := range []string{"conditions", "phase", "deviceName"} {
		if _, ok := st[f]; !ok {
			t.Errorf("CRD status lacks %s", f)
		}
	}

	vol := find(t, objs, "Volume", "", "node-1-prometheus")
	if vol.GetAPIVersion() != "storage.metalk8s.scality.com/v1alpha1" {
		t.Errorf("apiVersion %s", vol.GetAPIVersion())
	}
	spec, _, _ := unstructured.NestedMap(vol.Object, "spec")
	if spec["nodeName"] != "node-1" || spec["mode"] != "Filesystem" || spec["storageClassName"] != "metalk8s" {
		t.Errorf("spec %v", spec)
	}
	if p, _, _ := unstructured.NestedString(spec, "rawBlockDevice", "devicePath"); p != "/dev/vdb" {
		t.Errorf("devicePath %q", p)
	}
	if l, _, _ := unstructured.NestedString(spec, "template", "metadata", "labels", "app.kubernetes.io/name"); l != "prometheus-operator-prometheus" {
		t.Errorf("template label %q", l)
	}
	loop := find(t, objs, "Volume", "", "node-2-loop")
	if s, _, _ := unstructured.NestedString(loop.Object, "spec", "sparseLoopDevice", "size"); s != "10Gi" {
		t.Errorf("sparse size %q", s)
	}
}

func TestStorageClass(t *testing.T) {
	sc := find(t, renderT(t, testSite()), "StorageClass", "", "metalk8s")
	if sc.GetAPIVersion() != "storage.k8s.io/v1" || sc.Object["provisioner"] != "kubernetes.io/no-provisioner" ||
		sc.Object["reclaimPolicy"] != "Retain" || sc.Object["volumeBindingMode"] != "WaitForFirstConsumer" {
		t.Errorf("storage class %v", sc.Object)
	}
	if p, _, _ := unstructured.NestedString(sc.Object, "parameters", "mkfsOptions"); p != `["-m", "0"]` {
		t.Errorf("mkfsOptions %q", p)
	}
}

func TestServiceConfigMaps(t *testing.T) {
	objs := renderT(t, testSite())
	digests := map[string]string{}
	for _, svc := range schema.Services() {
		cm := find(t, objs, "ConfigMap", svc.Namespace, svc.ConfigMap)
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		conf, ok := data["config.yaml"]
		if !ok {
			t.Errorf("%s has no config.yaml", svc.ConfigMap)
		}
		if svc.Kind == "PrometheusConfig" {
			var got map[string]any
			if err := yaml.Unmarshal([]byte(conf), &got); err != nil || got["kind"] != "PrometheusConfig" {
				t.Errorf("prometheus config.yaml = %q (%v)", conf, err)
			}
		} else if conf != "" {
			t.Errorf("%s: config.yaml = %q, want empty (no override)", svc.ConfigMap, conf)
		}
		d := cm.GetAnnotations()[AnnotationEffectiveConfigDigest]
		if !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64 {
			t.Errorf("%s digest %q", svc.ConfigMap, d)
		}
		digests[svc.Kind] = d
		find(t, objs, "Namespace", "", svc.Namespace)
	}

	// A changed override changes that ConfigMap and its digest only.
	site := testSite()
	site.Services[0].Override["spec"] = map[string]any{"deployment": map[string]any{"replicas": 3}}
	objs2 := renderT(t, site)
	for _, svc := range schema.Services() {
		cm := find(t, objs2, "ConfigMap", svc.Namespace, svc.ConfigMap)
		changed := cm.GetAnnotations()[AnnotationEffectiveConfigDigest] != digests[svc.Kind]
		if changed != (svc.Kind == "PrometheusConfig") {
			t.Errorf("%s: digest changed = %v", svc.Kind, changed)
		}
	}
}

func TestEnvironments(t *testing.T) {
	objs := renderT(t, testSite())
	ns := find(t, objs, "Namespace", "", "prod-a")
	if ns.GetLabels()["solutions.metalk8s.scality.com/environment"] != "prod" ||
		ns.GetAnnotations()["solutions.metalk8s.scality.com/environment-description"] != "Production" {
		t.Errorf("environment namespace %v", ns.Object["metadata"])
	}
	cm := find(t, objs, "ConfigMap", "prod-a", "metalk8s-environment")
	if cm.GetAPIVersion() != "v1" {
		t.Errorf("environment ConfigMap apiVersion %s", cm.GetAPIVersion())
	}
	if v, _, _ := unstructured.NestedString(cm.Object, "data", "example-solution"); v != "1.0.0" {
		t.Errorf("environment ConfigMap data %v", cm.Object["data"])
	}
}

func TestManifestsAsIs(t *testing.T) {
	objs := renderT(t, testSite())
	crb := find(t, objs, "ClusterRoleBinding", "", "ops-admin")
	if crb.GetResourceVersion() != "" {
		t.Error("server-managed resourceVersion kept")
	}
	if n, _, _ := unstructured.NestedString(crb.Object, "roleRef", "name"); n != "cluster-admin" {
		t.Errorf("roleRef %v", crb.Object["roleRef"])
	}
}

func TestDuplicateIsAnError(t *testing.T) {
	site := testSite()
	site.Manifests = append(site.Manifests, schema.Manifest{Source: schema.Source{File: "manifests/dup.yaml", Line: 3},
		Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "metalk8s-prometheus-config", "namespace": "metalk8s-monitoring"}}})
	_, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective})
	if err == nil || !strings.Contains(err.Error(), "manifests/dup.yaml:3") {
		t.Fatalf("want a duplicate error naming manifests/dup.yaml:3, got %v", err)
	}
}

// The example site, loaded by the real loader and merged with the real platform
// defaults, renders to the same bytes every time, with every kind the site declares.
func TestSiteExampleRender(t *testing.T) {
	var first []byte
	for i := range 3 {
		site, diags := schema.LoadDir(context.Background(), filepath.Join("..", "..", "site-example"))
		if site == nil {
			t.Fatalf("load site-example: %v", diags.Errors())
		}
		objs, err := Objects(site, Options{SiteName: "example"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(objs)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
			}
			if kinds["Node"] != len(site.Nodes) || kinds["Volume"] != len(site.Volumes) || kinds["ConfigMap"] < 8 ||
				kinds["CustomResourceDefinition"] != 1 || kinds["StorageClass"] != len(site.StorageClasses) {
				t.Errorf("kinds rendered: %v", kinds)
			}
			continue
		}
		if !bytes.Equal(first, b) {
			t.Fatal("two renders of site-example differ")
		}
	}
}

// loadEdited copies site-example into a temporary directory, appends text to some of its
// files, and loads it with the real loader.
func loadEdited(t *testing.T, appends map[string]string) *schema.Site {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	for rel, text := range appends {
		f, err := os.OpenFile(filepath.Join(dst, filepath.FromSlash(rel)), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	site, diags := schema.LoadDir(context.Background(), dst)
	if site == nil || diags.HasErrors() {
		t.Fatalf("load: %v", diags.Errors())
	}
	return site
}

// Fields the schema accepts are rendered, not dropped: a cordoned node and a
// StorageClass that allows volume expansion.
func TestDeclaredFieldsAreRendered(t *testing.T) {
	site := loadEdited(t, map[string]string{
		"nodes/worker-3.yaml":          "spec:\n  unschedulable: true\n",
		"storageclasses/metalk8s.yaml": "allowVolumeExpansion: true\n",
	})
	objs, err := Objects(site, Options{SiteName: "example"})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok, _ := unstructured.NestedBool(find(t, objs, "Node", "", "worker-3").Object, "spec", "unschedulable"); !ok || !u {
		t.Error("worker-3 declares spec.unschedulable: true; the rendered Node does not")
	}
	if _, ok := find(t, objs, "Node", "", "worker-2").Object["spec"]; ok {
		t.Error("worker-2 declares no spec; the rendered Node has one")
	}
	if e, ok, _ := unstructured.NestedBool(find(t, objs, "StorageClass", "", "metalk8s").Object, "allowVolumeExpansion"); !ok || !e {
		t.Error("the StorageClass declares allowVolumeExpansion: true; the rendered one does not")
	}
}

// A manifest or an environment that declares an object the site already renders is an
// error `mk8s validate` reports with its file, line and field, not only the render.
func TestCheckReportsDuplicatesWithTheirPlace(t *testing.T) {
	site := loadEdited(t, map[string]string{
		"manifests/rbac/jane-view.yaml": "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {team: ops}\n  name: metalk8s-monitoring\n",
	})
	lines := strings.Count(readExample(t, "manifests/rbac/jane-view.yaml"), "\n")
	ds := Check(site)
	if len(ds) != 1 {
		t.Fatalf("want one diagnostic, got %v", ds)
	}
	d := ds[0]
	if d.File != "manifests/rbac/jane-view.yaml" || d.Line != lines+6 || d.Field != "metadata.name" ||
		!strings.Contains(d.Message, `Namespace "metalk8s-monitoring"`) {
		t.Errorf("diagnostic %q (file %q line %d field %q), want manifests/rbac/jane-view.yaml:%d metadata.name",
			d.String(), d.File, d.Line, d.Field, lines+6)
	}

	site = loadEdited(t, nil)
	site.Environments[0].Namespaces[0].Name = "metalk8s-ui"
	ds = Check(site)
	if len(ds) != 1 || ds[0].File != "environments/staging.yaml" || ds[0].Field != "spec.namespaces[0].name" {
		t.Errorf("environment namespace of the platform: %v", ds)
	}
	// The namespaces of an environment are sorted by name; the field is named as written.
	unsorted := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n" +
		"spec:\n  namespaces:\n    - name: zz-staging\n    - name: metalk8s-ui\n"
	ds = Check(loadWith(t, map[string]*string{"environments/staging.yaml": &unsorted}))
	if len(ds) != 1 || ds[0].Field != "spec.namespaces[1].name" || ds[0].Line != 8 {
		t.Errorf("environment namespace of the platform, second in its file: %v", ds)
	}
	if ds := Check(loadEdited(t, nil)); len(ds) != 0 {
		t.Errorf("site-example: %v", ds)
	}
}

func readExample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "site-example", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
