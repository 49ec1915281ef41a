// Package staticpod runs the command of a static pod manifest written on a lab host
// (package e2e/harness/hosts) as a process inside that host's mount, network and UTS
// namespaces, with a real binary standing in for the container image (the testenv etcd
// and kube-apiserver). Not in its PID namespace, so the process stays the test's child.
// The lab has no kubelet or container runtime; this is how an e2e test proves that a
// rendered control plane really starts and serves. hostPath volumes mount host paths at
// the same paths, so running the command on the host's own filesystem is what the
// kubelet would run. It knows nothing of mk8s: it reads a Pod from a file, runs it, and
// stops it by PID.
package staticpod
