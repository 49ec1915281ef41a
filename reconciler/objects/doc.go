// Package objects converges Kubernetes objects by server-side apply (fluxcd/pkg/ssa,
// field manager "mk8s"): it plans (server-side dry-run, per-object diffs), applies in
// stages, prunes what its in-cluster inventory says it created and the render no longer
// has, and waits for health (kstatus).
//
// It owns the inventory ConfigMap in namespace mk8s-system, the no-op fast path (desired
// digests and last-seen resourceVersions, so that an unchanged site against an unchanged
// cluster costs a few list requests and no write), and the safety rules of pruning. It
// must not render objects (reconciler/render) nor touch hosts.
package objects
