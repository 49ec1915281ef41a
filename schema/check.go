package schema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cuelang.org/go/cue"

	"github.com/metalk8s/mk8s/schema/diag"
)

// checker validates documents against compiled plans. It remembers the verdict of
// every (schema node, leaf value) pair it asked CUE about: a site repeats the same
// values (apiVersion, kind, storage class, device paths) thousands of times.
type checker struct {
	c     *compiled
	plans map[string]*plan // definition name -> plan
	cache map[leafKey]bool
}

type leafKey struct {
	p   *plan
	val string
}

func newChecker(c *compiled) *checker {
	k := &checker{c: c, plans: map[string]*plan{}, cache: map[leafKey]bool{}}
	for name, v := range c.defs {
		k.plans[name] = c.compilePlan(v)
	}
	return k
}

// docCheck is the validation of one document: its diagnostics and the fields found bad,
// so that the Go rules that follow do not report the same field twice.
type docCheck struct {
	doc   *document
	diags *diag.List
	bad   map[string]bool
}

func (d *docCheck) errorf(field, allowed, format string, args ...any) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	if d.bad[field] {
		return
	}
	d.bad[field] = true
	d.diags.Errorf(d.doc.File, d.doc.Source.LineOf(field), field, allowed, format, args...)
}

// isBad reports whether the field or one of its ancestors was refused.
func (d *docCheck) isBad(field string) bool {
	for f := field; f != ""; {
		if d.bad[f] {
			return true
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return false
}

// walk checks data against p and returns it with the schema's defaults filled in.
func (k *checker) walk(d *docCheck, p *plan, data any, path string) any {
	if p.top {
		return data
	}
	switch p.kind {
	case planStruct:
		m, ok := data.(map[string]any)
		if !ok {
			d.errorf(path, "expected "+p.allowed, "%s", invalidKind(data))
			return data
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			v := m[key]
			fp := joinPath(path, key)
			if f, ok := p.fields[key]; ok {
				if v == nil && !f.plan.top {
					// YAML `key:` with no value: absent, as Kubernetes reads it.
					delete(m, key)
					continue
				}
				m[key] = k.walk(d, f.plan, v, fp)
				continue
			}
			if pp := k.pattern(p, key); pp != nil {
				m[key] = k.walk(d, pp, v, fp)
				continue
			}
			if p.open {
				continue
			}
			if len(p.patterns) > 0 && len(p.order) == 0 {
				var keys []string
				for _, pp := range p.patterns {
					keys = append(keys, fmt.Sprint(pp.key))
				}
				d.errorf(fp, "expected keys matching "+strings.Join(keys, " or "), "invalid key %q", key)
				continue
			}
			if path == "" && key == "status" {
				d.errorf(fp, "allowed fields: "+p.fieldNames(), "not allowed: the site declares the desired state, the cluster reports status")
				continue
			}
			d.errorf(fp, "allowed fields: "+p.fieldNames(), "unknown field")
		}
		for _, name := range p.order {
			f := p.fields[name]
			if _, ok := m[name]; ok {
				continue
			}
			switch {
			case f.required:
				d.errorf(joinPath(path, name), "expected "+f.plan.allowed, "missing required field")
			case f.plan.hasDef:
				m[name] = cloneData(f.plan.def)
			}
		}
		return m
	case planList:
		l, ok := data.([]any)
		if !ok {
			d.errorf(path, "expected "+p.allowed, "%s", invalidKind(data))
			return data
		}
		if p.elem != nil {
			for i, e := range l {
				l[i] = k.walk(d, p.elem, e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
		return l
	}
	if !k.leafOK(p, data) {
		switch {
		case len(p.enum) > 0 && isScalar(data):
			d.errorf(path, "", "%s is not one of %s", repr(data), strings.Join(p.enum, ", "))
		case !kindFits(p.value.IncompleteKind(), data):
			d.errorf(path, "expected "+p.allowed, "%s", invalidKind(data))
		default:
			d.errorf(path, "expected "+p.allowed, "invalid value %s", repr(data))
		}
	}
	return data
}

// pattern returns the plan of the first pattern constraint whose key matches.
func (k *checker) pattern(p *plan, key string) *plan {
	for i := range p.patterns {
		pp := &p.patterns[i]
		ck := leafKey{p: pp.plan, val: "key\x00" + key}
		ok, seen := k.cache[ck]
		if !seen {
			ok = pp.key.Unify(k.c.ctx.Encode(key)).Validate(cue.Concrete(true)) == nil
			k.cache[ck] = ok
		}
		if ok {
			return pp.plan
		}
	}
	return nil
}

// leafOK asks CUE whether a leaf value satisfies the schema node, once per distinct value.
func (k *checker) leafOK(p *plan, data any) bool {
	if p.fast != nil {
		return p.fast(data)
	}
	key := leafKey{p: p}
	switch x := data.(type) {
	case string:
		key.val = "s" + x
	case int64, float64, bool, nil:
		key.val = fmt.Sprintf("%T%v", x, x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return false
		}
		key.val = "j" + string(b)
	}
	if ok, seen := k.cache[key]; seen {
		return ok
	}
	ok := p.value.Unify(k.c.ctx.Encode(data)).Validate(cue.Concrete(true)) == nil
	k.cache[key] = ok
	return ok
}

// invalidKind says that a value is of the wrong kind: `invalid value "two" (a string)`.
func invalidKind(v any) string {
	if isScalar(v) && v != nil {
		return fmt.Sprintf("invalid value %s (%s)", repr(v), kindOf(v))
	}
	return "invalid value (" + kindOf(v) + ")"
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// kindFits reports whether a data value has one of the kinds a schema node accepts.
func kindFits(k cue.Kind, v any) bool {
	switch v.(type) {
	case nil:
		return k&cue.NullKind != 0
	case string:
		return k&cue.StringKind != 0
	case bool:
		return k&cue.BoolKind != 0
	case int64:
		return k&cue.IntKind != 0
	case float64:
		return k&cue.FloatKind != 0
	case map[string]any:
		return k&cue.StructKind != 0
	case []any:
		return k&cue.ListKind != 0
	}
	return false
}

// joinPath appends a map key to a field path: `a.b` for plain keys, `a["x.y/z"]` for keys
// such as annotation names.
func joinPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		b, _ := json.Marshal(key)
		return path + "[" + string(b) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// cloneData deep-copies a data tree (defaults are shared by every document). Maps and
// lists of other Go types (map[string]string, []string) are copied as generic ones.
func cloneData(v any) any {
	switch x := v.(type) {
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return m
	case []string:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneData(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneData(e)
		}
		return l
	}
	return v
}
