// Package hostsynce2e holds the acceptance tests of host convergence (package
// hostsync) against real OpenSSH servers in network namespaces and a real systemd under
// systemd-nspawn, started by e2e/harness/hosts. They need root.
package hostsynce2e
