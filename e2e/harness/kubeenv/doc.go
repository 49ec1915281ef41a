// Package kubeenv starts a real kube-apiserver and etcd for tests, through
// controller-runtime's envtest and the binaries hack/testenv.sh builds (never
// downloaded, never mocked). It owns finding those binaries, starting the control
// plane, writing a kubeconfig file for kubectl and `mk8s --kubeconfig`, and stopping
// everything it started. It must not know anything about mk8s objects.
package kubeenv
