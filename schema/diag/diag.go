package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity tells whether a diagnostic refuses the revision (SeverityError) or only informs (SeverityWarning).
// Warnings never change an exit code.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a document.
type Diagnostic struct {
	// File is the path of the document inside the site (slash-separated), or the path
	// of a config file given on the command line.
	File string `json:"file"`
	// Line is 1-based; 0 when the problem has no line (a missing file, say).
	Line int `json:"line,omitempty"`
	// Column is 1-based; 0 when unknown.
	Column int `json:"column,omitempty"`
	// Field is the dotted path of the field (`spec.taints[0].effect`); empty for a whole document.
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Allowed says what would be accepted; empty when there is nothing useful to say.
	Allowed string `json:"allowed,omitempty"`
	// Severity is SeverityError unless stated otherwise.
	Severity Severity `json:"severity"`
}

// String renders the canonical one-line form.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d", d.Line)
	}
	b.WriteString(": ")
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Allowed != "" {
		b.WriteString("; ")
		b.WriteString(d.Allowed)
	}
	return b.String()
}

// List is every diagnostic of one revision.
type List []Diagnostic

// Errorf appends an error diagnostic.
func (l *List) Errorf(file string, line int, field, allowed, format string, args ...any) {
	*l = append(*l, Diagnostic{File: file, Line: line, Field: field, Allowed: allowed,
		Message: fmt.Sprintf(format, args...), Severity: SeverityError})
}

// Warnf appends a warning diagnostic.
func (l *List) Warnf(file string, line int, field, allowed, format string, args ...any) {
	*l = append(*l, Diagnostic{File: file, Line: line, Field: field, Allowed: allowed,
		Message: fmt.Sprintf(format, args...), Severity: SeverityWarning})
}

// Sort orders by file, line, column, field, then message, and drops exact duplicates,
// so that the same revision always prints the same list.
func (l List) Sort() List {
	out := slices.Clone(l)
	slices.SortFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Severity, b.Severity),
		)
	})
	return slices.Compact(out)
}

// Errors returns the diagnostics of severity Error.
func (l List) Errors() List {
	var out List
	for _, d := range l {
		if d.Severity != SeverityWarning {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns the diagnostics of severity Warning.
func (l List) Warnings() List {
	var out List
	for _, d := range l {
		if d.Severity == SeverityWarning {
			out = append(out, d)
		}
	}
	return out
}

// HasErrors reports whether any diagnostic is an error.
func (l List) HasErrors() bool { return len(l.Errors()) > 0 }

// Err returns nil when the list holds no error, and an error listing them otherwise.
func (l List) Err() error {
	errs := l.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &Error{List: errs.Sort()}
}

// Error is the error form of a List: one diagnostic a line.
type Error struct{ List List }

func (e *Error) Error() string {
	lines := make([]string, len(e.List))
	for i, d := range e.List {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}
