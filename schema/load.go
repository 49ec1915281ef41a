package schema

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/schema/diag"
)

// LoadDir loads and validates the site in a directory.
func LoadDir(ctx context.Context, dir string) (*Site, diag.List) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		var l diag.List
		if err == nil {
			err = fmt.Errorf("not a directory")
		}
		l.Errorf(dir, 0, "", "expected the directory of a site repository", "cannot read the site: %v", err)
		return nil, l
	}
	// An os.Root, not os.DirFS: a symlink is followed only while it stays inside the site.
	root, err := os.OpenRoot(dir)
	if err != nil {
		var l diag.List
		l.Errorf(dir, 0, "", "expected the directory of a site repository", "cannot read the site: %v", err)
		return nil, l
	}
	defer root.Close()
	return Load(ctx, root.FS())
}

// Load reads every YAML and CUE document of a site from fsys, validates each against its
// schema and all of them together, and returns the typed site. The list holds every
// error and warning of the revision, sorted; Site is nil when it holds an error.
func Load(ctx context.Context, fsys fs.FS) (*Site, diag.List) {
	var diags diag.List
	c, err := compileSchema()
	if err != nil {
		diags.Errorf("(mk8s)", 0, "", "", "internal error: %v", err)
		return nil, diags
	}
	files, ld := listFiles(ctx, fsys)
	diags = append(diags, ld...)
	if err := ctx.Err(); err != nil {
		diags.Errorf(".", 0, "", "", "loading interrupted: %v", err)
		return nil, diags.Sort()
	}
	sortFiles(files)
	yamlDocs, yamlDiags := decodeYAMLFiles(files)
	var docs []*document
	for i, f := range files {
		if path.Ext(f.name) == ".cue" {
			d, dl := decodeCUE(c, f.name, f.src)
			docs = append(docs, d...)
			diags = append(diags, dl...)
			continue
		}
		docs = append(docs, yamlDocs[i]...)
		diags = append(diags, yamlDiags[i]...)
	}
	l := &loader{k: newChecker(c), diags: &diags, site: &Site{}, seen: map[string]bool{}, kinds: siteKinds()}
	// A file that cannot be decoded may declare anything: references to what it would
	// declare are not reported, only the decoding error.
	l.incomplete = diags.HasErrors()
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			diags.Errorf(".", 0, "", "", "loading interrupted: %v", err)
			return nil, diags.Sort()
		}
		l.document(d)
	}
	l.crossValidate()
	l.sortSite()
	diags = diags.Sort()
	if diags.HasErrors() {
		return nil, diags
	}
	return l.site, diags
}

// loader accumulates the typed documents of one Load.
type loader struct {
	k     *checker
	diags *diag.List
	site  *Site

	clusters  []*Cluster
	solutions []*SolutionsConfig
	services  map[string][]*ServiceConfig
	// seen records the site kinds met, even in refused documents, so that a refused
	// cluster.yaml is not also reported missing.
	seen map[string]bool
	// incomplete is set when a file or a document could not be decoded at all.
	incomplete bool
	kinds      []siteKind
}

// siteKind is a document kind of the site.
type siteKind struct {
	kind        string
	apiVersions []string
	def         string // CUE definition
}

func siteKinds() []siteKind {
	kinds := []siteKind{
		{KindBootstrapConfiguration, []string{APIVersionBootstrapV1alpha3}, "Cluster"},
		{KindNode, []string{"v1"}, "Node"},
		{KindVolume, []string{APIVersionVolume}, "Volume"},
		{KindStorageClass, []string{"storage.k8s.io/v1"}, "StorageClass"},
		{KindSolutionsConfiguration, []string{APIVersionSolutions, "metalk8s.scality.com/v1alpha1"}, "SolutionsConfiguration"},
		{KindEnvironment, []string{APIVersionSolutions}, "Environment"},
	}
	for _, s := range Services() {
		kinds = append(kinds, siteKind{s.Kind, s.APIVersions, s.Kind})
		if s.Kind == "DexConfig" {
			kinds = append(kinds, siteKind{"DexConfiguration", s.APIVersions, s.Kind})
		}
	}
	return kinds
}

func siteKindNames() string {
	var names []string
	for _, k := range siteKinds() {
		names = append(names, k.kind)
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

// document routes one document to its kind, identified by apiVersion and kind only.
func (l *loader) document(d *document) {
	dc := &docCheck{doc: d, diags: l.diags}
	apiVersion, okA := d.Data["apiVersion"].(string)
	kind, okK := d.Data["kind"].(string)
	if !okA || !okK {
		l.incomplete = true
		if !okA {
			dc.errorf("apiVersion", "expected a string such as v1", "missing or not a string")
		}
		if !okK {
			dc.errorf("kind", "expected a string such as ConfigMap", "missing or not a string")
		}
		return
	}
	var known *siteKind
	for _, sk := range l.kinds {
		if sk.kind != kind {
			continue
		}
		if slices.Contains(sk.apiVersions, apiVersion) {
			l.decodeKind(dc, sk)
			return
		}
		known = &sk
		l.seen[sk.def] = true
	}
	underManifests := strings.HasPrefix(d.File, "manifests/")
	// Under manifests/, a kind of the site with another apiVersion is another
	// group's kind (longhorn.io's Volume, say), unless the group is Scality's: then it
	// is a mistake (the seeds themselves misspell storage.metal8s.scality.com).
	if known != nil && (!underManifests || strings.HasSuffix(strings.Split(apiVersion, "/")[0], "scality.com")) {
		dc.errorf("apiVersion", "allowed: "+strings.Join(known.apiVersions, ", "),
			"%q is not a supported version of %s", apiVersion, kind)
		return
	}
	if underManifests {
		l.manifest(dc, apiVersion, kind)
		return
	}
	dc.errorf("kind", "site documents are "+siteKindNames()+"; put any other Kubernetes object under manifests/",
		"unknown kind %s (apiVersion %s)", kind, apiVersion)
}

// checkSchema validates the document against a CUE definition and fills in defaults.
func (l *loader) checkSchema(dc *docCheck, def string) {
	dc.doc.Data, _ = l.k.walk(dc, l.k.plans[def], dc.doc.Data, "").(map[string]any)
	if dc.doc.Data == nil {
		dc.doc.Data = map[string]any{}
	}
}

func (l *loader) decodeKind(dc *docCheck, sk siteKind) {
	l.checkSchema(dc, sk.def)
	switch sk.def {
	case "Cluster":
		l.cluster(dc)
	case "Node":
		l.node(dc)
	case "Volume":
		l.volume(dc)
	case "StorageClass":
		l.storageClass(dc)
	case "SolutionsConfiguration":
		l.solutionsConfig(dc)
	case "Environment":
		l.environment(dc)
	default:
		l.service(dc, sk.def)
	}
}

func (l *loader) manifest(dc *docCheck, apiVersion, kind string) {
	l.checkSchema(dc, "Manifest")
	d := dc.doc
	l.site.Manifests = append(l.site.Manifests, Manifest{
		Source: d.Source, APIVersion: apiVersion, Kind: kind,
		Namespace: strAt(d.Data, "metadata", "namespace"), Name: strAt(d.Data, "metadata", "name"),
		Object: d.Data,
	})
}

// sortSite orders every list as types.go documents it.
func (l *loader) sortSite() {
	s := l.site
	slices.SortStableFunc(s.Nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(s.Volumes, func(a, b Volume) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(s.StorageClasses, func(a, b StorageClass) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(s.Services, func(a, b ServiceConfig) int { return cmp.Compare(a.Kind, b.Kind) })
	slices.SortStableFunc(s.Environments, func(a, b Environment) int { return cmp.Compare(a.Name, b.Name) })
	for i := range s.Environments {
		slices.SortStableFunc(s.Environments[i].Namespaces, func(a, b EnvironmentNamespace) int { return cmp.Compare(a.Name, b.Name) })
	}
	slices.SortStableFunc(s.Manifests, func(a, b Manifest) int {
		return cmp.Or(cmp.Compare(a.Source.File, b.Source.File), cmp.Compare(a.Source.Line, b.Source.Line))
	})
}
