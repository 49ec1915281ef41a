// Package diag owns the one error vocabulary of mk8s: a Diagnostic names the file,
// line and field of a problem in the site repository (or in the reconciler's own
// config), says what is wrong and what is allowed.
//
// Every validation error, and every reconcile-time fact that is reported against the
// repository, is a Diagnostic, printed as
//
//	path/in/site.yaml:LINE: field.path: what is wrong; what is allowed
//
// The package holds no state and touches nothing outside its values.
package diag
