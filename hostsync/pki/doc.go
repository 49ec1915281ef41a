// Package pki is mk8s' certificate authority for a site, as MetalK8s runs it with its
// `ca` minion: the CAs, the service-account key pair and the secrets-encryption key live
// on the bootstrap node only (never in git), are created once when a fresh cluster has
// none, are never overwritten, and are backed up in the reconciler's state directory.
// Leaf certificates are issued per node and role with the subjects, SANs, key usages
// and lifetimes MetalK8s sets; their private keys are generated on the node that uses
// them, and only public keys travel to the signer. A certificate is re-issued when it is
// missing, does not match its key, its CA or its specification, or has less than a
// configurable fraction of its lifetime left.
//
// The package is pure: it decides and signs. Reading the hosts, writing the files and
// ordering the work is hostsync's (pkistage.go).
package pki
