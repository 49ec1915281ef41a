package verify

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signed describes a good signature by a trusted key.
type Signed struct {
	// Format is "openpgp" or "ssh".
	Format string `json:"format"`
	// Key is the OpenPGP fingerprint or the SSH SHA256 fingerprint of the signing key.
	Key string `json:"key"`
	// Signer is the OpenPGP primary user ID, or the allowed_signers principal that matched.
	Signer string `json:"signer"`
}

// SignatureCheck is what to check one detached signature against.
type SignatureCheck struct {
	// Object names the signed object in errors (a commit hash, a file name).
	Object string
	// Payload is the signed bytes; Signature the armored signature.
	Payload, Signature []byte
	// Namespace is the SSH signature namespace required ("git" for commits).
	Namespace string
	// Principal is matched against allowed_signers principals; empty skips the match
	// (files signed for an ISO have no committer).
	Principal string
	// When is the time valid-after/valid-before are judged against (the commit time).
	When time.Time
}

const (
	pgpArmor = "-----BEGIN PGP SIGNATURE-----"
	sshArmor = "-----BEGIN SSH SIGNATURE-----"
)

// Check verifies one detached armored signature (OpenPGP or SSH) and returns who signed, or
// a *RefusedError.
func (t *Trust) Check(c SignatureCheck) (Signed, error) {
	sig := bytes.TrimSpace(c.Signature)
	switch {
	case len(sig) == 0:
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonUnsigned, Detail: "no signature"}
	case bytes.HasPrefix(sig, []byte(pgpArmor)):
		return t.checkOpenPGP(c)
	case bytes.HasPrefix(sig, []byte(sshArmor)):
		return t.checkSSH(c)
	default:
		first, _, _ := strings.Cut(string(sig), "\n")
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonUnsupported,
			Detail: fmt.Sprintf("signature format %q is not verified; OpenPGP and SSH signatures are", first)}
	}
}

func (t *Trust) checkOpenPGP(c SignatureCheck) (Signed, error) {
	issuer := pgpIssuer(c.Signature)
	if len(t.keyring) == 0 {
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonUntrustedKey, Key: issuer,
			Detail: "OpenPGP signature, but no OpenPGP key is trusted"}
	}
	cfg := &packet.Config{Time: t.now}
	entity, err := openpgp.CheckArmoredDetachedSignature(t.keyring, bytes.NewReader(c.Payload), bytes.NewReader(c.Signature), cfg)
	signer := ""
	key := issuer
	if entity != nil {
		key = strings.ToUpper(fmt.Sprintf("%x", entity.PrimaryKey.Fingerprint))
		if id := entity.PrimaryIdentity(); id != nil {
			signer = id.Name
		}
	}
	if err == nil {
		// go-crypto checks the primary key's revocation; a revoked entity never counts.
		if entity.Revoked(t.now()) {
			return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonRevokedKey, Key: key, Signer: signer, Detail: "the OpenPGP key is revoked"}
		}
		return Signed{Format: "openpgp", Key: key, Signer: signer}, nil
	}
	r := &RefusedError{Commit: c.Object, Key: key, Signer: signer}
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		r.Reason, r.Detail = ReasonUntrustedKey, "OpenPGP signature by a key that is not trusted"
	case errors.Is(err, pgperrors.ErrKeyExpired):
		r.Reason, r.Detail = ReasonExpiredKey, "the OpenPGP key has expired"
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		r.Reason, r.Detail = ReasonExpiredKey, "the OpenPGP signature has expired"
		// go-crypto reports a signature made after now as expired too.
		if created := pgpCreated(c.Signature); created.After(t.now()) {
			r.Detail = fmt.Sprintf("the OpenPGP signature is dated %s, in the future (check the signer's clock)",
				created.UTC().Format(time.RFC3339))
		}
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		r.Reason, r.Detail = ReasonRevokedKey, "the OpenPGP key is revoked"
	default:
		r.Reason, r.Detail = ReasonBadSignature, "OpenPGP signature does not match the signed data: "+err.Error()
	}
	return Signed{}, r
}

// pgpCreated returns the creation time of an armored signature; zero when it cannot be read.
func pgpCreated(armored []byte) time.Time {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return time.Time{}
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return time.Time{}
	}
	if sig, ok := p.(*packet.Signature); ok {
		return sig.CreationTime
	}
	return time.Time{}
}

// pgpIssuer returns the issuer fingerprint (or key ID) of an armored signature, for
// messages; empty when it cannot be read.
func pgpIssuer(armored []byte) string {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return ""
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return ""
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return ""
	}
	if len(sig.IssuerFingerprint) > 0 {
		return strings.ToUpper(fmt.Sprintf("%x", sig.IssuerFingerprint))
	}
	if sig.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return ""
}

func (t *Trust) checkSSH(c SignatureCheck) (Signed, error) {
	sig, err := sshsig.Unarmor(c.Signature)
	if err != nil {
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonBadSignature, Detail: "malformed SSH signature: " + err.Error()}
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != c.Namespace {
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonNamespace, Key: fp,
			Detail: fmt.Sprintf("SSH signature namespace is %q; %q is required", sig.Namespace, c.Namespace)}
	}
	var candidates []AllowedSigner
	for _, s := range t.signers {
		if s.keyMatches(sig.PublicKey) {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) == 0 {
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonUntrustedKey, Key: fp,
			Detail: "SSH signature by a key that is not in allowed_signers"}
	}
	if err := sshsig.Verify(bytes.NewReader(c.Payload), sig, sig.PublicKey, sig.HashAlgorithm, c.Namespace); err != nil {
		return Signed{}, &RefusedError{Commit: c.Object, Reason: ReasonBadSignature, Key: fp,
			Detail: "SSH signature does not match the signed data: " + err.Error()}
	}
	// Every entry for this key is a chance; report the refusal of the first one when
	// none accepts.
	var first *RefusedError
	for _, s := range candidates {
		principal, refusal := s.accepts(sig.PublicKey, c)
		if refusal == nil {
			return Signed{Format: "ssh", Key: fp, Signer: principal}, nil
		}
		refusal.Commit, refusal.Key = c.Object, fp
		if first == nil {
			first = refusal
		}
	}
	return Signed{}, first
}

// accepts applies git's allowed_signers rules to one entry whose key matched.
func (s AllowedSigner) accepts(pub ssh.PublicKey, c SignatureCheck) (string, *RefusedError) {
	where := fmt.Sprintf("%s:%d", s.File, s.Line)
	signer := strings.Join(s.Principals, ",")
	principal := c.Principal
	if principal != "" && !matchPatternList(principal, s.Principals) {
		return "", &RefusedError{Reason: ReasonPrincipal, Signer: signer,
			Detail: fmt.Sprintf("committer %q is not among the principals of %s", principal, where)}
	}
	if principal == "" {
		principal = signer
	}
	if s.Namespaces != nil && !matchPatternList(c.Namespace, s.Namespaces) {
		return "", &RefusedError{Reason: ReasonNamespace, Signer: principal,
			Detail: fmt.Sprintf("%s allows namespaces %q, not %q", where, strings.Join(s.Namespaces, ","), c.Namespace)}
	}
	when := c.When
	if !s.ValidAfter.IsZero() && when.Before(s.ValidAfter) {
		return "", &RefusedError{Reason: ReasonSignerNotValid, Signer: principal,
			Detail: fmt.Sprintf("signed at %s, before valid-after %s of %s", when.UTC().Format(time.RFC3339), s.ValidAfter.UTC().Format(time.RFC3339), where)}
	}
	if !s.ValidBefore.IsZero() && !when.Before(s.ValidBefore) {
		return "", &RefusedError{Reason: ReasonSignerNotValid, Signer: principal,
			Detail: fmt.Sprintf("signed at %s, not before valid-before %s of %s", when.UTC().Format(time.RFC3339), s.ValidBefore.UTC().Format(time.RFC3339), where)}
	}
	if cert, ok := pub.(*ssh.Certificate); ok && s.CertAuthority {
		unix := uint64(when.Unix())
		if unix < cert.ValidAfter || (cert.ValidBefore != ssh.CertTimeInfinity && unix >= cert.ValidBefore) {
			return "", &RefusedError{Reason: ReasonSignerNotValid, Signer: principal,
				Detail: "the SSH certificate was not valid at the commit time"}
		}
		if c.Principal != "" && len(cert.ValidPrincipals) > 0 && !matchPatternList(c.Principal, cert.ValidPrincipals) {
			return "", &RefusedError{Reason: ReasonPrincipal, Signer: strings.Join(cert.ValidPrincipals, ","),
				Detail: fmt.Sprintf("committer %q is not a principal of the SSH certificate", c.Principal)}
		}
	}
	return principal, nil
}
