// Package transport owns the SSH connection to one host: x/crypto/ssh with key auth, the
// host key checked against the key pinned in the site (trust on first use only when the
// caller asks for it explicitly), `sudo -n` when the node says so, keepalives and
// timeouts, and a shell-quoting function for every remote argument. It runs scripts; it
// knows nothing about what the scripts do (that is package resource) nor about sites.
package transport
