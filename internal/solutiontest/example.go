package solutiontest

import (
	"context"
	"io/fs"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/solution"
)

// Name of the example Solution, and the group and name of its one CRD.
const (
	Name     = "example-solution"
	CRDGroup = "example-solution.metalk8s.invalid"
	CRDName  = "examples." + CRDGroup
	// RoleName names both the Role and the ClusterRole of its role.yaml.
	RoleName = "example-solution-operator"
)

// Path is where the tests' solutions.yaml says the archive of a version is.
func Path(version string) string { return "/srv/scality/solutions/" + Name + "-" + version + ".iso" }

// Example is the example Solution at a version, as opened from Path(version). Its
// versions differ where an upgrade shows: the images' tags, the rules of the
// ClusterRole (2.x also reads PersistentVolumes) and the CRD's schema (2.x adds
// spec.replicas).
func Example(version string) *solution.Archive {
	v2 := strings.HasPrefix(version, "2.")
	images := []string{Name + "-operator:" + version, Name + "-ui:" + version}
	anyImages := []any{images[0], images[1]}
	clusterResources := []any{"nodes"}
	specProps := map[string]any{"size": map[string]any{"type": "string"}}
	if v2 {
		clusterResources = append(clusterResources, "persistentvolumes")
		specProps["replicas"] = map[string]any{"type": "integer"}
	}
	return &solution.Archive{
		Path:        Path(version),
		Digest:      "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		VolumeID:    Name + " " + version,
		Name:        Name,
		Version:     version,
		DisplayName: "Example Solution",
		Manifest: map[string]any{
			"apiVersion": "solutions.metalk8s.scality.com/v1alpha1",
			"kind":       "Solution",
			"metadata": map[string]any{
				"annotations": map[string]any{"solutions.metalk8s.scality.com/display-name": "Example Solution"},
				"name":        Name,
			},
			"spec": map[string]any{
				"images":   anyImages,
				"operator": map[string]any{"image": map[string]any{"name": Name + "-operator", "tag": version}},
				"version":  version,
			},
		},
		Images:        images,
		OperatorImage: solution.Image{Name: Name + "-operator", Tag: version},
		Roles: []*unstructured.Unstructured{
			{Object: map[string]any{
				"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
				"metadata": map[string]any{"name": RoleName},
				"rules": []any{
					map[string]any{"apiGroups": []any{""}, "resources": []any{"pods", "services", "configmaps"},
						"verbs": []any{"get", "list", "watch", "create", "update", "patch", "delete"}},
					map[string]any{"apiGroups": []any{CRDGroup}, "resources": []any{"*"}, "verbs": []any{"*"}},
				},
			}},
			{Object: map[string]any{
				"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
				"metadata": map[string]any{"name": RoleName},
				"rules": []any{
					map[string]any{"apiGroups": []any{""}, "resources": clusterResources, "verbs": []any{"get", "list", "watch"}},
				},
			}},
		},
		CRDs: []*unstructured.Unstructured{{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": CRDName},
			"spec": map[string]any{
				"group": CRDGroup,
				"names": map[string]any{"kind": "Example", "listKind": "ExampleList", "plural": "examples", "singular": "example"},
				"scope": "Namespaced",
				"versions": []any{map[string]any{
					"name": "v1alpha1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"spec": map[string]any{"type": "object", "properties": specProps},
						},
					}},
				}},
			},
		}}},
		RegistryConfig: []byte("location /v2/{{ repository }}/ {\n    alias {{ registry_root }}/;\n}\n"),
	}
}

// Open serves the archives by their Path; any other path is missing, as for a file
// that is not there.
func Open(archives ...*solution.Archive) solution.OpenFunc {
	byPath := map[string]*solution.Archive{}
	for _, a := range archives {
		byPath[a.Path] = a
	}
	return func(ctx context.Context, path string) (*solution.Archive, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if a, ok := byPath[path]; ok {
			return a, nil
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
}
