package solution

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Archive is one Solution ISO, opened and validated. Every field is read from the image;
// nothing is inferred from its path.
type Archive struct {
	// Path is the archive's path as SolutionsConfiguration.archives names it.
	Path string
	// Digest is "sha256:<hex>" of the whole image file, so that a rebuilt archive at the
	// same path is a change.
	Digest string
	// VolumeID is the ISO's volume identifier ("<name> <version>" by convention).
	VolumeID string

	// Name and Version are manifest.yaml's metadata.name and spec.version.
	Name, Version string
	// DisplayName is the solutions.metalk8s.scality.com/display-name annotation, or Name.
	DisplayName string
	// Manifest is manifest.yaml as decoded, for the metalk8s-solutions ConfigMap.
	Manifest map[string]any
	// Images are spec.images ("name:tag"), each present under images/<name>/<tag>/.
	Images []string
	// OperatorImage is spec.operator.image: Name and Tag, one of Images.
	OperatorImage Image

	// Roles are the documents of operator/deploy/role.yaml: only Role and ClusterRole,
	// with rules that passed CheckRules.
	Roles []*unstructured.Unstructured
	// CRDs are the CustomResourceDefinitions of operator/deploy/crds/*.yaml, deployed
	// while this version is the active one.
	CRDs []*unstructured.Unstructured
	// RegistryConfig is registry-config.inc as carried by the archive (nginx directives
	// serving images/ under the repository ID()).
	RegistryConfig []byte
	// RegistryConfigFile is the file RegistryConfig was read from:
	// registry-config.inc.j2 (a Jinja template using {{ repository }} and
	// {{ registry_root }}) or registry-config.inc.
	RegistryConfigFile string
}

// Image is a container image reference of a Solution manifest.
type Image struct {
	Name string `json:"name"`
	Tag  string `json:"tag"`
}

// ID is "<name>-<version>": the registry repository the archive's images are served
// under, and the mountpoint /srv/scality/<ID> (MetalK8s' naming).
func (a *Archive) ID() string { return a.Name + "-" + a.Version }

// OpenFunc opens and validates the archive at path (Open is the implementation; tests
// and the daemon may wrap it, e.g. with a cache keyed by the file's size and mtime).
type OpenFunc func(ctx context.Context, path string) (*Archive, error)
