package render

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/secrets"
	"github.com/metalk8s/mk8s/schema"
)

func ageEncrypt(t *testing.T, r age.Recipient, plaintext string) string {
	t.Helper()
	v, err := secrets.Encrypt(plaintext, r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const passwordField = "spec.notification.config.receivers[0].webhook_configs[0].http_config.basic_auth.password"

// encryptedSite is testSite with an Alertmanager override whose receiver password is
// the value given, at line 17 of services/alertmanager.yaml.
func encryptedSite(password string) *schema.Site {
	site := testSite()
	override := map[string]any{"apiVersion": "addons.metalk8s.scality.com", "kind": "AlertmanagerConfig",
		"spec": map[string]any{"notification": map[string]any{"config": map[string]any{
			"receivers": []any{map[string]any{"name": "ops", "webhook_configs": []any{map[string]any{
				"url": "https://hooks.example.invalid/a",
				"http_config": map[string]any{"basic_auth": map[string]any{
					"username": "ops", "password": password}}}}}}}}}}
	site.Services = append([]schema.ServiceConfig{{Kind: "AlertmanagerConfig", APIVersion: "addons.metalk8s.scality.com",
		Source:   schema.Source{File: "services/alertmanager.yaml", Line: 1, Fields: map[string]int{passwordField: 17}},
		Override: override}}, site.Services...)
	return site
}

func alertmanagerCM(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == "metalk8s-alertmanager-config" {
			return o
		}
	}
	t.Fatal("no Alertmanager ConfigMap")
	return nil
}

// The plaintext of an encrypted credential is what the ConfigMap and the annotated
// digest carry, so that encrypting the same secret again renders the same bytes.
func TestRenderDecryptsEncryptedCredentials(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ids := secrets.NewIdentities(id)
	const secret = "s3cret-receiver-password"
	render := func(site *schema.Site) ([]*unstructured.Unstructured, []byte) {
		objs, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective, Decrypt: ids.Decrypt})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(objs)
		if err != nil {
			t.Fatal(err)
		}
		return objs, b
	}
	enc1 := ageEncrypt(t, id.Recipient(), secret)
	site := encryptedSite(enc1)
	objs, b1 := render(site)
	cfg, _, _ := unstructured.NestedString(alertmanagerCM(t, objs).Object, "data", ServiceConfigKey)
	if !strings.Contains(cfg, "password: "+secret) || strings.Contains(cfg, "ENC[") {
		t.Fatalf("config.yaml does not hold the plaintext:\n%s", cfg)
	}
	if got := site.Services[0].Override["spec"].(map[string]any)["notification"].(map[string]any)["config"].(map[string]any)["receivers"].([]any)[0].(map[string]any)["webhook_configs"].([]any)[0].(map[string]any)["http_config"].(map[string]any)["basic_auth"].(map[string]any)["password"]; got != enc1 {
		t.Fatal("render modified the site it was given")
	}
	enc2 := ageEncrypt(t, id.Recipient(), secret)
	if enc1 == enc2 {
		t.Fatal("age gave the same ciphertext twice")
	}
	if _, b2 := render(encryptedSite(enc2)); !bytes.Equal(b1, b2) {
		t.Fatal("re-encrypting the same secret changed the rendered objects")
	}
	_, b3 := render(encryptedSite(ageEncrypt(t, id.Recipient(), secret+"-rotated")))
	if bytes.Equal(b1, b3) {
		t.Fatal("a new secret rendered the same objects")
	}
}

// Without an identity, or with one the value was not encrypted to, nothing renders and
// the error names file, line and field, never the ciphertext or the plaintext.
func TestRenderRefusesUndecryptableCredentials(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	const secret = "s3cret-receiver-password"
	enc := ageEncrypt(t, id.Recipient(), secret)
	payload := strings.TrimSuffix(strings.TrimPrefix(enc, "ENC[AGE,"), "]")
	for _, tc := range []struct {
		name    string
		decrypt DecryptFunc
		want    string
	}{
		{"no identity", nil, "services/alertmanager.yaml:17: " + passwordField +
			": is encrypted but the reconciler has no age identity; give the reconciler its age identity: secrets.ageIdentityFile in /etc/mk8s/reconciler.yaml (mk8s run), or --age-identity FILE"},
		{"wrong identity", secrets.NewIdentities(other).Decrypt, "services/alertmanager.yaml:17: " + passwordField +
			": cannot be decrypted: not encrypted to the reconciler's age identity; a value encrypted (age -r) to the public key of the reconciler's identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Objects(encryptedSite(enc), Options{SiteName: "test", EffectiveConfig: fakeEffective, Decrypt: tc.decrypt})
			var se *SecretsError
			if objs != nil || !errors.As(err, &se) || len(se.List) != 1 {
				t.Fatalf("objects %d, error %v", len(objs), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), payload[:20]) {
				t.Fatalf("error quotes the secret or its ciphertext: %v", err)
			}
		})
	}
}

// mk8s validate renders too (render.Check), without an identity: an encrypted value is
// no reason to refuse a site there.
func TestCheckDoesNotNeedAnIdentity(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	site := encryptedSite(ageEncrypt(t, id.Recipient(), "x"))
	for _, d := range Check(site) {
		if strings.Contains(d.String(), "age") {
			t.Fatalf("validate needs an identity: %s", d)
		}
	}
}
