package schema

import (
	"strings"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/metalk8s/mk8s/schema/diag"
)

// cueDiags translates raw CUE errors (a .cue file of the site that does not compile or
// is not concrete data) into diagnostics. Schema violations never get here: the checker
// reports them in its own words.
func cueDiags(file string, err error) diag.List {
	var out diag.List
	for _, e := range cueerrors.Errors(err) {
		line := 0
		if p := e.Position(); p.IsValid() && p.Filename() == file {
			line = p.Line()
		}
		for _, p := range e.InputPositions() {
			if line == 0 && p.IsValid() && p.Filename() == file {
				line = p.Line()
			}
		}
		field := strings.Join(e.Path(), ".")
		format, args := e.Msg()
		msg := strings.TrimSpace(sprintf(format, args...))
		allowed := ""
		if strings.Contains(msg, "incomplete") || strings.Contains(msg, "non-concrete") {
			allowed = "expected concrete data (no open types or references left)"
		}
		out.Errorf(file, line, field, allowed, "%s", msg)
	}
	if len(out) == 0 {
		out.Errorf(file, 0, "", "", "%v", err)
	}
	return out
}
