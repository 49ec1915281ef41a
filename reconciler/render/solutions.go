package render

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// Names of the objects of Solutions (docs/solutions.md shows them all).
const (
	// SolutionsNamespace holds the SolutionsConfigMap.
	SolutionsNamespace = "metalk8s-solutions"
	// SolutionsConfigMap lists the imported Solution versions, one key per solution,
	// as MetalK8s' import and activate orchestrations record them (000 L8109-8161).
	SolutionsConfigMap = "metalk8s-solutions"

	// SolutionRegistry is the registry name a Solution's images are pulled by: the name
	// containerd maps to the bootstrap node's registry (hostsync/roles.RegistryName).
	SolutionRegistry = "metalk8s-registry-from-config.invalid"
	// SolutionMountRoot is where the bootstrap node mounts an archive, at <root>/<id>.
	SolutionMountRoot = "/srv/scality"

	// OperatorConfigKey is the data key of an operator's ConfigMap, the file its
	// mandatory --config flag names (000 L11317-11322).
	OperatorConfigKey = "operator.yaml"
	// OperatorConfigDir is where the operator container mounts that ConfigMap.
	OperatorConfigDir = "/etc/metalk8s/operator"

	// AnnotationOperatorConfigDigest, on an operator's pod template, is the digest of
	// its OperatorConfig: a new imported version changes the configuration, and the
	// operator restarts to read it.
	AnnotationOperatorConfigDigest = "mk8s.metalk8s.scality.com/operator-config-digest"
)

// The app.kubernetes.io labels of the objects of a Solution.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelVersion   = "app.kubernetes.io/version"
	labelComponent = "app.kubernetes.io/component"
	labelPartOf    = "app.kubernetes.io/part-of"
)

// SolutionsError lists what keeps the Solutions of a site from being rendered: an
// archive not opened, two archives of one name and version, an active version or an
// environment's version that is not imported. One diagnostic each, with file, line
// and field. Nothing was rendered.
type SolutionsError struct{ List diag.List }

func (e *SolutionsError) Error() string {
	lines := make([]string, len(e.List))
	for i, d := range e.List {
		lines[i] = d.String()
	}
	return "the Solutions of the site cannot be rendered; nothing was changed:\n" + strings.Join(lines, "\n")
}

// Diagnostics are the errors, for the reconciler's Result.Diagnostics.
func (e *SolutionsError) Diagnostics() diag.List { return e.List }

// imported is one archive of solutions.yaml and its index in archives.
type imported struct {
	*solution.Archive
	index int
}

// catalog is what solutions.yaml imports and activates, resolved against the opened
// archives.
type catalog struct {
	config *schema.SolutionsConfig
	// versions of each solution, by ascending version (versionOrder).
	versions map[string][]imported
	// active version of each solution of active:, resolved (latest included).
	active map[string]imported
	// unopened: an archive of solutions.yaml was not given to the render.
	unopened bool
}

// find returns the imported version of a solution.
func (c *catalog) find(name, ver string) (imported, bool) {
	for _, a := range c.versions[name] {
		if a.Version == ver {
			return a, true
		}
	}
	return imported{}, false
}

// list says which versions of a solution are imported, for diagnostics.
func (c *catalog) list(name string) string {
	var vs []string
	for _, a := range c.versions[name] {
		vs = append(vs, a.Version)
	}
	return strings.Join(vs, ", ")
}

// names lists the imported solutions, for diagnostics.
func (c *catalog) names() string {
	if len(c.versions) == 0 {
		return "none is imported"
	}
	return strings.Join(slices.Sorted(maps.Keys(c.versions)), ", ")
}

// newCatalog resolves solutions.yaml against the archives; every problem is a
// diagnostic of solutions.yaml.
func newCatalog(sc *schema.SolutionsConfig, archives map[string]*solution.Archive, diags *diag.List) *catalog {
	c := &catalog{config: sc, versions: map[string][]imported{}, active: map[string]imported{}}
	file := sc.Source.File
	// By ID, <name>-<version>: it names the archive's mountpoint, registry repository
	// and ClusterRoles, and two names may make one ID (a 1-b and a-1 b).
	ids := map[string]imported{}
	for i, path := range sc.Archives {
		field := fmt.Sprintf("archives[%d]", i)
		a := archives[path]
		if a == nil {
			diags.Errorf(file, sc.Source.LineOf(field), field, "every archive of solutions.yaml opened before the render",
				"%s was not opened", path)
			c.unopened = true
			continue
		}
		if prev, ok := ids[a.ID()]; ok {
			if prev.Name == a.Name {
				diags.Errorf(file, sc.Source.LineOf(field), field, "each name and version imported once",
					"%s is %s %s, as archives[%d] %s is", path, a.Name, a.Version, prev.index, prev.Path)
				continue
			}
			diags.Errorf(file, sc.Source.LineOf(field), field, "each <name>-<version> imported once: it names the archive's mountpoint and registry repository",
				"%s is %s %s, and archives[%d] %s is %s %s: both are %s", path, a.Name, a.Version, prev.index, prev.Path, prev.Name, prev.Version, a.ID())
			// Still a version of its solution, so that what refers to it is not an error too.
		} else {
			ids[a.ID()] = imported{Archive: a, index: i}
		}
		c.versions[a.Name] = append(c.versions[a.Name], imported{Archive: a, index: i})
	}
	if c.unopened {
		// What is imported is not known: what refers to it is not checked.
		return c
	}
	for _, vs := range c.versions {
		slices.SortStableFunc(vs, func(a, b imported) int { return versionOrder(a.Version, b.Version) })
	}
	for _, name := range slices.Sorted(maps.Keys(sc.Active)) {
		want, field := sc.Active[name], "active."+name
		vs := c.versions[name]
		switch a, ok := c.find(name, want); {
		case len(vs) == 0:
			diags.Errorf(file, sc.Source.LineOf(field), field, "a solution of an archive of solutions.yaml ("+c.names()+")",
				"no archive of solution %q is imported", name)
		case want == "latest":
			c.active[name] = vs[len(vs)-1]
		case ok:
			c.active[name] = a
		default:
			diags.Errorf(file, sc.Source.LineOf(field), field, "an imported version ("+c.list(name)+") or latest",
				"version %q of %s is not imported", want, name)
		}
	}
	return c
}

// versionOrder orders Solution versions: semantic versions by precedence, then any
// other version as a string; equal precedence (build metadata) falls back to the
// string, so that the order is total.
func versionOrder(a, b string) int {
	va, ea := version.ParseSemantic(a)
	vb, eb := version.ParseSemantic(b)
	switch {
	case ea == nil && eb == nil:
		if va.LessThan(vb) {
			return -1
		}
		if vb.LessThan(va) {
			return 1
		}
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// solutions renders the objects of Solutions (docs/solutions.md): the
// metalk8s-solutions Namespace and ConfigMap, the CRDs of each active version, and,
// per environment namespace and solution it runs, the operator and its permissions.
func (r *renderer) solutions() error {
	sc := r.site.Solutions
	if sc == nil {
		return nil
	}
	ns := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(SolutionsNamespace, "", nil, nil)}
	if err := r.add(ns, fromDoc(sc.Source, "kind")); err != nil {
		return err
	}
	if r.opts.WithoutArchives {
		return nil
	}
	var diags diag.List
	c := newCatalog(sc, r.opts.Archives, &diags)
	if !c.unopened {
		r.checkEnvironments(c, &diags)
	}
	if len(diags) > 0 {
		return &SolutionsError{List: diags.Sort()}
	}
	for _, step := range []func(*catalog) error{r.solutionsConfigMap, r.solutionCRDs, r.clusterRoles, r.operators} {
		if err := step(c); err != nil {
			return err
		}
	}
	return nil
}

// checkEnvironments reports every environment namespace running a version that is
// not imported.
func (r *renderer) checkEnvironments(c *catalog, diags *diag.List) {
	for _, env := range r.site.Environments {
		for _, ns := range env.Namespaces {
			for _, name := range slices.Sorted(maps.Keys(ns.Solutions)) {
				ver, field := ns.Solutions[name], solutionField(ns, name)
				if _, ok := c.find(name, ver); ok {
					continue
				}
				line := env.Source.LineOf(field)
				if len(c.versions[name]) == 0 {
					diags.Errorf(env.Source.File, line, field, "a solution of an archive of solutions.yaml ("+c.names()+")",
						"no archive of solution %q is imported", name)
					continue
				}
				diags.Errorf(env.Source.File, line, field, "an imported version of "+name+" ("+c.list(name)+")",
					"version %q of %s is not imported", ver, name)
			}
		}
	}
}

func solutionField(ns schema.EnvironmentNamespace, name string) string {
	return fmt.Sprintf("spec.namespaces[%d].solutions.%s", ns.Index, name)
}

// solutionsConfigMap is metalk8s-solutions: per solution, the JSON list of its
// imported versions as MetalK8s' pillar describes them (000 L8111-8134).
func (r *renderer) solutionsConfigMap(c *catalog) error {
	data := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(c.versions)) {
		var list []map[string]any
		for _, a := range c.versions[name] {
			list = append(list, map[string]any{
				"active":     c.active[name].Archive == a.Archive,
				"archive":    a.Path,
				"id":         a.ID(),
				"manifest":   a.Manifest,
				"mountpoint": SolutionMountRoot + "/" + a.ID(),
				"name":       cmp.Or(a.DisplayName, a.Name),
				"version":    a.Version,
			})
		}
		b, err := json.Marshal(list)
		if err != nil {
			return fmt.Errorf("%s: solution %s: %w", where(c.config.Source), name, err)
		}
		data[name] = string(b)
	}
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(SolutionsConfigMap, SolutionsNamespace, nil, nil)}
	if len(data) > 0 {
		cm["data"] = data
	}
	return r.add(cm, fromDoc(c.config.Source, "archives"))
}

// solutionCRDs are the CustomResourceDefinitions of each active version; an inactive
// version deploys none (000 L8308-8335).
func (r *renderer) solutionCRDs(c *catalog) error {
	for _, name := range slices.Sorted(maps.Keys(c.active)) {
		a := c.active[name]
		for _, crd := range a.CRDs {
			obj, err := archiveObject(a, crd)
			if err != nil {
				return err
			}
			addLabels(obj, map[string]string{labelPartOf: a.Name, labelVersion: labelValue(a.Version)})
			if err := r.add(obj, fromDoc(c.config.Source, "active."+name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// clusterRoles are the ClusterRoles of role.yaml of every version some namespace
// runs, once per version: two versions may ask for different rules.
func (r *renderer) clusterRoles(c *catalog) error {
	used := map[*solution.Archive]bool{}
	for _, env := range r.site.Environments {
		for _, ns := range env.Namespaces {
			for name, ver := range ns.Solutions {
				a, _ := c.find(name, ver)
				used[a.Archive] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.versions)) {
		for _, a := range c.versions[name] {
			if !used[a.Archive] {
				continue
			}
			for _, role := range a.Roles {
				if role.GetKind() != "ClusterRole" {
					continue
				}
				obj, err := archiveObject(a, role)
				if err != nil {
					return err
				}
				u := &unstructured.Unstructured{Object: obj}
				u.SetName(ClusterRoleName(a.Archive, role.GetName()))
				addLabels(obj, map[string]string{labelName: labelValue(a.Name + "-operator"), labelVersion: labelValue(a.Version),
					labelComponent: "operator", labelPartOf: a.Name})
				if err := r.add(obj, fromDoc(c.config.Source, fmt.Sprintf("archives[%d]", a.index))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// operators renders, per environment namespace and solution it runs, what MetalK8s'
// prepare-environment deploys (000 L8346-8380, L11351-11357): the operator's
// ServiceAccount, the Roles of role.yaml and their RoleBindings, a ClusterRoleBinding
// per ClusterRole, the OperatorConfig ConfigMap and the operator Deployment.
func (r *renderer) operators(c *catalog) error {
	for _, env := range r.site.Environments {
		for _, ns := range env.Namespaces {
			for _, name := range slices.Sorted(maps.Keys(ns.Solutions)) {
				a, _ := c.find(name, ns.Solutions[name])
				op := operator{c: c, a: a, ns: ns.Name, from: fromDoc(env.Source, solutionField(ns, name))}
				if err := op.render(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// operator is one Solution version deployed in one namespace.
type operator struct {
	c    *catalog
	a    imported
	ns   string
	from origin
}

// OperatorName is the name of a Solution's operator ServiceAccount and Deployment.
func OperatorName(solutionName string) string { return solutionName + "-operator" }

// OperatorConfigName is the name of the ConfigMap holding a Solution's OperatorConfig.
func OperatorConfigName(solutionName string) string { return solutionName + "-operator-config" }

// ClusterRoleName is the name of a ClusterRole of role.yaml once deployed: prefixed by
// the archive's ID, so that two versions of a solution each have theirs.
func ClusterRoleName(a *solution.Archive, name string) string { return a.ID() + ":" + name }

// ClusterRoleBindingName binds a ClusterRole to the operator of one namespace.
func ClusterRoleBindingName(a *solution.Archive, name, namespace string) string {
	return ClusterRoleName(a, name) + ":" + namespace
}

// OperatorImage is the operator image of an archive, pulled from the registry
// repository of the archive.
func OperatorImage(a *solution.Archive) string {
	return SolutionRegistry + "/" + a.ID() + "/" + a.OperatorImage.Name + ":" + a.OperatorImage.Tag
}

func (op operator) labels() map[string]string {
	return map[string]string{
		labelName:      labelValue(OperatorName(op.a.Name)),
		labelInstance:  op.ns,
		labelVersion:   labelValue(op.a.Version),
		labelComponent: "operator",
		labelPartOf:    op.a.Name,
	}
}

func (op operator) render(r *renderer) error {
	sa := OperatorName(op.a.Name)
	subjects := []any{map[string]any{"kind": "ServiceAccount", "name": sa, "namespace": op.ns}}
	objs := []map[string]any{{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(sa, op.ns, op.labels(), nil),
	}}
	for _, role := range op.a.Roles {
		switch role.GetKind() {
		case "Role":
			obj, err := archiveObject(op.a, role)
			if err != nil {
				return err
			}
			(&unstructured.Unstructured{Object: obj}).SetNamespace(op.ns)
			addLabels(obj, op.labels())
			objs = append(objs, obj, map[string]any{
				"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
				"metadata": metadata(role.GetName(), op.ns, op.labels(), nil),
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.GetName()},
				"subjects": subjects,
			})
		case "ClusterRole":
			objs = append(objs, map[string]any{
				"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
				"metadata": metadata(ClusterRoleBindingName(op.a.Archive, role.GetName(), op.ns), "", op.labels(), nil),
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ClusterRoleName(op.a.Archive, role.GetName())},
				"subjects": subjects,
			})
		default:
			// solution.Open refuses such an archive; a render never deploys one.
			return fmt.Errorf("solution archive %s: operator/deploy/role.yaml: %s %s: only Role and ClusterRole are deployed",
				op.a.Path, role.GetKind(), role.GetName())
		}
	}
	config, err := op.config()
	if err != nil {
		return err
	}
	digest, err := Digest(config)
	if err != nil {
		return err
	}
	objs = append(objs, map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": metadata(OperatorConfigName(op.a.Name), op.ns, op.labels(), nil),
		"data":     map[string]any{OperatorConfigKey: config},
	}, op.deployment(digest))
	for _, obj := range objs {
		if err := r.add(obj, op.from); err != nil {
			return err
		}
	}
	return nil
}

// config is the OperatorConfig (000 L8190-8206): for every imported version of the
// solution, the registry repository of its archive and the images it serves.
func (op operator) config() (string, error) {
	repos := map[string]any{}
	for _, a := range op.c.versions[op.a.Name] {
		images := make([]any, len(a.Images))
		for i, img := range a.Images {
			images[i] = img
		}
		repos[a.Version] = []any{map[string]any{"endpoint": SolutionRegistry + "/" + a.ID(), "images": images}}
	}
	b, err := yaml.Marshal(map[string]any{
		"apiVersion":   schema.APIVersionSolutions,
		"kind":         "OperatorConfig",
		"repositories": repos,
	})
	if err != nil {
		return "", fmt.Errorf("solution archive %s: OperatorConfig: %w", op.a.Path, err)
	}
	return string(b), nil
}

func (op operator) deployment(configDigest string) map[string]any {
	labels := op.labels()
	selector := map[string]string{labelName: labels[labelName], labelInstance: labels[labelInstance]}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": metadata(OperatorName(op.a.Name), op.ns, labels, nil),
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": anyMap(selector)},
			"template": map[string]any{
				"metadata": map[string]any{
					"labels":      anyMap(labels),
					"annotations": map[string]any{AnnotationOperatorConfigDigest: configDigest},
				},
				"spec": map[string]any{
					"serviceAccountName": OperatorName(op.a.Name),
					"containers": []any{map[string]any{
						"name":            "operator",
						"image":           OperatorImage(op.a.Archive),
						"imagePullPolicy": "IfNotPresent",
						"args":            []any{"--config=" + OperatorConfigDir + "/" + OperatorConfigKey},
						// The operator-sdk convention: the namespace the operator watches.
						"env": []any{map[string]any{"name": "WATCH_NAMESPACE", "valueFrom": map[string]any{
							"fieldRef": map[string]any{"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}},
						"volumeMounts": []any{map[string]any{"name": "operator-config", "mountPath": OperatorConfigDir, "readOnly": true}},
					}},
					"volumes": []any{map[string]any{"name": "operator-config",
						"configMap": map[string]any{"name": OperatorConfigName(op.a.Name)}}},
				},
			},
		},
	}
}

// archiveObject copies a document of an archive as a desired object.
func archiveObject(a imported, u *unstructured.Unstructured) (map[string]any, error) {
	obj, err := desiredCopy(u.Object)
	if err != nil {
		return nil, fmt.Errorf("solution archive %s: %s %s: %w", a.Path, u.GetKind(), u.GetName(), err)
	}
	return obj, nil
}

// addLabels merges labels into an object's own.
func addLabels(obj map[string]any, labels map[string]string) {
	u := &unstructured.Unstructured{Object: obj}
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, labels)
	u.SetLabels(l)
}

// labelValue makes s a valid label value: characters a label may not hold become '_'
// (a version's build metadata, 1.0.0+build, as Helm charts do), at most 63 characters,
// starting and ending with a letter or digit.
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	notAlnum := func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }
	return strings.TrimFunc(string(b), notAlnum)
}
