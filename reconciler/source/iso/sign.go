package iso

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// SignManifest signs data with the private key in keyFile: an unencrypted OpenSSH private
// key (SSH signature, namespace "mk8s-iso") or an armored, unencrypted OpenPGP secret key.
func SignManifest(data []byte, keyFile string) ([]byte, error) {
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if bytes.Contains(key, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(key))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
		}
		if len(el) == 0 || el[0].PrivateKey == nil {
			return nil, fmt.Errorf("signing key %s: no OpenPGP secret key", keyFile)
		}
		var out bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&out, el[0], bytes.NewReader(data), nil); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
		}
		return out.Bytes(), nil
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: neither an armored OpenPGP secret key nor an unencrypted SSH private key: %w", keyFile, err)
	}
	sig, err := sshsig.Sign(bytes.NewReader(data), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	return sshsig.Armor(sig), nil
}
