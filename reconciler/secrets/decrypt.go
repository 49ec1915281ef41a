package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/metalk8s/mk8s/schema"
)

// maxPlaintext bounds a decrypted credential: a value that large is not a credential,
// and an unbounded read would let a site exhaust the reconciler's memory.
const maxPlaintext = 1 << 20

// Decrypt returns the plaintext of an ENC[AGE,…] value. The error says what is wrong
// in words only (never the value, never the plaintext).
func (ids *Identities) Decrypt(value string) (string, error) {
	payload, err := schema.ParseEncrypted(value)
	if err != nil {
		return "", errors.New("malformed encrypted value")
	}
	if ids == nil || len(ids.ids) == 0 {
		return "", errors.New("no age identity")
	}
	r, err := age.Decrypt(bytes.NewReader(payload), ids.ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return "", fmt.Errorf("not encrypted to the reconciler's age identity%s", ids.from())
		}
		return "", fmt.Errorf("corrupt age payload (header)")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPlaintext+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("corrupt age payload (body)")
	case len(b) > maxPlaintext:
		return "", fmt.Errorf("decrypted value is larger than %d bytes", maxPlaintext)
	case !utf8.Valid(b):
		return "", fmt.Errorf("decrypted value is not UTF-8 text")
	}
	return string(b), nil
}

func (ids *Identities) from() string {
	if ids.File == "" {
		return ""
	}
	return " (" + ids.File + ")"
}
