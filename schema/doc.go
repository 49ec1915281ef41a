// Package schema owns the site repository format: the CUE schemas and platform defaults
// (embedded), the Go types of every site document, the loader that reads a site from any
// fs.FS (a directory or a git tree) keeping the source position of every field, the
// single-document and cross-document validation, and the recurse-merge of a service
// override over its platform defaults.
//
// It is pure: it reads the fs.FS it is given and nothing else, never touches a host or a
// cluster, and reports every problem as a diag.Diagnostic naming file, line and field.
package schema
