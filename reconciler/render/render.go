package render

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

//go:embed crds/volume.yaml
var volumeCRD []byte

// EffectiveConfigFunc computes a service's merged effective configuration
// (schema.EffectiveConfig).
type EffectiveConfigFunc func(site *schema.Site, kind string) (map[string]any, error)

// Options of Objects.
type Options struct {
	// SiteName is the value of the site ownership label; it tells several sites (or
	// tests) sharing one cluster apart. Required.
	SiteName string
	// EffectiveConfig defaults to schema.EffectiveConfig.
	EffectiveConfig EffectiveConfigFunc
	// Decrypt turns the encrypted credentials of service overrides (ENC[AGE,…]) into
	// their plaintext, in config.yaml and in the effective configuration whose digest
	// is annotated. Nil means the reconciler has no identity: a site with an encrypted
	// value then fails to render (a *SecretsError).
	Decrypt DecryptFunc
	// Archives are the Solution archives of solutions.yaml, opened and validated
	// (solution.Open), keyed by their path as solutions.yaml writes it. Every archive
	// the site lists must be there, unless WithoutArchives; the problems of the
	// Solutions of a site are a *SolutionsError.
	Archives map[string]*solution.Archive
	// WithoutArchives renders a site whose archives were not read (mk8s validate, a
	// review on a machine without them): the objects derived from archives (the
	// metalk8s-solutions ConfigMap, CRDs, operators) are left out and nothing that
	// needs an archive is checked.
	WithoutArchives bool
}

// Objects renders the desired objects of a site, sorted by group, kind, namespace and
// name. Two objects with the same identity are an error naming both origins.
func Objects(site *schema.Site, opts Options) ([]*unstructured.Unstructured, error) {
	if site == nil {
		return nil, fmt.Errorf("render: no site")
	}
	if opts.SiteName == "" {
		return nil, fmt.Errorf("render: no site name")
	}
	if opts.EffectiveConfig == nil {
		opts.EffectiveConfig = schema.EffectiveConfig
	}
	site, err := decryptSite(site, opts.Decrypt)
	if err != nil {
		return nil, err
	}
	r := &renderer{site: site, opts: opts, origin: map[string]string{}}
	if err := r.all(); err != nil {
		return nil, err
	}
	objs := r.objs
	slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
		ga, gb := a.GroupVersionKind(), b.GroupVersionKind()
		return cmp.Or(cmp.Compare(ga.Group, gb.Group), cmp.Compare(ga.Kind, gb.Kind),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return objs, nil
}

// Marshal writes objects as one multi-document YAML stream (keys sorted), the form in
// which "same site, same bytes" is checked.
func Marshal(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", ID(o), err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// ID names an object as Kind/namespace/name (namespace empty for cluster objects),
// the form of change entries and error messages.
func ID(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

type renderer struct {
	site   *schema.Site
	opts   Options
	objs   []*unstructured.Unstructured
	origin map[string]string // identity -> where it came from, for duplicate errors
}

func (r *renderer) all() error {
	for _, step := range []func() error{r.nodes, r.volumes, r.storageClasses, r.services, r.environments, r.solutions, r.manifests} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// DuplicateError says two parts of the site render the same object (same group, kind,
// namespace and name), such as a manifest that declares a Namespace an Environment also
// declares. File, Line and Field locate the second one (File is empty when it is an
// object of the platform); First says where the first one comes from.
type DuplicateError struct {
	File  string
	Line  int
	Field string
	// Kind, Namespace and Name identify the object.
	Kind, Namespace, Name string
	First                 string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: %s %q is also rendered from %s; object names must be unique",
		e.origin(), e.Kind, joinNS(e.Namespace, e.Name), e.First)
}

func (e *DuplicateError) origin() string {
	if e.File == "" {
		return "site"
	}
	return e.File + ":" + strconv.Itoa(e.Line)
}

// origin is where a rendered object comes from: a document of the site (src, and the
// field that names the object), or a text naming a part of the platform.
type origin struct {
	src   *schema.Source
	field string
	text  string
}

func fromDoc(src schema.Source, field string) origin { return origin{src: &src, field: field} }

func fromPlatform(text string) origin { return origin{text: text} }

func (o origin) String() string {
	if o.src == nil {
		return o.text
	}
	if o.src.File == "" {
		return "site"
	}
	return o.src.File + ":" + strconv.Itoa(o.src.LineOf(o.field))
}

// add sets the ownership labels and records the object, refusing duplicates.
func (r *renderer) add(obj map[string]any, from origin) error {
	u := &unstructured.Unstructured{Object: obj}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, OwnershipLabels(r.opts.SiteName))
	u.SetLabels(labels)
	gvk := u.GroupVersionKind()
	key := gvk.Group + "/" + gvk.Kind + "/" + u.GetNamespace() + "/" + u.GetName()
	if prev, ok := r.origin[key]; ok {
		e := &DuplicateError{Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), First: prev, Field: from.field}
		if from.src != nil && from.src.File != "" {
			e.File, e.Line = from.src.File, from.src.LineOf(from.field)
		}
		return e
	}
	r.origin[key] = from.String()
	r.objs = append(r.objs, u)
	return nil
}

func joinNS(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func where(src schema.Source) string {
	if src.File == "" {
		return "site"
	}
	return src.File + ":" + strconv.Itoa(src.Line)
}

func (r *renderer) nodes() error {
	for _, n := range r.site.Nodes {
		labels := copyMap(n.Labels)
		for _, role := range n.Roles {
			labels[schema.RoleLabelPrefix+role] = ""
		}
		if _, ok := labels[schema.VersionLabel]; !ok && r.site.Cluster.Version != "" {
			labels[schema.VersionLabel] = r.site.Cluster.Version
		}
		ann := copyMap(n.Annotations)
		// The SSH coordinates are re-rendered from the decoded values so that the
		// annotations are canonical whatever spelling the file used.
		setOrDelete(ann, schema.AnnotationSSHHost, n.SSH.Host)
		setOrDelete(ann, schema.AnnotationSSHUser, n.SSH.User)
		if n.SSH.Port != 0 {
			ann[schema.AnnotationSSHPort] = strconv.Itoa(n.SSH.Port)
		}
		setOrDelete(ann, schema.AnnotationSSHKeyPath, n.SSH.KeyPath)
		ann[schema.AnnotationSSHSudo] = strconv.FormatBool(n.SSH.Sudo)
		setOrDelete(ann, schema.AnnotationSSHHostKey, n.SSH.HostKey)
		obj := map[string]any{
			"apiVersion": "v1",
			"kind":       "Node",
			"metadata":   metadata(n.Name, "", labels, ann),
		}
		spec := map[string]any{}
		if len(n.Taints) > 0 {
			taints := make([]any, 0, len(n.Taints))
			for _, t := range n.Taints {
				m := map[string]any{"key": t.Key, "effect": t.Effect}
				if t.Value != "" {
					m["value"] = t.Value
				}
				taints = append(taints, m)
			}
			spec["taints"] = taints
		}
		// Only a cordon the site declares is rendered: mk8s then owns it, and removing
		// it from the file uncordons the node. An undeclared one is left to others.
		if n.Unschedulable {
			spec["unschedulable"] = true
		}
		if len(spec) > 0 {
			obj["spec"] = spec
		}
		if err := r.add(obj, fromDoc(n.Source, "metadata.name")); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) volumes() error {
	crd := map[string]any{}
	if err := yaml.Unmarshal(volumeCRD, &crd); err != nil {
		return fmt.Errorf("render: embedded Volume CRD: %w", err)
	}
	if err := r.add(crd, fromPlatform("the Volume CRD of mk8s")); err != nil {
		return err
	}
	for _, v := range r.site.Volumes {
		spec := map[string]any{
			"nodeName":         v.NodeName,
			"storageClassName": v.StorageClassName,
			"mode":             cmp.Or(v.Mode, "Filesystem"),
		}
		switch {
		case v.RawBlockDevice != nil:
			spec["rawBlockDevice"] = map[string]any{"devicePath": v.RawBlockDevice.DevicePath}
		case v.SparseLoopDevice != nil:
			spec["sparseLoopDevice"] = map[string]any{"size": v.SparseLoopDevice.Size}
		case v.LVMLogicalVolume != nil:
			spec["lvmLogicalVolume"] = map[string]any{"vgName": v.LVMLogicalVolume.VGName, "size": v.LVMLogicalVolume.Size}
		}
		if len(v.TemplateLabels) > 0 {
			spec["template"] = map[string]any{"metadata": map[string]any{"labels": anyMap(v.TemplateLabels)}}
		}
		obj := map[string]any{
			"apiVersion": schema.APIVersionVolume,
			"kind":       schema.KindVolume,
			"metadata":   metadata(v.Name, "", copyMap(v.Labels), copyMap(v.Annotations)),
			"spec":       spec,
		}
		if err := r.add(obj, fromDoc(v.Source, "metadata.name")); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) storageClasses() error {
	for _, sc := range r.site.StorageClasses {
		obj := map[string]any{
			"apiVersion":  "storage.k8s.io/v1",
			"kind":        schema.KindStorageClass,
			"metadata":    metadata(sc.Name, "", copyMap(sc.Labels), copyMap(sc.Annotations)),
			"provisioner": sc.Provisioner,
		}
		if sc.ReclaimPolicy != "" {
			obj["reclaimPolicy"] = sc.ReclaimPolicy
		}
		if sc.VolumeBindingMode != "" {
			obj["volumeBindingMode"] = sc.VolumeBindingMode
		}
		if sc.AllowVolumeExpansion != nil {
			obj["allowVolumeExpansion"] = *sc.AllowVolumeExpansion
		}
		if len(sc.MountOptions) > 0 {
			opts := make([]any, len(sc.MountOptions))
			for i, o := range sc.MountOptions {
				opts[i] = o
			}
			obj["mountOptions"] = opts
		}
		if len(sc.Parameters) > 0 {
			obj["parameters"] = anyMap(sc.Parameters)
		}
		if err := r.add(obj, fromDoc(sc.Source, "metadata.name")); err != nil {
			return err
		}
	}
	return nil
}

// services renders the seven service-configuration ConfigMaps, whether or not the site
// overrides them (MetalK8s creates them with an empty config.yaml), and the namespaces
// they live in.
func (r *renderer) services() error {
	namespaces := map[string]bool{}
	for _, svc := range schema.Services() {
		namespaces[svc.Namespace] = true
		data := ""
		from := fromPlatform("the " + svc.Kind + " platform defaults")
		if o, ok := r.site.Service(svc.Kind); ok {
			from = fromDoc(o.Source, "kind")
			if len(o.Override) > 0 {
				b, err := yaml.Marshal(o.Override)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", from, svc.Kind, err)
				}
				data = string(b)
			}
		}
		eff, err := r.opts.EffectiveConfig(r.site, svc.Kind)
		if err != nil {
			return fmt.Errorf("%s: effective configuration of %s: %w", from, svc.Kind, err)
		}
		digest, err := Digest(eff)
		if err != nil {
			return fmt.Errorf("%s: effective configuration of %s: %w", from, svc.Kind, err)
		}
		obj := map[string]any{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata": metadata(svc.ConfigMap, svc.Namespace, nil,
				map[string]string{AnnotationEffectiveConfigDigest: digest}),
			"data": map[string]any{ServiceConfigKey: data},
		}
		if err := r.add(obj, from); err != nil {
			return err
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
		obj := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(ns, "", nil, nil)}
		if err := r.add(obj, fromPlatform("the namespace of the "+ns+" service configurations")); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) environments() error {
	for _, env := range r.site.Environments {
		for _, ns := range env.Namespaces {
			from := fromDoc(env.Source, fmt.Sprintf("spec.namespaces[%d].name", ns.Index))
			ann := map[string]string{}
			if env.Description != "" {
				ann[schema.EnvironmentDescriptionAnnot] = env.Description
			}
			nsObj := map[string]any{
				"apiVersion": "v1",
				"kind":       "Namespace",
				"metadata":   metadata(ns.Name, "", map[string]string{schema.EnvironmentLabel: env.Name}, ann),
			}
			if err := r.add(nsObj, from); err != nil {
				return err
			}
			// MetalK8s shows this ConfigMap with a solutions apiVersion; a ConfigMap is v1.
			cm := map[string]any{
				"apiVersion": "v1",
				"kind":       "ConfigMap",
				"metadata":   metadata(EnvironmentConfigMap, ns.Name, nil, nil),
			}
			if len(ns.Solutions) > 0 {
				cm["data"] = anyMap(ns.Solutions)
			}
			if err := r.add(cm, from); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *renderer) manifests() error {
	for _, m := range r.site.Manifests {
		obj, err := desiredCopy(m.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", where(m.Source), err)
		}
		if err := r.add(obj, fromDoc(m.Source, "metadata.name")); err != nil {
			return err
		}
	}
	return nil
}

// desiredCopy copies an object written by someone else (a manifest, a document of a
// Solution archive) without the fields the server manages, which have no place in a
// desired object.
func desiredCopy(in map[string]any) (map[string]any, error) {
	obj, err := deepCopyJSON(in)
	if err != nil {
		return nil, err
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields", "selfLink"} {
			delete(md, k)
		}
	}
	delete(obj, "status")
	return obj, nil
}

// Digest is "sha256:<hex>" of the canonical JSON of v (map keys sorted).
func Digest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func metadata(name, namespace string, labels, annotations map[string]string) map[string]any {
	md := map[string]any{"name": name}
	if namespace != "" {
		md["namespace"] = namespace
	}
	if len(labels) > 0 {
		md["labels"] = anyMap(labels)
	}
	if len(annotations) > 0 {
		md["annotations"] = anyMap(annotations)
	}
	return md
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// deepCopyJSON copies a decoded document into the value types unstructured expects
// (int64, float64, string, bool, []any, map[string]any).
func deepCopyJSON(in map[string]any) (map[string]any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	// utiljson keeps integers as int64, as the API machinery decodes them.
	if err := utiljson.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Check renders a site that loaded without error and returns, as diagnostics, what
// would make the render fail: two parts of the site that render the same object (a
// manifest declaring a Namespace an Environment or a service configuration also
// declares, …). `mk8s validate` reports them, so that a site it calls valid renders.
func Check(site *schema.Site) diag.List {
	var out diag.List
	if site == nil {
		return out
	}
	// Validation does not decrypt (it has no identity): ciphertexts are kept as they are;
	// nor does it read Solution archives: what they render is the reconciler's check.
	keep := func(v string) (string, error) { return v, nil }
	_, err := Objects(site, Options{SiteName: "validate", Decrypt: keep, WithoutArchives: true})
	var de *DuplicateError
	switch {
	case err == nil:
	case errors.As(err, &de):
		out.Errorf(de.File, de.Line, de.Field, "expected each object to be declared once",
			"%s %q is also rendered from %s", de.Kind, joinNS(de.Namespace, de.Name), de.First)
	default:
		out.Errorf("", 0, "", "", "%v", err)
	}
	return out
}
