// Package hosts is the e2e harness for SSH hosts on one machine: N OpenSSH servers, each
// the PID 1 of its own network, mount, UTS and PID namespaces with copy-on-write
// /etc /var /root /opt /usr/local /srv overlays and private tmpfs /run and /tmp, wired to a
// bridge in a controller namespace; and hosts that boot a real systemd under
// systemd-nspawn, for tests that need units. The main namespace gets no lab address, only
// the guard route `unreachable 10.213.0.0/16`, added before anything else; lab addresses
// are dialed only from inside the controller namespace (Lab.Dial). Every process the
// harness starts is stopped by PID, and Close removes the namespaces and directories.
// Tests, benchmarks and the demo share it. It needs root.
package hosts
