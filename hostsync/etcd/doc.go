// Package etcd is a small etcd v3 client for the two things hostsync needs while it
// converges etcd members one at a time: cluster membership (list, add) and health. It
// speaks etcd's documented HTTP API (the v3 gRPC gateway's JSON over HTTPS, and
// /health) rather than clientv3, so mk8s does not pull in the etcd and gRPC module
// trees for three calls. Every connection is opened through a transport.DialFunc
// because lab hosts are only reachable from inside a network namespace.
//
// It does not decide when to add a member or which endpoint to ask; the reconciler
// does. It knows nothing about manifests, nodes or sites.
package etcd
