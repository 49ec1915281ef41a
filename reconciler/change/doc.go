// Package change owns the one result vocabulary of mk8s, shared by the object half
// (server-side apply) and the host half (hostsync): every planned or performed action is
// an Entry whose Action is created, configured, unchanged, deleted or skipped, the same
// words fluxcd/pkg/ssa uses in its ChangeSet. Logs, plans, status and the CLI all print
// these values; nothing here talks to a cluster or a host.
package change
