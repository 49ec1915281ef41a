// Package solution reads and validates MetalK8s Solution archives: ISO-9660 images with
// Rock Ridge and Joliet, read without mounting, that carry a manifest.yaml (kind
// Solution), container images under images/<name>/<tag>/, the operator's role.yaml and
// CRDs under operator/deploy/, and registry-config.inc.
//
// It owns the archive format and its rules (what a role.yaml may ask for, which layout is
// valid). It must not render Kubernetes objects or touch hosts: reconciler/render turns
// Archives into objects, hostsync serves their images on the bootstrap node.
package solution
