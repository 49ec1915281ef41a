package schema

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Encrypted values. A credential field of a service override (Alertmanager receiver
// passwords and API URLs, Dex client secrets, …) may hold
//
//	ENC[AGE,<base64 of an age-encrypted payload>]
//
// — the binary age format (it starts with "age-encryption.org/v1"), base64-encoded
// on one line, in the spirit of SOPS's ENC[…] values. Only the reconciler, holding the
// age identity, decrypts it; validate only checks the form, and warns on clear text.
const (
	EncryptedPrefix = "ENC[AGE,"
	encryptedSuffix = "]"
	ageHeader       = "age-encryption.org/v1\n"
)

// IsEncrypted reports whether s has the form of an encrypted value (ENC[AGE,…]).
func IsEncrypted(s string) bool {
	return strings.HasPrefix(s, EncryptedPrefix) && strings.HasSuffix(s, encryptedSuffix)
}

// ParseEncrypted returns the age payload of an encrypted value.
func ParseEncrypted(s string) ([]byte, error) {
	if !IsEncrypted(s) {
		return nil, fmt.Errorf("not of the form %s…%s", EncryptedPrefix, encryptedSuffix)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(s, EncryptedPrefix), encryptedSuffix)
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(body)
	}
	if err != nil {
		return nil, fmt.Errorf("payload is not base64: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(ageHeader)) {
		return nil, fmt.Errorf("payload is not an age-encrypted file (no %q header)", strings.TrimSpace(ageHeader))
	}
	return b, nil
}

// credentialKeys are the keys, anywhere in a service override, whose values are
// credentials (Alertmanager receivers, Dex clients and connectors). A Dex static
// password `hash` is not one: it is a one-way bcrypt hash, which MetalK8s itself keeps
// in the ConfigMap, so warning about it would only teach operators to ignore warnings.
var credentialKeys = map[string]bool{
	"auth_password": true, "auth_secret": true, "password": true, "bearer_token": true,
	"api_key": true, "api_secret": true, "bot_token": true, "service_key": true,
	"routing_key": true, "secret_key": true, "token": true, "user_key": true,
	"slack_api_url": true, "webhook_url": true, "secret": true,
	"clientSecret": true, "client_secret": true, "bindPW": true,
}

// credential is one credential field found in an override.
type credential struct {
	field string
	value string
}

// credentials lists the credential fields of a data tree, sorted by field path.
func credentials(v any, path string) []credential {
	var out []credential
	var walk func(v any, path string, parentList string)
	walk = func(v any, path string, parentKey string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				fp := joinPath(path, k)
				if s, ok := e.(string); ok && (credentialKeys[k] || k == "api_url" && parentKey == "slack_configs") {
					out = append(out, credential{field: fp, value: s})
					continue
				}
				walk(e, fp, k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i), parentKey)
			}
		}
	}
	walk(v, path, "")
	sort.Slice(out, func(i, j int) bool { return out[i].field < out[j].field })
	return out
}

// checkSecrets warns on credentials in clear text and refuses malformed encrypted values.
func (l *loader) checkSecrets(dc *docCheck, override map[string]any) {
	for _, c := range credentials(override["spec"], "spec") {
		switch {
		case c.value == "" || dc.isBad(c.field):
		case strings.HasPrefix(c.value, "ENC["):
			if _, err := ParseEncrypted(c.value); err != nil {
				dc.errorf(c.field, "expected "+EncryptedPrefix+"<base64 age payload>]", "malformed encrypted value: %v", err)
			}
		default:
			l.diags.Warnf(dc.doc.File, dc.doc.Source.LineOf(c.field), c.field,
				"encrypt it as "+EncryptedPrefix+"…] (age, SOPS-style) so that only the reconciler can read it",
				"credential in clear text")
		}
	}
}
