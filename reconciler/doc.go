// Package reconciler owns the pipeline of one reconcile, read top to bottom like the
// runbook it implements: source (fetch, mirror, verify) → load → validate → render →
// plan → apply hosts → apply objects → prune → wait → record. The stages live in
// sub-packages (source, render, objects, change, …); this package only sequences them and
// must not reach into a host or the API except through them.
package reconciler
