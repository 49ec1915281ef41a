// Package signing is test harness: it makes real keys with the real tools (gpg
// --quick-gen-key, ssh-keygen) and real signed commits with the real git CLI, so that the
// source's verification is tested against what users produce. Every GNUPGHOME is short
// (under /tmp, for the agent socket) and its gpg-agent is killed at cleanup.
//
// It must not be imported by product code.
package signing
