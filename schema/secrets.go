package schema

import (
	"bytes"
	"encoding/base64"
	"errors"
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

// encryptableKeys are keys that are not credentialKeys (clear text is fine there, no
// warning) but whose values may still be encrypted: they are decrypted like credentials,
// and plans mask them too.
var encryptableKeys = map[string]bool{"hash": true}

// credential is one credential field found in an override. clearTextOK says a clear
// value there is no reason to warn (an encryptableKeys field).
type credential struct {
	field       string
	value       string
	clearTextOK bool
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
				if s, ok := e.(string); ok && isCredentialKey(k, parentKey) {
					out = append(out, credential{field: fp, value: s, clearTextOK: !credentialKeys[k] && encryptableKeys[k]})
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

// isCredentialKey says whether a string under key k (in a map under parentKey) may be
// encrypted.
func isCredentialKey(k, parentKey string) bool {
	return credentialKeys[k] || encryptableKeys[k] || k == "api_url" && parentKey == "slack_configs"
}

// checkSecrets warns on credentials in clear text, refuses malformed encrypted values,
// and refuses encrypted values outside credential fields: the reconciler decrypts only
// those, the fields whose values plans mask.
func (l *loader) checkSecrets(dc *docCheck, override map[string]any) {
	creds := credentials(override["spec"], "spec")
	isCred := make(map[string]bool, len(creds))
	for _, c := range creds {
		isCred[c.field] = true
	}
	for _, field := range encryptedStrings(override["spec"], "spec") {
		if !isCred[field] && !dc.isBad(field) {
			dc.errorf(field, "encrypted values only in credential fields (password, api_key, webhook_url, clientSecret, bindPW, a Dex hash, …), whose values the reconciler decrypts and plans mask",
				"is encrypted but is not a credential field")
		}
	}
	for _, c := range creds {
		switch {
		case c.value == "" || dc.isBad(c.field) || c.clearTextOK && !strings.HasPrefix(c.value, "ENC["):
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

// MapCredentials returns a deep copy of a service override (the whole document:
// apiVersion, kind, spec) in which the value of every credential field under spec — the
// fields where validate accepts an encrypted value — is replaced by fn(field, value);
// field is the dotted path of the diagnostics (spec.…), which Source.LineOf locates.
// fn sees the fields sorted by path. The override itself is not modified. Every error
// of fn is returned, joined.
func MapCredentials(override map[string]any, fn func(field, value string) (string, error)) (map[string]any, error) {
	out, _ := cloneData(override).(map[string]any)
	if out == nil {
		return nil, nil
	}
	spec := out["spec"]
	replaced := map[string]string{}
	var errs []error
	for _, c := range credentials(spec, "spec") {
		v, err := fn(c.field, c.value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v != c.value {
			replaced[c.field] = v
		}
	}
	if len(replaced) > 0 {
		out["spec"] = replaceCredentials(spec, "spec", "", replaced)
	}
	return out, errors.Join(errs...)
}

// replaceCredentials sets the credential fields named in values, walking the tree as
// credentials does so that the paths agree. v is a private copy: it is changed in place.
func replaceCredentials(v any, path, parentKey string, values map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fp := joinPath(path, k)
			if _, ok := e.(string); ok && isCredentialKey(k, parentKey) {
				if nv, ok := values[fp]; ok {
					x[k] = nv
				}
				continue
			}
			x[k] = replaceCredentials(e, fp, k, values)
		}
	case []any:
		for i, e := range x {
			x[i] = replaceCredentials(e, fmt.Sprintf("%s[%d]", path, i), parentKey, values)
		}
	}
	return v
}

// encryptedStrings lists the paths of the string values of a data tree that look
// encrypted (ENC[…), whatever their key.
func encryptedStrings(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "ENC[") {
			out = append(out, path)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, encryptedStrings(e, joinPath(path, k))...)
		}
	case []any:
		for i, e := range x {
			out = append(out, encryptedStrings(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}
