package solution

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const crdAPIVersion = "apiextensions.k8s.io/v1"

// readCRDs reads operator/deploy/crds/*.yaml: only apiextensions.k8s.io/v1
// CustomResourceDefinitions, each named <plural>.<group> as the API server requires, with
// at least one version. It returns them and their groups. No directory is no CRD.
func readCRDs(r refusal, t *tree) ([]*unstructured.Unstructured, []string, error) {
	var (
		crds   []*unstructured.Unstructured
		groups []string
		seen   = map[string]string{}
	)
	for _, file := range t.files(DirCRDs, ".yaml") {
		docs, err := readDocuments(r, t, file)
		if err != nil {
			return nil, nil, err
		}
		for _, doc := range docs {
			u := &unstructured.Unstructured{Object: doc.Value}
			refuse := func(format string, at []any, args ...any) error {
				return r.field(file, doc.lineOf(at...), strings.TrimSpace(u.GetKind()+" "+u.GetName()), fieldName(at), format, args...)
			}
			if u.GetAPIVersion() != crdAPIVersion || u.GetKind() != "CustomResourceDefinition" {
				at := []any{"kind"}
				if u.GetKind() == "CustomResourceDefinition" {
					at = []any{"apiVersion"}
				}
				return nil, nil, refuse("%s %s is not allowed: %s holds only %s CustomResourceDefinitions",
					at, u.GetAPIVersion(), u.GetKind(), DirCRDs, crdAPIVersion)
			}
			group, _ := stringAt(doc.Value, "spec", "group")
			plural, _ := stringAt(doc.Value, "spec", "names", "plural")
			kind, _ := stringAt(doc.Value, "spec", "names", "kind")
			switch {
			case group == "":
				return nil, nil, refuse("missing", []any{"spec", "group"})
			case plural == "":
				return nil, nil, refuse("missing", []any{"spec", "names", "plural"})
			case kind == "":
				return nil, nil, refuse("missing", []any{"spec", "names", "kind"})
			case u.GetName() != plural+"."+group:
				return nil, nil, refuse("%q must be %s.%s (<plural>.<group>)", []any{"metadata", "name"}, u.GetName(), plural, group)
			}
			if len(crdVersions(u)) == 0 {
				return nil, nil, refuse("missing: a CRD serves at least one named version", []any{"spec", "versions"})
			}
			if other, dup := seen[u.GetName()]; dup {
				return nil, nil, refuse("defined twice (also in %s)", []any{"metadata", "name"}, other)
			}
			seen[u.GetName()] = file
			crds = append(crds, u)
			if !slices.Contains(groups, group) {
				groups = append(groups, group)
			}
		}
	}
	return crds, groups, nil
}

// crdVersions returns the names of a CRD's versions.
func crdVersions(u *unstructured.Unstructured) []string {
	list, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	var out []string
	for _, v := range list {
		if m, ok := v.(map[string]any); ok {
			if name, ok := m["name"].(string); ok && name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// readRoles reads operator/deploy/role.yaml: Role and ClusterRole documents only, each
// passing CheckRules. The first refused rule is the error; the count of the others is in
// its reason.
func readRoles(r refusal, t *tree, ownGroups []string) ([]*unstructured.Unstructured, error) {
	if !t.isFile(FileRole) {
		return nil, r.file(FileRole, "missing: a Solution ships the Roles and ClusterRoles its operator needs")
	}
	docs, err := readDocuments(r, t, FileRole)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, r.file(FileRole, "holds no Role or ClusterRole")
	}
	var (
		roles []*unstructured.Unstructured
		first *ArchiveError
		more  int
		seen  = map[string]bool{}
	)
	for _, doc := range docs {
		u := &unstructured.Unstructured{Object: doc.Value}
		for _, v := range CheckRules(u, ownGroups) {
			if first != nil {
				more++
				continue
			}
			first = r.field(FileRole, doc.lineOf(v.at...), v.Object, v.Field, "%s", v.Reason)
		}
		key := u.GetKind() + " " + u.GetName()
		if seen[key] && first == nil {
			first = r.field(FileRole, doc.lineOf("metadata", "name"), key, "metadata.name", "defined twice")
		}
		seen[key] = true
		roles = append(roles, u)
	}
	if first != nil {
		if more > 0 {
			first.Reason += fmt.Sprintf(" (and %d more refused in this file)", more)
		}
		return nil, first
	}
	return roles, nil
}

// readDocuments reads and decodes a YAML file of the archive.
func readDocuments(r refusal, t *tree, file string) ([]*document, error) {
	data, err := fs.ReadFile(t.fsys, file)
	if err != nil {
		return nil, r.wrap(file, err, "cannot be read")
	}
	docs, err := decodeDocuments(data)
	if err != nil {
		ye := err.(*yamlError)
		return nil, &ArchiveError{Path: r.path, File: file, Line: ye.line, Reason: "not valid YAML: " + ye.msg}
	}
	return docs, nil
}
