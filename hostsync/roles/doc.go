// Package roles owns the mapping from a node's roles and the cluster configuration to the
// node's desired host state, as typed resources (package resource), following what
// MetalK8s' Salt states write on each role: package repositories, containerd, kubelet,
// sysctl and kernel modules and the apiserver-proxy on every node; etcd on etcd nodes;
// the control plane on masters; the repository/registry on the bootstrap node.
// Rendering is pure: the same site gives the same bytes. Certificates, keys and
// kubeconfigs are not written here (the PKI stage owns them); manifests only reference
// their paths, and their live checksums enter the static pods' config digests.
package roles
