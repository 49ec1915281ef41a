// Package objects holds the end-to-end tests of the Kubernetes half of mk8s: the
// example site reconciled against a real kube-apiserver, by the pipeline and by the
// mk8s binary, with kubectl playing the operator who edits objects by hand.
package objects
