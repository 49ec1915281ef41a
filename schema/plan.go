package schema

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
)

// plan is one node of the compiled schema, flattened into Go once per Load so that
// validating a document is a walk over Go maps: CUE is only asked to unify leaf values
// (and each distinct leaf value once, see checker.cache). Whole-document unification
// costs about 0.5 ms per document, too slow for a 2,000-volume site (BENCHMARKS.md).
type plan struct {
	value    cue.Value
	kind     planKind
	allowed  string // what the node accepts, for messages
	enum     []string
	hasDef   bool
	def      any // Go value of the CUE default
	fields   map[string]*fieldPlan
	order    []string // declared field names, in schema order
	patterns []patternPlan
	open     bool  // accepts fields it does not declare (CUE `...`)
	elem     *plan // list element
	top      bool  // accepts anything (`_`)
	// fast, when set, checks a leaf value in Go exactly as CUE would (see fastLeaf).
	fast func(any) bool
}

type planKind int

const (
	planLeaf planKind = iota
	planStruct
	planList
)

type fieldPlan struct {
	name     string
	required bool
	plan     *plan
}

type patternPlan struct {
	key  cue.Value
	plan *plan
}

// compilePlan flattens a schema value.
func (c *compiled) compilePlan(v cue.Value) *plan {
	p := &plan{value: v}
	elemAllowed := ""
	if a := v.Attribute("mk8s"); a.Err() == nil {
		if s, ok, _ := a.Lookup(0, "allowed"); ok {
			p.allowed = s
		}
		if s, ok, _ := a.Lookup(0, "elem"); ok {
			elemAllowed = s
		}
	}
	if d, ok := v.Default(); ok && d.IsConcrete() {
		var x any
		if err := d.Decode(&x); err == nil {
			p.hasDef, p.def = true, normalize(x)
		}
	}
	switch k := v.IncompleteKind(); k {
	case cue.StructKind:
		p.kind = planStruct
		p.fields = map[string]*fieldPlan{}
		it, err := v.Fields(cue.Optional(true), cue.Patterns(true))
		if err == nil {
			for it.Next() {
				sel := it.Selector()
				if sel.ConstraintType() == cue.PatternConstraint {
					p.patterns = append(p.patterns, patternPlan{key: sel.Pattern(), plan: c.compilePlan(it.Value())})
					continue
				}
				if !sel.IsString() {
					continue
				}
				name := sel.Unquoted()
				p.fields[name] = &fieldPlan{name: name, required: sel.ConstraintType() == cue.RequiredConstraint,
					plan: c.compilePlan(it.Value())}
				p.order = append(p.order, name)
			}
		}
		p.open = v.Allows(cue.Str("\x00mk8s-undeclared")) && len(p.patterns) == 0
	case cue.ListKind:
		p.kind = planList
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
			p.elem = c.compilePlan(e)
			if elemAllowed != "" {
				p.elem.allowed = elemAllowed
			}
		} else {
			p.top = true
		}
	case cue.TopKind:
		p.top = true
	default:
		p.enum = enumOf(v)
		p.fast = fastLeaf(v, p.hasDef)
	}
	if p.allowed == "" {
		p.allowed = describe(p)
	}
	return p
}

// enumOf returns the concrete alternatives of a disjunction of scalars, or nil.
func enumOf(v cue.Value) []string {
	op, args := v.Expr()
	if op != cue.OrOp {
		return nil
	}
	var out []string
	for _, a := range args {
		if !a.IsConcrete() {
			return nil
		}
		switch a.Kind() {
		case cue.StringKind:
			s, _ := a.String()
			out = append(out, s)
		case cue.BoolKind, cue.IntKind, cue.FloatKind, cue.NumberKind:
			out = append(out, fmt.Sprint(a))
		default:
			return nil
		}
	}
	return out
}

// describe says in words what a schema node accepts, when the schema gives no @mk8s(allowed).
func describe(p *plan) string {
	switch {
	case p.top:
		return "any value"
	case p.kind == planStruct:
		if len(p.order) > 0 {
			return "a mapping with fields " + strings.Join(p.order, ", ")
		}
		return "a mapping"
	case p.kind == planList:
		if p.elem != nil && p.elem.kind == planStruct {
			return "a list of mappings"
		}
		return "a list"
	case len(p.enum) > 0:
		return "one of " + strings.Join(p.enum, ", ")
	}
	return kindWords(p.value.IncompleteKind())
}

func kindWords(k cue.Kind) string {
	var out []string
	if k&cue.StringKind != 0 {
		out = append(out, "a string")
	}
	switch {
	case k&cue.NumberKind == cue.NumberKind:
		out = append(out, "a number")
	case k&cue.IntKind != 0:
		out = append(out, "an integer")
	}
	if k&cue.BoolKind != 0 {
		out = append(out, "true or false")
	}
	if k&cue.ListKind != 0 {
		out = append(out, "a list")
	}
	if k&cue.StructKind != 0 {
		out = append(out, "a mapping")
	}
	if k&cue.NullKind != 0 {
		out = append(out, "null")
	}
	if len(out) == 0 {
		return "a valid value"
	}
	return strings.Join(out, " or ")
}

// fieldNames lists the declared fields of a struct plan, sorted, for "allowed" messages.
func (p *plan) fieldNames() string {
	names := append([]string(nil), p.order...)
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// repr prints a data value the way the user wrote it, for messages.
func repr(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a mapping"
	case []any:
		if len(x) == 0 {
			return "an empty list"
		}
		return "a list"
	default:
		return fmt.Sprint(x)
	}
}

// kindOf names the kind of a data value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// normalize turns what cue.Value.Decode produces into the data tree types of the loader
// (map[string]any, []any, string, int64, float64, bool, nil).
func normalize(x any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
		return v
	case int:
		return int64(v)
	case float64:
		if v == float64(int64(v)) && !strings.ContainsAny(strconv.FormatFloat(v, 'g', -1, 64), ".e") {
			return int64(v)
		}
		return v
	}
	return x
}
