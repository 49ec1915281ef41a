// Package daemon owns `mk8s run`: the long-running loop on the bootstrap node that
// decides WHEN a reconcile happens and records how it ended. It runs one reconcile at a
// time (triggers arriving meanwhile coalesce into one follow-up), takes its triggers
// from a jittered poll interval, an HMAC-authenticated push webhook, a watch on a local
// bare repository's refs, the Site's requestedAt annotation and spec.suspend; it holds a
// coordination.k8s.io Lease so only one daemon acts; it serves /healthz, /readyz and
// /metrics (a private Prometheus registry); and it writes the Site status and Events
// through the status package.
//
// It must not know how a reconcile is done: the pipeline is the ReconcileFunc it is
// given. It never touches hosts or site objects itself.
//
// Readiness (/readyz): ready while this process holds the Lease, has installed the Site
// CRD, and has finished its first reconcile attempt since it started leading (whatever
// the result: the site's health is the Site's Ready condition, not the daemon's), or has
// found the site suspended. A standby daemon (not the Lease holder) is alive but not
// ready.
package daemon
