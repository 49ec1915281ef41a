// Package solution reads and validates MetalK8s Solution archives: ISO-9660 images with
// Rock Ridge and Joliet, read without mounting, that carry a manifest.yaml (kind
// Solution), container images under images/<name>/<tag>/, the operator's role.yaml and
// CRDs under operator/deploy/, and registry-config.inc(.j2).
//
// Open (an OpenFunc) checks everything Archive promises and refuses an archive with an
// *ArchiveError naming the archive, the file inside it and, where there is one, the line,
// document and field. CheckRules is the rule of what a role.yaml may ask for, usable on
// its own. Cache wraps an OpenFunc so that an unchanged file is not read again. The
// archive format is documented in docs/solution-archives.md.
//
// It owns the archive format and its rules (what a role.yaml may ask for, which layout is
// valid). It must not render Kubernetes objects or touch hosts: reconciler/render turns
// Archives into objects, hostsync serves their images on the bootstrap node.
package solution
