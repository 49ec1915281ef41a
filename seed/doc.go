// Package seed owns the generation of a new site repository (`mk8s seed`): the files of
// the initial site from a MetalK8s bootstrap.yaml or from flags, the operator README, and
// the first signed commit (OpenPGP or SSH) of the git repository that holds them, and, when
// asked, the reconciler's own configuration trusting the signing key.
//
// It writes only into the target directory and the reconciler configuration path it is
// given, checks every input before writing anything, and never opens the network: the
// only machine facts it reads are the local addresses and this machine's own SSH host key
// (when the bootstrap node is this machine).
package seed
