package verify

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Trust is the set of keys the operator trusts. Build it with LoadTrust.
type Trust struct {
	keyring openpgp.EntityList
	signers []AllowedSigner
	now     func() time.Time
}

// TrustOptions names the files trust is read from.
type TrustOptions struct {
	// OpenPGPKeyFiles are armored public key files; each may hold several keys.
	OpenPGPKeyFiles []string
	// AllowedSignersFile is an OpenSSH allowed_signers file; empty for none.
	AllowedSignersFile string
	// Now is the clock OpenPGP key expiry and revocation are judged against; time.Now when nil.
	Now func() time.Time
}

// LoadTrust reads the trusted keys. A file that cannot be read or parsed is an error:
// verification configured but unavailable must fail closed.
func LoadTrust(opts TrustOptions) (*Trust, error) {
	t := &Trust{now: opts.Now}
	if t.now == nil {
		t.now = time.Now
	}
	for _, f := range opts.OpenPGPKeyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted OpenPGP key %s: %w", f, err)
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("trusted OpenPGP key %s: %w", f, err)
		}
		t.keyring = append(t.keyring, el...)
	}
	if opts.AllowedSignersFile != "" {
		data, err := os.ReadFile(opts.AllowedSignersFile)
		if err != nil {
			return nil, fmt.Errorf("allowed signers: %w", err)
		}
		s, err := ParseAllowedSigners(data, opts.AllowedSignersFile)
		if err != nil {
			return nil, fmt.Errorf("allowed signers: %w", err)
		}
		t.signers = s
	}
	if len(t.keyring) == 0 && len(t.signers) == 0 {
		return nil, errors.New("no trusted key: configure OpenPGP keys or an allowed_signers file")
	}
	return t, nil
}

// NewTrust builds a Trust from parsed keys; for callers that already hold them.
func NewTrust(keyring openpgp.EntityList, signers []AllowedSigner, now func() time.Time) *Trust {
	if now == nil {
		now = time.Now
	}
	return &Trust{keyring: keyring, signers: signers, now: now}
}
