package schema

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
)

//go:embed cue/*.cue
var cueFiles embed.FS

// compiled is the site schema compiled into one CUE context. A cue.Context is not safe
// for concurrent use, so every Load compiles its own (a few milliseconds, measured by
// BenchmarkCompile) instead of sharing a package-level value.
type compiled struct {
	ctx  *cue.Context
	root cue.Value
	defs map[string]cue.Value // definition name (without #) -> closed definition
}

// compileSchema compiles the embedded CUE files into one value.
func compileSchema() (*compiled, error) {
	names, err := fs.Glob(cueFiles, "cue/*.cue")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var decls []ast.Decl
	for _, name := range names {
		src, err := cueFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(path.Base(name), src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("embedded schema %s: %w", name, err)
		}
		for _, d := range f.Decls {
			switch d.(type) {
			case *ast.Package, *ast.ImportDecl:
				continue
			}
			decls = append(decls, d)
		}
	}
	ctx := cuecontext.New()
	root := ctx.BuildFile(&ast.File{Filename: "schema.cue", Decls: decls})
	if err := root.Err(); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	c := &compiled{ctx: ctx, root: root, defs: map[string]cue.Value{}}
	for _, name := range []string{"Cluster", "Node", "Volume", "StorageClass", "SolutionsConfiguration",
		"Environment", "Manifest", "AlertmanagerConfig", "DexConfig", "GrafanaConfig", "PrometheusConfig",
		"LokiConfig", "UIConfig", "ShellUIConfig"} {
		v := root.LookupPath(cue.MakePath(cue.Def(name)))
		if !v.Exists() {
			return nil, fmt.Errorf("embedded schema: #%s is missing", name)
		}
		c.defs[name] = v
	}
	return c, nil
}
