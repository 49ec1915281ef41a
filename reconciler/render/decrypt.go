package render

import (
	"errors"
	"strings"

	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// DecryptFunc returns the plaintext of an encrypted credential (ENC[AGE,…], see
// schema.ParseEncrypted). It must be deterministic, and its error must not quote the
// value or the plaintext: it ends up in diagnostics.
type DecryptFunc func(value string) (string, error)

// NoIdentityHint says how to give the reconciler an age identity.
const NoIdentityHint = "give the reconciler its age identity: secrets.ageIdentityFile in /etc/mk8s/reconciler.yaml (mk8s run), or --age-identity FILE (mk8s plan, mk8s reconcile)"

// SecretsError lists the encrypted credentials of a site that could not be decrypted,
// one diagnostic each (file, line, field; never the value). Nothing was rendered.
type SecretsError struct{ List diag.List }

func (e *SecretsError) Error() string {
	lines := make([]string, len(e.List))
	for i, d := range e.List {
		lines[i] = d.String()
	}
	return "encrypted credentials cannot be decrypted; nothing was changed:\n" + strings.Join(lines, "\n")
}

// Diagnostics are the errors, for the reconciler's Result.Diagnostics.
func (e *SecretsError) Diagnostics() diag.List { return e.List }

// decryptSite returns a shallow copy of the site whose service overrides hold the
// plaintext of their encrypted credentials, so that the ConfigMaps and the effective
// configuration (and its digest) depend on the secrets, not on their ciphertexts: the
// same secret encrypted again renders the same bytes. The site given is not modified.
func decryptSite(site *schema.Site, decrypt DecryptFunc) (*schema.Site, error) {
	var diags diag.List
	services := make([]schema.ServiceConfig, len(site.Services))
	for i, svc := range site.Services {
		services[i] = svc
		if len(svc.Override) == 0 {
			continue
		}
		out, err := schema.MapCredentials(svc.Override, func(field, value string) (string, error) {
			if !schema.IsEncrypted(value) {
				return value, nil
			}
			line := svc.Source.LineOf(field)
			if decrypt == nil {
				diags.Errorf(svc.Source.File, line, field, NoIdentityHint,
					"is encrypted but the reconciler has no age identity")
				return "", errNotDecrypted
			}
			plain, err := decrypt(value)
			if err != nil {
				diags.Errorf(svc.Source.File, line, field,
					"a value encrypted (age -r) to the public key of the reconciler's identity",
					"cannot be decrypted: %v", err)
				return "", errNotDecrypted
			}
			return plain, nil
		})
		if err != nil {
			continue
		}
		services[i].Override = out
	}
	if len(diags) > 0 {
		return nil, &SecretsError{List: diags.Sort()}
	}
	c := *site
	c.Services = services
	return &c, nil
}

// errNotDecrypted stops MapCredentials for a value already reported as a diagnostic.
var errNotDecrypted = errors.New("not decrypted")
