package solutioniso

import (
	"fmt"
	"strings"
)

// Image is a container image of the archive, written under images/<Name>/<Tag>/.
type Image struct {
	Name, Tag string
}

func (i Image) String() string { return i.Name + ":" + i.Tag }

// CRD is a CustomResourceDefinition of operator/deploy/crds/: generated from Group, Kind,
// Plural and Versions (v1alpha1 when empty), or Raw written as is.
type CRD struct {
	Group, Kind, Plural string
	Versions            []string
	// Scope is Namespaced when empty.
	Scope string
	// Raw, when set, is the file's content; the other fields are ignored.
	Raw string
}

// Spec says what to put in an archive. The zero values of the breaking options give a
// valid archive.
type Spec struct {
	Name, Version string
	// DisplayName is the display-name annotation; none when empty.
	DisplayName string
	// VolumeID is the ISO volume ID; "<Name> <Version>" when empty.
	VolumeID string
	// Annotations are added to the manifest's metadata.annotations.
	Annotations map[string]string
	// Images are listed in spec.images and written under images/.
	Images []Image
	// OperatorImage is spec.operator.image.
	OperatorImage Image
	// CRDs are written to operator/deploy/crds/<plural>.yaml (crd-<i>.yaml for Raw ones).
	CRDs []CRD
	// RoleYAML is operator/deploy/role.yaml; ExampleRoleYAML(Name) when empty.
	RoleYAML string
	// ManifestYAML, when set, replaces the generated manifest.yaml.
	ManifestYAML string
	// RegistryConfig, when set, replaces the generated registry config;
	// RegistryConfigName is its file name (registry-config.inc.j2 when empty).
	RegistryConfig, RegistryConfigName string
	// Files are written last, relative to the archive root (extra files or overrides).
	Files map[string]string

	// Breaking options.
	NoJoliet, NoRockRidge                      bool
	OmitManifest, OmitRole, OmitRegistryConfig bool
	// OmitImages are images ("name:tag") listed in the manifest but not written.
	OmitImages []string
}

// ExampleGroup is the API group of the example Solution's CRDs.
const ExampleGroup = "example-solution.metalk8s.scality.com"

// Example is the example Solution at a version: "example-solution", display name
// "Example Solution", images example-solution-operator:<version> (the operator) and
// base-server:<version>, the CRDs ClockServer and VersionServer in ExampleGroup, and
// ExampleRoleYAML's Role and ClusterRole.
func Example(version string) Spec {
	operator := Image{Name: "example-solution-operator", Tag: version}
	return Spec{
		Name:          "example-solution",
		Version:       version,
		DisplayName:   "Example Solution",
		Annotations:   map[string]string{"solutions.metalk8s.scality.com/git-revision": "v" + version},
		Images:        []Image{{Name: "base-server", Tag: version}, operator},
		OperatorImage: operator,
		CRDs: []CRD{
			{Group: ExampleGroup, Kind: "ClockServer", Plural: "clockservers"},
			{Group: ExampleGroup, Kind: "VersionServer", Plural: "versionservers"},
		},
	}
}

// ExampleRoleYAML is a role.yaml for the example Solution named name: a Role
// "<name>-operator" managing the workloads it deploys and its own resources (all verbs,
// on its own CRD group), and a ClusterRole "<name>-operator" reading nodes and CRDs and
// writing ServiceMonitors.
func ExampleRoleYAML(name string) string {
	return RoleYAML(name+"-operator", `- apiGroups: [""]
  resources: [pods, services, services/finalizers, endpoints, persistentvolumeclaims, events, configmaps, secrets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [deployments, daemonsets, replicasets, statefulsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [`+ExampleGroup+`]
  resources: [clockservers, clockservers/status, clockservers/finalizers, versionservers, versionservers/status, versionservers/finalizers]
  verbs: ["*"]
`) + "---\n" + ClusterRoleYAML(name+"-operator", `- apiGroups: [""]
  resources: [nodes, namespaces]
  verbs: [get, list, watch]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [get, create, update, delete]
- nonResourceURLs: [/metrics]
  verbs: [get]
`)
}

// RoleYAML is a Role document named name with rules, a YAML list at column 0.
func RoleYAML(name, rules string) string { return rbacDoc("Role", name, rules) }

// ClusterRoleYAML is a ClusterRole document named name with rules, a YAML list at column 0.
func ClusterRoleYAML(name, rules string) string { return rbacDoc("ClusterRole", name, rules) }

func rbacDoc(kind, name, rules string) string {
	return fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: %s\nrules:\n%s", kind, name, indent(rules, "  "))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// Manifest is the manifest.yaml Build writes for s: ManifestYAML, or one generated from
// the other fields.
func (s Spec) Manifest() string {
	if s.ManifestYAML != "" {
		return s.ManifestYAML
	}
	var b strings.Builder
	b.WriteString("apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Solution\nmetadata:\n")
	ann := map[string]string{}
	for k, v := range s.Annotations {
		ann[k] = v
	}
	if s.DisplayName != "" {
		ann["solutions.metalk8s.scality.com/display-name"] = s.DisplayName
	}
	if len(ann) > 0 {
		b.WriteString("  annotations:\n")
		for _, k := range sortedKeys(ann) {
			fmt.Fprintf(&b, "    %s: %q\n", k, ann[k])
		}
	}
	fmt.Fprintf(&b, "  labels: {}\n  name: %s\nspec:\n  images:\n", s.Name)
	for _, img := range s.Images {
		fmt.Fprintf(&b, "    - %s\n", img)
	}
	fmt.Fprintf(&b, "  operator:\n    image:\n      name: %s\n      tag: %q\n  version: %q\n", s.OperatorImage.Name, s.OperatorImage.Tag, s.Version)
	return b.String()
}

func (c CRD) yaml() string {
	if c.Raw != "" {
		return c.Raw
	}
	versions := c.Versions
	if len(versions) == 0 {
		versions = []string{"v1alpha1"}
	}
	scope := c.Scope
	if scope == "" {
		scope = "Namespaced"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.%[2]s
spec:
  group: %[2]s
  names:
    kind: %[3]s
    listKind: %[3]sList
    plural: %[1]s
    singular: %[4]s
  scope: %[5]s
  versions:
`, c.Plural, c.Group, c.Kind, strings.ToLower(c.Kind), scope)
	for i, v := range versions {
		fmt.Fprintf(&b, `    - name: %s
      served: true
      storage: %t
      subresources:
        status: {}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-preserve-unknown-fields: true
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
`, v, i == len(versions)-1)
	}
	return b.String()
}
