// Package e2e holds the end-to-end tests of mk8s against real components: a real
// kube-apiserver and etcd, real sshd hosts in network namespaces, real git servers and
// real signatures. The reusable harness lives in the sub-packages of e2e/harness.
package e2e
