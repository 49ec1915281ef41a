package secrets

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"filippo.io/age"

	"github.com/metalk8s/mk8s/schema"
)

// Encrypt returns plaintext as an ENC[AGE,…] value that only the holders of the
// recipients' identities can decrypt: the binary age file, base64 on one line, as
// `printf %s … | age -r age1… -o - | base64 -w0` makes it.
func Encrypt(plaintext string, recipients ...age.Recipient) (string, error) {
	var b bytes.Buffer
	w, err := age.Encrypt(&b, recipients...)
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write([]byte(plaintext)); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	return schema.EncryptedPrefix + base64.StdEncoding.EncodeToString(b.Bytes()) + "]", nil
}
