package status

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

//go:embed crd.yaml
var crdYAML []byte

// CRDName is the name of the Site CustomResourceDefinition.
const CRDName = Resource + "." + Group

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDYAML returns the CustomResourceDefinition of Site as YAML.
func CRDYAML() []byte { return append([]byte(nil), crdYAML...) }

// CRD returns the CustomResourceDefinition of Site as an unstructured object, for the
// apply stage to apply with the rest of the platform objects.
func CRD() (*unstructured.Unstructured, error) {
	obj := map[string]any{}
	if err := yaml.Unmarshal(crdYAML, &obj); err != nil {
		return nil, fmt.Errorf("decode embedded CRD %s: %w", CRDName, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// EnsureCRD applies the Site CRD by server-side apply (field manager "mk8s", the same
// one the apply stage uses, so the two never conflict) and waits until the API serves
// it: the daemon must record status before the first reconcile has applied anything.
func (c *Client) EnsureCRD(ctx context.Context) error {
	crd, err := CRD()
	if err != nil {
		return err
	}
	if _, err := c.dyn.Resource(crdGVR).Apply(ctx, CRDName, crd, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply CustomResourceDefinition %s: %w", CRDName, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := c.dyn.Resource(crdGVR).Get(ctx, CRDName, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling until the deadline
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, ci := range conds {
			m, _ := ci.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CustomResourceDefinition %s to be established: %w", CRDName, err)
	}
	return nil
}
