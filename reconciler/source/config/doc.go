// Package config reads the reconciler's own configuration (/etc/mk8s/reconciler.yaml on
// the bootstrap node): where the site repository is, which keys are trusted to sign it,
// how to authenticate to the remote, and where the source state lives. It is validated
// with an embedded CUE schema and every error is a schema/diag diagnostic
// (`file:LINE: field: what is wrong; what is allowed`).
//
// It owns parsing and validation only; it must not open the network, the repository or
// the keys beyond checking that the files it names can be read.
package config
