package verify

import (
	"fmt"
	"strings"
)

// Reason says why a commit was refused. The values are stable: tests, status and metrics
// use them.
type Reason string

const (
	ReasonUnsigned       Reason = "unsigned"           // no signature at all
	ReasonUntrustedKey   Reason = "untrusted-key"      // signed, but not by a trusted key
	ReasonBadSignature   Reason = "bad-signature"      // the signature does not match the commit
	ReasonExpiredKey     Reason = "expired-key"        // OpenPGP key or signature expired
	ReasonRevokedKey     Reason = "revoked-key"        // OpenPGP key revoked
	ReasonSignerNotValid Reason = "signer-not-valid"   // SSH signer outside valid-after/valid-before
	ReasonNamespace      Reason = "namespace"          // SSH signature or signer not for this namespace
	ReasonPrincipal      Reason = "principal-mismatch" // SSH signer not allowed for the committer email
	ReasonUnsupported    Reason = "unsupported"        // a signature format we do not verify (x509...)
	ReasonNotDescendant  Reason = "not-descendant"     // the new head does not descend from the last applied revision
)

// RefusedError is the one error type of a refused commit. Nothing was changed when it is
// returned. Its JSON tags are part of the API: reviews are read by tools, not only by Go.
type RefusedError struct {
	// Commit is the full hash of the refused commit.
	Commit string `json:"commit"`
	Reason Reason `json:"reason"`
	// Key identifies the key involved (OpenPGP key ID or fingerprint, SSH SHA256 fingerprint),
	// empty when there is none (an unsigned commit).
	Key string `json:"key,omitempty"`
	// Signer is the OpenPGP user ID or the SSH principal involved, when known.
	Signer string `json:"signer,omitempty"`
	// Detail says what exactly was wrong, in words.
	Detail string `json:"detail"`
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	what := e.Commit
	if len(e.Commit) == 40 && strings.Trim(e.Commit, "0123456789abcdef") == "" {
		what = "commit " + e.Commit
	}
	fmt.Fprintf(&b, "%s refused: %s", what, e.Reason)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	var who []string
	if e.Key != "" {
		who = append(who, "key "+e.Key)
	}
	if e.Signer != "" {
		who = append(who, "signer "+e.Signer)
	}
	if len(who) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(who, ", "))
	}
	return b.String()
}
