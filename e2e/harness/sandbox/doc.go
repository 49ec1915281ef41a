// Package sandbox is the harness of the whole loop, shared by the loop e2e tests, the
// loop benchmark and `make demo`: a real kube-apiserver and etcd (kubeenv), SSH hosts in
// network namespaces (hosts), a local bare git repository that plays the bootstrap
// node's push target, a working clone holding a copy of site-example/ pointed at the lab
// hosts and signed with an SSH key made for the sandbox (trusted in the reconciler
// config, never in the repository), and `mk8s run` daemons started as child processes.
// It stops everything it started, by PID, in Close. It drives the mk8s binary and git
// from outside, as a user would; it must not reach into the reconciler's internals.
package sandbox
