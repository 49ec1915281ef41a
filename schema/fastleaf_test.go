package schema

import (
	"fmt"
	"testing"

	"cuelang.org/go/cue"
)

// TestFastLeafAgreesWithCUE: for every leaf of every definition that has a Go fast
// path, the fast path and CUE give the same verdict on a set of probe values.
func TestFastLeafAgreesWithCUE(t *testing.T) {
	c, err := compileSchema()
	if err != nil {
		t.Fatal(err)
	}
	k := newChecker(c)
	probes := []any{"", "a", "node-1", "Node_1", "/dev/sdb", "sdb", "/etc/x", "10Gi", "10GB", "1.5", "2.10.0",
		"10.0.0.0/24", "10.0.0.1", "http://p:3128", "a.b.c", "-a", "a-", fmt.Sprint(make([]byte, 300)),
		int64(1), int64(-1), 1.5, true, false, nil, []any{"x"}, map[string]any{"a": "b"}}
	n := 0
	var walk func(p *plan, path string)
	walk = func(p *plan, path string) {
		switch p.kind {
		case planStruct:
			for _, name := range p.order {
				walk(p.fields[name].plan, path+"."+name)
			}
			for _, pp := range p.patterns {
				walk(pp.plan, path+".*")
			}
		case planList:
			if p.elem != nil {
				walk(p.elem, path+"[]")
			}
		default:
			if p.fast == nil {
				return
			}
			n++
			for _, v := range probes {
				want := p.value.Unify(c.ctx.Encode(v)).Validate(cue.Concrete(true)) == nil
				if got := p.fast(v); got != want {
					t.Errorf("%s: fast check of %#v = %v, CUE says %v", path, v, got, want)
				}
			}
		}
	}
	for name, p := range k.plans {
		walk(p, "#"+name)
	}
	if n < 20 {
		t.Errorf("only %d leaves have a fast path", n)
	}
}

// TestDecodeYAMLNotUTF8: an error without a line names the file once, not twice.
func TestDecodeYAMLNotUTF8(t *testing.T) {
	_, diags := decodeYAML("nodes/n.yaml", []byte("apiVersion: v1\n# \xff\xfe\n"))
	if len(diags) != 1 || diags[0].String() != "nodes/n.yaml: invalid YAML: invalid leading UTF-8 octet" {
		t.Fatalf("got %q", diags)
	}
}
