// Package review is the plan of a change between two revisions of a site repository,
// as a pull request shows it: both trees read from git objects (no checkout), both
// validated, the objects and the host state each renders compared offline, the commits
// of the range checked against the reconciler's trust, and, with a cluster, the plan of
// the new revision against it plus the drift the cluster has from the old one. It is
// what `mk8s plan --repo R --from A --to B` prints; the reviewer sees before merge what
// the reconciler will do with the push, or that it will refuse it.
package review
