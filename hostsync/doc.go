// Package hostsync owns host convergence over SSH: the transport (sub-package transport:
// x/crypto/ssh with pinned host keys, sudo, quoted arguments, one connection per host),
// host state as typed resources that probe, diff and apply themselves (sub-package
// resource: files, directories, symlinks, systemd units, packages, sysctl, kernel
// modules, static pods), the mapping from node roles to desired host state (sub-package
// roles), and, here, the ordered, bounded orchestration across hosts. It never talks to
// the Kubernetes API.
//
// Plan and apply share one code path:
//
//	p, err := hostsync.Plan(ctx, site, hostsync.PlanOptions{HostConcurrency: 10, Backoff: &state})
//	defer p.Close()                       // the SSH connections, reused by Apply
//	fmt.Print(p.Entries())                // the dry run: per host, what apply would do
//	set, err := hostsync.Apply(ctx, p, hostsync.ApplyOptions{Backoff: &state})
//
// Plan probes every host in one round trip (two when a diff needs the live bytes) and
// decides each resource's step; Apply runs exactly those steps, in one remote script per
// host, bootstrap first, then etcd members one at a time, masters one at a time, the rest
// in parallel. A host that cannot be reached or fails is reported (change.Failed, with
// the failing resource and the remote stderr), does not stop the others, and is retried
// with backoff by later reconciles (Backoff, persisted by the caller).
//
// On the bootstrap node, the Solution archives the site imports (opened with
// PlanOptions.OpenArchive) are mounted and served by the registry, and those mk8s mounted
// that the site no longer imports are released (sub-package isomount): the one piece of
// host state hostsync takes away. The node's fstab is read first for mk8s' mounts, one
// more round trip there.
//
// Compare is the offline counterpart of Plan, for reviewing a change before it merges:
// it renders two revisions of a site for every node and returns, in the same
// vocabulary, what would change on the hosts (certificates compared by specification,
// secrets by checksum, disruptive steps flagged), without any host or cluster.
package hostsync
