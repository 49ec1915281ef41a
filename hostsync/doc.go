// Package hostsync owns host convergence over SSH: the transport (x/crypto/ssh with pinned
// host keys, sudo, quoted arguments, one connection per host), host state as typed
// resources that probe, diff and apply themselves (files, directories, symlinks, systemd
// units, packages, sysctl, kernel modules, static pods), the mapping from node roles to
// desired host state, and the ordered, bounded orchestration across hosts. Plan and apply
// share one code path. It never talks to the Kubernetes API.
package hostsync
