package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func sign(t *testing.T, s ssh.Signer, payload []byte, ns string) []byte {
	t.Helper()
	sig, err := sshsig.Sign(bytes.NewReader(payload), s, sshsig.HashSHA512, ns)
	if err != nil {
		t.Fatal(err)
	}
	return sshsig.Armor(sig)
}

func trustOf(t *testing.T, lines ...string) *Trust {
	t.Helper()
	signers, err := ParseAllowedSigners([]byte(strings.Join(lines, "\n")), "allowed_signers")
	if err != nil {
		t.Fatal(err)
	}
	return NewTrust(nil, signers, nil)
}

func reasonOf(err error) Reason {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// git's allowed_signers semantics: principals (patterns, negation) against the committer
// email, namespaces, valid-after/valid-before against the commit time.
func TestAllowedSignersSemantics(t *testing.T) {
	key, pub := newKey(t)
	payload := []byte("tree 0000\n\nmessage\n")
	sig := sign(t, key, payload, "git")
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		line, email string
		when        time.Time
		want        Reason
	}{
		{"ops@example.invalid " + pub, "ops@example.invalid", now, ""},
		{`"ops@example.invalid,dev@example.invalid" ` + pub, "dev@example.invalid", now, ""},
		{"*@example.invalid " + pub, "anyone@example.invalid", now, ""},
		{"*@example.invalid,!evil@example.invalid " + pub, "evil@example.invalid", now, ReasonPrincipal},
		{"ops@example.invalid " + pub, "someone@else.invalid", now, ReasonPrincipal},
		{`ops@example.invalid namespaces="file" ` + pub, "ops@example.invalid", now, ReasonNamespace},
		{`ops@example.invalid namespaces="file,git" ` + pub, "ops@example.invalid", now, ""},
		{`ops@example.invalid valid-after="20270101" ` + pub, "ops@example.invalid", now, ReasonSignerNotValid},
		{`ops@example.invalid valid-before="20260601120000Z" ` + pub, "ops@example.invalid", now, ReasonSignerNotValid},
		{`ops@example.invalid valid-after="20260101Z",valid-before="20270101Z" ` + pub, "ops@example.invalid", now, ""},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tr := trustOf(t, "# comment", "", c.line)
			_, err := tr.Check(SignatureCheck{Object: "c", Payload: payload, Signature: sig, Namespace: "git", Principal: c.email, When: c.when})
			if got := reasonOf(err); got != c.want {
				t.Fatalf("%s as %s: got %q (%v), want %q", c.line, c.email, got, err, c.want)
			}
		})
	}
	// A signature made for another namespace never counts for commits.
	other := sign(t, key, payload, "file")
	_, err := trustOf(t, "ops@example.invalid "+pub).Check(SignatureCheck{Object: "c", Payload: payload, Signature: other, Namespace: "git", Principal: "ops@example.invalid", When: now})
	if reasonOf(err) != ReasonNamespace {
		t.Fatalf("file-namespace signature: %v", err)
	}
}

// cert-authority: a user certificate issued by the CA, for the committer, is accepted.
func TestAllowedSignersCertAuthority(t *testing.T) {
	ca, caPub := newKey(t)
	user, _ := newKey(t)
	cert := &ssh.Certificate{Key: user.PublicKey(), CertType: ssh.UserCert, KeyId: "ops",
		ValidPrincipals: []string{"ops@example.invalid"}, ValidAfter: 0, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certSigner, err := ssh.NewCertSigner(cert, user)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("commit payload")
	sig := sign(t, certSigner, payload, "git")
	check := SignatureCheck{Object: "c", Payload: payload, Signature: sig, Namespace: "git", Principal: "ops@example.invalid", When: time.Now()}
	if _, err := trustOf(t, "*@example.invalid cert-authority "+caPub).Check(check); err != nil {
		t.Fatalf("certificate by the CA: %v", err)
	}
	// Without cert-authority, the CA key itself does not vouch for certificates.
	if _, err := trustOf(t, "*@example.invalid "+caPub).Check(check); reasonOf(err) != ReasonUntrustedKey {
		t.Fatalf("CA line without cert-authority: %v", err)
	}
	check.Principal = "other@example.invalid"
	if _, err := trustOf(t, "*@example.invalid cert-authority "+caPub).Check(check); reasonOf(err) != ReasonPrincipal {
		t.Fatalf("certificate for another principal: %v", err)
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	_, pub := newKey(t)
	for _, line := range []string{
		"ops@example.invalid",
		"ops@example.invalid bogus-option " + pub,
		`ops@example.invalid valid-after="tomorrow" ` + pub,
		"ops@example.invalid ssh-ed25519 !!notbase64",
	} {
		if _, err := ParseAllowedSigners([]byte("\n"+line+"\n"), "as"); err == nil || !strings.HasPrefix(err.Error(), "as:2: ") {
			t.Errorf("%q: want an error at as:2, got %v", line, err)
		}
	}
}

func TestUnsignedAndUnsupported(t *testing.T) {
	tr := trustOf(t)
	if _, err := tr.Check(SignatureCheck{Object: "c"}); reasonOf(err) != ReasonUnsigned {
		t.Fatal(err)
	}
	_, err := tr.Check(SignatureCheck{Object: "c", Signature: []byte("-----BEGIN SIGNED MESSAGE-----\nx509")})
	if reasonOf(err) != ReasonUnsupported {
		t.Fatal(err)
	}
}
