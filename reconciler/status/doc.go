// Package status owns the record of what the reconciler did, kept in the cluster: the
// Site custom resource (group mk8s.metalk8s.scality.com, its CRD embedded here), the
// pure rules that turn one reconcile's outcome into kstatus-compatible conditions
// (Ready / Reconciling / Stalled), per-node state, inventory and history, the writer
// that stores them through the status subresource with server-side apply (field
// manager "mk8s"), the spec switches users flip (suspend, requested reconcile), and the
// Kubernetes events that carry the revision.
//
// It must not run a reconcile, decide when one runs, or touch hosts or any object but
// its own CRD, Site objects and their Events: the daemon package drives it and the
// pipeline fills in the outcome.
package status
