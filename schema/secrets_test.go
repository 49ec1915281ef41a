package schema_test

import (
	"reflect"
	"testing"

	"github.com/metalk8s/mk8s/schema"
)

// MapCredentials visits exactly the fields where validate accepts an encrypted value
// (credentials, a Dex hash, a Slack api_url), and returns a copy with the new values,
// leaving the override it was given as it was.
func TestMapCredentials(t *testing.T) {
	override := map[string]any{"apiVersion": "v", "kind": "DexConfig", "spec": map[string]any{"config": map[string]any{
		"staticPasswords": []any{map[string]any{"email": "a@example.invalid", "hash": "H"}},
		"connectors":      []any{map[string]any{"config": map[string]any{"clientSecret": "S", "clientID": "id"}}},
		"slack_configs":   []any{map[string]any{"api_url": "U", "channel": "c"}},
		"url":             "not-a-credential",
	}}}
	var seen []string
	out, err := schema.MapCredentials(override, func(field, value string) (string, error) {
		seen = append(seen, field+"="+value)
		return "plain-" + value, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"spec.config.connectors[0].config.clientSecret=S", "spec.config.slack_configs[0].api_url=U",
		"spec.config.staticPasswords[0].hash=H"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("visited %v, want %v", seen, want)
	}
	cfg := out["spec"].(map[string]any)["config"].(map[string]any)
	if cfg["connectors"].([]any)[0].(map[string]any)["config"].(map[string]any)["clientSecret"] != "plain-S" ||
		cfg["staticPasswords"].([]any)[0].(map[string]any)["hash"] != "plain-H" ||
		cfg["slack_configs"].([]any)[0].(map[string]any)["api_url"] != "plain-U" || cfg["url"] != "not-a-credential" {
		t.Fatalf("copy: %v", cfg)
	}
	if override["spec"].(map[string]any)["config"].(map[string]any)["staticPasswords"].([]any)[0].(map[string]any)["hash"] != "H" {
		t.Fatal("the override given was modified")
	}
}
