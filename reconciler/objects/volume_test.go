package objects_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// volumeObjects renders the Volume CRD and one Volume, as a site declares them.
func volumeObjects(t *testing.T, site string, v schema.Volume) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Objects(&schema.Site{Volumes: []schema.Volume{v}}, render.Options{SiteName: site,
		EffectiveConfig: func(*schema.Site, string) (map[string]any, error) { return map[string]any{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == schema.KindVolume {
			out = append(out, o)
		}
	}
	return out
}

// The storage operator prepared a device for the source a Volume was created with:
// moving it to another kind of source (a raw device to a sparse file, …) is an
// immutable-field change like moving it to another node, not a silent update.
func TestVolumeSourceKindIsImmutable(t *testing.T) {
	site, name := unique("volsrc"), unique("vol")
	raw := schema.Volume{Name: name, NodeName: "node-a", StorageClassName: "metalk8s",
		RawBlockDevice: &schema.RawBlockDevice{DevicePath: "/dev/vdc"}}
	sparse := raw
	sparse.RawBlockDevice, sparse.SparseLoopDevice = nil, &schema.SparseLoopDevice{Size: "1Gi"}

	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: volumeObjects(t, site, raw)})
	_, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: volumeObjects(t, site, sparse)})
	var ie *objects.ImmutableError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "Volume/"+name) {
		t.Fatalf("want an ImmutableError naming Volume/%s, got %v", name, err)
	}
	live := get(t, m.Client(), volumeObjects(t, site, raw)[1])
	if p, _, _ := unstructured.NestedString(live.Object, "spec", "rawBlockDevice", "devicePath"); p != "/dev/vdc" {
		t.Errorf("the refused change was applied: spec %v", live.Object["spec"])
	}
	// Changes of the mutable fields still go through.
	raw.TemplateLabels = map[string]string{"app.kubernetes.io/name": "loki"}
	apply(t, m, objects.ApplyOptions{Objects: volumeObjects(t, site, raw)})
}
