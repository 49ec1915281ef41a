// Package gitserver is test harness: real git servers on loopback with free ports, each
// serving the bare repositories under one root directory:
//
//   - StartDaemon: `git daemon` (git://);
//   - StartSSHD: OpenSSH sshd whose only command is git-shell (ssh://), run for root with
//     its own host key, authorized_keys and an empty /root in a private mount namespace,
//     so that root's shell init files are not read;
//   - StartHTTP: smart HTTP through git-http-backend under Go's net/http/cgi, with basic
//     or token auth, plain or TLS (with a CA file for the client).
//
// Every process is stopped by its PID (process group) at test cleanup. It must not be
// imported by product code.
package gitserver
