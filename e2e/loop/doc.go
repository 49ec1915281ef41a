// Package loop holds the end-to-end tests of the whole loop, from `git push` to a
// converged cluster, against real everything (e2e/harness/sandbox): a real kube-apiserver
// and etcd, SSH hosts in network namespaces, a bare repository as the push target, real
// SSH commit signatures, and `mk8s run` as a child process of the binary built from
// cmd/mk8s. They need root (network namespaces).
package loop
