package solution

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// What manifest.yaml must say.
const (
	// APIVersion and Kind of manifest.yaml.
	APIVersion = "solutions.metalk8s.scality.com/v1alpha1"
	Kind       = "Solution"
	// DisplayNameAnnotation is the display name of a Solution, Name when absent.
	DisplayNameAnnotation = "solutions.metalk8s.scality.com/display-name"
)

// platformPrefix starts the ID of the platform's own archive (metalk8s-<version>),
// mounted and served beside the Solutions'.
const platformPrefix = "metalk8s-"

var (
	// pathComponent is a registry repository path component (distribution/reference):
	// ID() and image names must be one, images are pulled as
	// <registry>/<ID()>/<name>:<tag>.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// tagPattern is a registry tag.
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// manifest is what Open takes from manifest.yaml.
type manifest struct {
	name, version, displayName string
	images                     []string
	operator                   Image
	value                      map[string]any
}

// readManifest decodes and checks manifest.yaml.
func readManifest(r refusal, t *tree) (*manifest, error) {
	if !t.isFile(FileManifest) {
		return nil, r.file(FileManifest, "missing: a Solution archive carries its manifest.yaml at the root")
	}
	docs, err := readDocuments(r, t, FileManifest)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, r.file(FileManifest, "holds %d documents; one Solution is expected", len(docs))
	}
	doc := docs[0]
	refuse := func(format string, path []any, args ...any) error {
		return r.field(FileManifest, doc.lineOf(path...), "", fieldName(path), format, args...)
	}
	m := &manifest{value: doc.Value}
	if v := doc.Value["apiVersion"]; v != APIVersion {
		return nil, refuse("%s is not allowed; expected %s", []any{"apiVersion"}, quoted(v), APIVersion)
	}
	if v := doc.Value["kind"]; v != Kind {
		return nil, refuse("%s is not allowed; expected %s", []any{"kind"}, quoted(v), Kind)
	}
	var ok bool
	if m.name, ok = stringAt(doc.Value, "metadata", "name"); !ok || m.name == "" {
		return nil, refuse("missing or not a string: every Solution has a name", []any{"metadata", "name"})
	}
	if errs := validation.IsDNS1123Label(m.name); len(errs) > 0 {
		return nil, refuse("%q is not an RFC 1123 label: %s", []any{"metadata", "name"}, m.name, strings.Join(errs, "; "))
	}
	if strings.HasPrefix(m.name+"-", platformPrefix) {
		return nil, refuse("%q is not allowed: %s<version> is the platform's archive (its mountpoint %s/%s<version>, its registry repository), never a Solution's",
			[]any{"metadata", "name"}, m.name, platformPrefix, MountRoot, platformPrefix)
	}
	m.displayName = m.name
	if ann, found := valueAt(doc.Value, "metadata", "annotations", DisplayNameAnnotation); found {
		s, ok := ann.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, refuse("must be a non-empty string", []any{"metadata", "annotations", DisplayNameAnnotation})
		}
		m.displayName = s
	}
	if err := checkVersion(doc.Value, m.name, refuse); err != nil {
		return nil, err
	}
	m.version, _ = stringAt(doc.Value, "spec", "version")

	rawImages, found := valueAt(doc.Value, "spec", "images")
	list, ok := rawImages.([]any)
	if !found || !ok || len(list) == 0 {
		return nil, refuse(`missing or empty: the Solution's images, as a list of "name:tag"`, []any{"spec", "images"})
	}
	seen := map[string]bool{}
	for i, e := range list {
		at := []any{"spec", "images", i}
		s, ok := e.(string)
		if !ok {
			return nil, refuse(`must be a string "name:tag", not %s`, at, kindOf(e))
		}
		name, tag, ok := strings.Cut(s, ":")
		if !ok || !pathComponent.MatchString(name) || !tagPattern.MatchString(tag) {
			return nil, refuse(`%q is not "name:tag" (name: lowercase letters, digits and separators; tag: up to 128 letters, digits, '_', '.', '-')`, at, s)
		}
		if seen[s] {
			return nil, refuse("%q is listed twice", at, s)
		}
		seen[s] = true
		m.images = append(m.images, s)
	}

	if img, _ := valueAt(doc.Value, "spec", "operator", "image"); img == nil {
		return nil, refuse("missing: the operator image, as {name, tag}", []any{"spec", "operator", "image"})
	}
	for _, key := range []string{"name", "tag"} {
		at := []any{"spec", "operator", "image", key}
		v, found := valueAt(doc.Value, at...)
		s, ok := v.(string)
		switch {
		case !found || v == nil || ok && s == "":
			return nil, refuse("missing: the operator image, as {name, tag}", at)
		case !ok:
			// tag: 1.0 is a number to YAML.
			return nil, refuse("must be a string, not %s (quote it)", at, kindOf(v))
		}
	}
	m.operator.Name, _ = stringAt(doc.Value, "spec", "operator", "image", "name")
	m.operator.Tag, _ = stringAt(doc.Value, "spec", "operator", "image", "tag")
	if ref := m.operator.Name + ":" + m.operator.Tag; !seen[ref] {
		return nil, refuse("%q is not one of spec.images", []any{"spec", "operator", "image"}, ref)
	}
	return m, nil
}

// checkVersion checks spec.version: it names the archive's registry repository and
// mountpoint (<name>-<version>) and is a label value of the objects of the Solution.
func checkVersion(v map[string]any, name string, refuse func(string, []any, ...any) error) error {
	at := []any{"spec", "version"}
	raw, found := valueAt(v, at...)
	if !found {
		return refuse("missing: every Solution has a version", at)
	}
	version, ok := raw.(string)
	if !ok {
		return refuse("must be a string, not %s (quote it)", at, kindOf(raw))
	}
	if version == "" {
		return refuse("is empty", at)
	}
	if errs := validation.IsValidLabelValue(version); len(errs) > 0 {
		return refuse("%q is not a label value: %s", at, version, strings.Join(errs, "; "))
	}
	if !pathComponent.MatchString(name + "-" + version) {
		return refuse("%q cannot name the registry repository %s-%s: lowercase letters, digits, '.', '_' and '-' between them", at, version, name, version)
	}
	return nil
}

// valueAt returns the value at a path of string keys.
func valueAt(v map[string]any, path ...any) (any, bool) {
	var cur any = v
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p.(string)]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringAt returns the string at a path of string keys.
func stringAt(v map[string]any, path ...any) (string, bool) {
	x, found := valueAt(v, path...)
	s, ok := x.(string)
	return s, found && ok
}

// fieldName writes a path as a dotted field name: spec.images[2].
func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		}
	}
	return b.String()
}

func quoted(v any) string {
	if v == nil {
		return "(missing)"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}
