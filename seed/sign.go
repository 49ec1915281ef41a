package seed

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// commitSigner signs the commit payload and says who it is. It satisfies go-git's
// Signer interface (Sign(io.Reader) ([]byte, error)).
type commitSigner interface {
	Sign(message io.Reader) ([]byte, error)
	info() Signer
	// author is the default commit author the key suggests ("" when it has none).
	author() (name, email string)
}

// loadSigner reads a private key file and detects its format: OpenPGP (armored or
// binary) or OpenSSH (any PEM private key ssh.ParsePrivateKey understands).
func loadSigner(path string, passphrase []byte, when time.Time) (commitSigner, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	text := string(data)
	switch {
	case strings.Contains(text, "-----BEGIN PGP PRIVATE KEY BLOCK-----"):
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: not a readable OpenPGP private key: %w", path, err)
		}
		return newPGPSigner(path, el, passphrase, when)
	case strings.Contains(text, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
		return nil, fmt.Errorf("signing key %s: is an OpenPGP public key; the private key is needed (gpg --armor --export-secret-keys)", path)
	case strings.Contains(text, "PRIVATE KEY-----"):
		var key any
		if len(passphrase) > 0 {
			key, err = ssh.ParseRawPrivateKeyWithPassphrase(data, passphrase)
		} else {
			key, err = ssh.ParseRawPrivateKey(data)
		}
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("signing key %s: is protected by a passphrase; give --signing-key-passphrase-file", path)
		}
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("signing key %s: wrong passphrase", path)
		}
		if err != nil {
			return nil, fmt.Errorf("signing key %s: not a readable SSH private key: %w", path, err)
		}
		s, err := ssh.NewSignerFromKey(key)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		return &sshSigner{signer: s, comment: sshKeyComment(path)}, nil
	case strings.HasPrefix(text, "ssh-") || strings.HasPrefix(text, "ecdsa-"):
		return nil, fmt.Errorf("signing key %s: is an SSH public key; the private key is needed", path)
	}
	// Binary OpenPGP (gpg --export-secret-keys without --armor).
	if el, err := openpgp.ReadKeyRing(bytes.NewReader(data)); err == nil && len(el) > 0 {
		return newPGPSigner(path, el, passphrase, when)
	}
	return nil, fmt.Errorf("signing key %s: neither an OpenPGP nor an OpenSSH private key", path)
}

type pgpSigner struct {
	entity *openpgp.Entity
	config *packet.Config
}

func newPGPSigner(path string, el openpgp.EntityList, passphrase []byte, when time.Time) (*pgpSigner, error) {
	var e *openpgp.Entity
	for _, c := range el {
		if c.PrivateKey != nil {
			e = c
			break
		}
	}
	if e == nil {
		return nil, fmt.Errorf("signing key %s: holds no OpenPGP private key", path)
	}
	if encrypted(e) {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("signing key %s: is protected by a passphrase; give --signing-key-passphrase-file", path)
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("signing key %s: wrong passphrase (%w)", path, err)
		}
	}
	// The signature is made at the commit time, so that the same inputs give the same
	// signature packet.
	cfg := &packet.Config{Time: func() time.Time { return when }}
	if _, ok := e.SigningKey(when); !ok {
		return nil, fmt.Errorf("signing key %s: has no valid signing (sub)key at %s", path, when.Format(time.RFC3339))
	}
	return &pgpSigner{entity: e, config: cfg}, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

func (s *pgpSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.entity, message, s.config); err != nil {
		return nil, fmt.Errorf("OpenPGP signature: %w", err)
	}
	return b.Bytes(), nil
}

func (s *pgpSigner) primaryIdentity() string {
	if id := s.entity.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return ""
}

func (s *pgpSigner) info() Signer {
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err == nil {
		err = s.entity.Serialize(w)
		_ = w.Close()
	}
	out := Signer{Format: "openpgp", Fingerprint: fmt.Sprintf("%X", s.entity.PrimaryKey.Fingerprint),
		Identity: s.primaryIdentity()}
	if err == nil {
		out.PublicKey = pub.String() + "\n"
	}
	return out
}

func (s *pgpSigner) author() (string, string) {
	id := s.primaryIdentity()
	if a, err := mail.ParseAddress(id); err == nil {
		return a.Name, a.Address
	}
	return "", ""
}

type sshSigner struct {
	signer  ssh.Signer
	comment string
}

// Sign makes the signature `git commit -S` makes with gpg.format=ssh: an SSHSIG over the
// commit payload, namespace "git", SHA-512, armored.
func (s *sshSigner) Sign(message io.Reader) ([]byte, error) {
	sig, err := sshsig.Sign(message, s.signer, sshsig.HashSHA512, "git")
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	return sshsig.Armor(sig), nil
}

func (s *sshSigner) info() Signer {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.signer.PublicKey())))
	if s.comment != "" {
		line += " " + s.comment
	}
	return Signer{Format: "ssh", Fingerprint: ssh.FingerprintSHA256(s.signer.PublicKey()),
		Identity: s.comment, PublicKey: line}
}

func (s *sshSigner) author() (string, string) {
	if a, err := mail.ParseAddress(s.comment); err == nil {
		name := a.Name
		if name == "" {
			name, _, _ = strings.Cut(a.Address, "@")
		}
		return name, a.Address
	}
	return "", ""
}

// sshKeyComment reads the comment of KEY.pub next to the private key, if there is one.
func sshKeyComment(path string) string {
	data, err := os.ReadFile(path + ".pub")
	if err != nil {
		return ""
	}
	_, comment, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return ""
	}
	return comment
}
