package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"

	"github.com/metalk8s/mk8s/schema/diag"
)

// document is one YAML or CUE document of the site, as data, before it is typed.
type document struct {
	File   string
	Index  int // position of the document in its file
	Source Source
	Data   map[string]any
}

// siteFile is a file of the site the loader reads.
type siteFile struct {
	name string
	src  []byte
}

// listFiles returns the YAML and CUE files of the site, skipping hidden paths (.git/,
// .github/, .sops.yaml) and every other file (README.md, …).
func listFiles(ctx context.Context, fsys fs.FS) ([]siteFile, diag.List) {
	var files []siteFile
	var diags diag.List
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			diags.Errorf(p, 0, "", "", "cannot read: %v", err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		switch path.Ext(p) {
		case ".yaml", ".yml", ".cue":
		default:
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			diags.Errorf(p, 0, "", "", "cannot read: %v", err)
			return nil
		}
		files = append(files, siteFile{name: p, src: src})
		return nil
	})
	if err != nil {
		diags.Errorf(".", 0, "", "", "cannot read the site: %v", err)
	}
	return files, diags
}

// decodeYAMLFiles decodes YAML files in parallel (the YAML decoder needs no CUE context)
// and returns their documents in file order.
func decodeYAMLFiles(files []siteFile) ([][]*document, []diag.List) {
	docs := make([][]*document, len(files))
	diags := make([]diag.List, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				docs[i], diags[i] = decodeYAML(files[i].name, files[i].src)
			}
		}()
	}
	for i, f := range files {
		if path.Ext(f.name) != ".cue" {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return docs, diags
}

var yamlErrLine = regexp.MustCompile(`^[^:]*:(\d+):\s*(.*)$`)

// decodeYAML decodes every document of a YAML stream.
func decodeYAML(name string, src []byte) (docs []*document, diags diag.List) {
	dec := cueyaml.NewDecoder(name, bytes.NewReader(src))
	for i := 0; ; i++ {
		expr, err := dec.Extract()
		if err == io.EOF {
			return docs, diags
		}
		if err != nil {
			msg, line := err.Error(), 0
			if m := yamlErrLine.FindStringSubmatch(strings.TrimPrefix(msg, name)); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(strings.TrimPrefix(msg, name), ": ") // "f.yaml: invalid leading UTF-8 octet"
			}
			diags.Errorf(name, line, "", "", "invalid YAML: %s", msg)
			return docs, diags
		}
		r := astReader{fields: map[string]int{}}
		data, err := r.value(expr, "")
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				diags.Errorf(name, le.line, "", "", "invalid YAML: %s", le.msg)
			} else {
				diags.Errorf(name, expr.Pos().Line(), "", "", "invalid YAML: %v", err)
			}
			continue
		}
		if data == nil {
			continue // an empty document (`---` alone, or an empty file)
		}
		m, ok := data.(map[string]any)
		if !ok {
			diags.Errorf(name, expr.Pos().Line(), "", "expected a mapping with apiVersion, kind, …", "document is %s", kindOf(data))
			continue
		}
		docs = append(docs, &document{File: name, Index: i, Data: m,
			Source: Source{File: name, Line: max(expr.Pos().Line(), 1), Fields: r.fields}})
	}
}

// astReader turns the CUE syntax tree the YAML decoder produces into plain data,
// recording the line of every field.
type astReader struct {
	fields map[string]int
	nodes  int
}

// maxNodes bounds the size of one document (alias bombs are bounded by the decoder too).
const maxNodes = 1 << 20

func (r *astReader) value(e ast.Expr, p string) (any, error) {
	r.nodes++
	if r.nodes > maxNodes {
		return nil, errors.New("document too large")
	}
	switch x := e.(type) {
	case *ast.StructLit:
		m := make(map[string]any, len(x.Elts))
		for _, el := range x.Elts {
			f, ok := el.(*ast.Field)
			if !ok {
				return nil, fmt.Errorf("unsupported YAML construct at line %d", el.Pos().Line())
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				return nil, fmt.Errorf("line %d: unsupported key: %v", f.Pos().Line(), err)
			}
			fp := joinPath(p, name)
			if _, dup := m[name]; dup {
				return nil, &lineError{line: f.Pos().Line(), msg: fmt.Sprintf("key %q is already defined at line %d", name, r.fields[fp])}
			}
			r.fields[fp] = f.Pos().Line()
			v, err := r.value(f.Value, fp)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		return m, nil
	case *ast.ListLit:
		l := make([]any, len(x.Elts))
		for i, el := range x.Elts {
			fp := p + "[" + strconv.Itoa(i) + "]"
			if line := el.Pos().Line(); line > 0 {
				r.fields[fp] = line
			}
			v, err := r.value(el, fp)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	case *ast.BasicLit:
		return basicLit(x)
	case *ast.UnaryExpr:
		if x.Op == token.SUB {
			if lit, ok := x.X.(*ast.BasicLit); ok {
				v, err := basicLit(lit)
				switch n := v.(type) {
				case int64:
					return -n, err
				case float64:
					return -n, err
				}
			}
		}
	case *ast.BinaryExpr:
		// `*null | _`: the decoder's form of an empty input.
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported YAML value at line %d", e.Pos().Line())
}

func basicLit(x *ast.BasicLit) (any, error) {
	switch x.Kind {
	case token.STRING:
		return literal.Unquote(x.Value)
	case token.TRUE:
		return true, nil
	case token.FALSE:
		return false, nil
	case token.NULL:
		return nil, nil
	case token.INT:
		s := strings.ReplaceAll(x.Value, "_", "")
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: number %s out of range", x.Pos().Line(), x.Value)
		}
		return f, nil
	case token.FLOAT:
		s := strings.TrimPrefix(strings.ReplaceAll(x.Value, "_", ""), "number & ")
		switch s {
		case "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		if strings.HasPrefix(s, "0o") {
			if n, err := strconv.ParseInt(s, 0, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: invalid number %s", x.Pos().Line(), x.Value)
		}
		return f, nil
	}
	return nil, fmt.Errorf("line %d: unsupported literal %s", x.Pos().Line(), x.Value)
}

// decodeCUE evaluates a .cue file of the site: one document, or a list of documents.
// It must be concrete data: the site is data, the schema is mk8s's.
//
// Imports are refused: a site document is data, and a builtin package (list.Range,
// say) would let a pushed file make the reconciler compute without bound.
func decodeCUE(c *compiled, name string, src []byte) (docs []*document, diags diag.List) {
	f, err := parser.ParseFile(name, src)
	if err != nil {
		return nil, cueDiags(name, err)
	}
	for imp := range f.ImportSpecs() {
		diags.Errorf(name, imp.Pos().Line(), "", "expected data only: site .cue files may not import packages", "import %s", imp.Path.Value)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	v := c.ctx.BuildFile(f)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		for _, d := range cueDiags(name, err) {
			diags = append(diags, d)
		}
		return nil, diags
	}
	var items []cue.Value
	switch v.Kind() {
	case cue.ListKind:
		it, _ := v.List()
		for it.Next() {
			items = append(items, it.Value())
		}
	case cue.StructKind:
		items = []cue.Value{v}
	default:
		diags.Errorf(name, v.Pos().Line(), "", "expected a mapping with apiVersion, kind, … or a list of them", "file holds %s", v.Kind())
		return nil, diags
	}
	for i, item := range items {
		r := valueReader{fields: map[string]int{}}
		data := r.value(item, "")
		m, ok := data.(map[string]any)
		if !ok {
			diags.Errorf(name, item.Pos().Line(), fmt.Sprintf("[%d]", i), "expected a mapping with apiVersion, kind, …", "document is %s", kindOf(data))
			continue
		}
		docs = append(docs, &document{File: name, Index: i, Data: m,
			Source: Source{File: name, Line: max(item.Pos().Line(), 1), Fields: r.fields}})
	}
	return docs, diags
}

// valueReader turns a concrete CUE value into plain data with field lines.
type valueReader struct{ fields map[string]int }

func (r *valueReader) value(v cue.Value, p string) any {
	switch v.Kind() {
	case cue.StructKind:
		m := map[string]any{}
		it, _ := v.Fields()
		for it.Next() {
			name := it.Selector().Unquoted()
			fp := joinPath(p, name)
			if line := it.Value().Pos().Line(); line > 0 {
				r.fields[fp] = line
			}
			m[name] = r.value(it.Value(), fp)
		}
		return m
	case cue.ListKind:
		var l []any
		it, _ := v.List()
		for i := 0; it.Next(); i++ {
			fp := p + "[" + strconv.Itoa(i) + "]"
			if line := it.Value().Pos().Line(); line > 0 {
				r.fields[fp] = line
			}
			l = append(l, r.value(it.Value(), fp))
		}
		if l == nil {
			l = []any{}
		}
		return l
	case cue.IntKind:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case cue.FloatKind, cue.NumberKind:
		f, _ := v.Float64()
		return f
	case cue.StringKind:
		s, _ := v.String()
		return s
	case cue.BytesKind:
		b, _ := v.Bytes()
		return string(b)
	case cue.BoolKind:
		b, _ := v.Bool()
		return b
	}
	return nil
}

// sortFiles orders files by path so that every run reads (and reports) in the same order.
func sortFiles(files []siteFile) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
}

// lineError is a decoding error at a known line.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }
