package solution

import (
	"fmt"
	"io/fs"
	"strings"
)

// ArchiveError is an archive refused by Open: it names the archive, the file inside it,
// and where there is one, the line, the document and the field, so that a caller can
// point at what to fix without parsing the message.
type ArchiveError struct {
	// Path is the archive's path, as given to Open.
	Path string
	// File is the file inside the archive ("operator/deploy/role.yaml"); empty when the
	// image as a whole is refused (missing, not an ISO, truncated...).
	File string
	// Line is the 1-based line in File; 0 when unknown.
	Line int
	// Object is the document concerned ("ClusterRole example-operator"), if any.
	Object string
	// Field is the dotted path of the field (`rules[1].verbs`), if any.
	Field string
	// Reason says what is wrong, and for a rule, which rule is broken.
	Reason string
	// Err is the underlying error, if any.
	Err error
	// missing: there is no file at Path (errors.Is fs.ErrNotExist).
	missing bool
}

func (e *ArchiveError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "solution archive %s: ", e.Path)
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Object != "" {
		b.WriteString(e.Object + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *ArchiveError) Unwrap() error { return e.Err }

// Is makes an archive that is not there errors.Is(err, fs.ErrNotExist), as a missing
// file is to os.Open: what is not on this machine is told apart from what is refused.
func (e *ArchiveError) Is(target error) bool { return e.missing && target == fs.ErrNotExist }

// refusal builds the ArchiveErrors of one archive.
type refusal struct{ path string }

// file refuses a file of the archive.
func (r refusal) file(file string, format string, args ...any) *ArchiveError {
	return &ArchiveError{Path: r.path, File: file, Reason: fmt.Sprintf(format, args...)}
}

// wrap refuses a file of the archive because of err.
func (r refusal) wrap(file string, err error, format string, args ...any) *ArchiveError {
	return &ArchiveError{Path: r.path, File: file, Reason: fmt.Sprintf(format, args...), Err: err}
}

// field refuses a field of a document of a file.
func (r refusal) field(file string, line int, object, field, format string, args ...any) *ArchiveError {
	return &ArchiveError{Path: r.path, File: file, Line: line, Object: object, Field: field, Reason: fmt.Sprintf(format, args...)}
}
