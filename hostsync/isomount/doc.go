// Package isomount owns the host half of a Solution import on the bootstrap node, as
// MetalK8s' salt/metalk8s/solutions/available.sls does it: each imported archive, an ISO
// file on the node, mounted read-only at /srv/scality/<name>-<version> (iso9660 through a
// loop device) and persisted in /etc/fstab with `ro,nofail`; and, once the archive leaves
// solutions.yaml, its release: the ISO unmounted, its fstab entry and empty mountpoint
// removed, and its registry include removed. The steps are host resources of hostsync's
// vocabulary (probe, decide, apply), so a plan shows them before they happen and a second
// run changes nothing.
//
// hostsync never deletes host files, except here: an unimported archive is the one
// piece of host state mk8s takes away, and only what mk8s itself created. mk8s marks its
// fstab entries with the option x-mk8s.solution (mount(8): x-* options are comments for
// applications, never passed to the kernel), and ReadImported finds the archives to
// release by that mark alone; an include is removed only when the host's record of what
// mk8s wrote lists it. A mountpoint that holds anything else (another ISO, a foreign
// mount, files) is refused with the reason, never unmounted; the platform's own archive,
// /srv/scality/metalk8s-<version>, is never a Solution's mountpoint and never touched.
//
// It does not read archives (reconciler/solution does), nor know which archives the site
// imports (hostsync and roles do).
package isomount
