package objects

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/render"
)

func serviceCM(conf string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "metalk8s-dex-config", "namespace": "metalk8s-auth",
			"annotations": map[string]any{render.AnnotationEffectiveConfigDigest: "sha256:0"}},
		"data": map[string]any{"config.yaml": conf}}}
}

// Credentials inside a service configuration never reach a diff; whether they changed
// does.
func TestDiffRedactsServiceCredentials(t *testing.T) {
	before := serviceCM("spec:\n  config:\n    staticPasswords:\n    - email: jane@example.invalid\n      hash: $2y$14$OLDHASH\n    connectors:\n    - config:\n        bindPW: s3cret\n")
	after := serviceCM("spec:\n  config:\n    staticPasswords:\n    - email: jane@example.invalid\n      hash: $2y$14$NEWHASH\n    - email: bob@example.invalid\n      hash: $2y$14$BOBHASH\n    connectors:\n    - config:\n        bindPW: s3cret\n")
	d, err := unifiedDiff("ConfigMap/metalk8s-auth/metalk8s-dex-config", before, after)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"OLDHASH", "NEWHASH", "BOBHASH", "s3cret"} {
		if strings.Contains(d, leak) {
			t.Errorf("diff leaks %s:\n%s", leak, d)
		}
	}
	for _, want := range []string{"*** (before)", "*** (after)", "bob@example.invalid"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if created, _ := unifiedDiff("x", nil, after); strings.Contains(created, "HASH") {
		t.Errorf("created diff leaks:\n%s", created)
	}
}

func TestCovered(t *testing.T) {
	want := map[string]any{"a": map[string]any{"b": int64(1), "e": map[string]any{}}, "l": []any{"x", map[string]any{"k": "v"}}}
	have := map[string]any{"a": map[string]any{"b": float64(1), "c": "extra"}, "l": []any{"x", map[string]any{"k": "v", "d": true}}, "z": 1}
	if !covered(want, have) {
		t.Error("want should be covered")
	}
	have["a"].(map[string]any)["b"] = int64(2)
	if covered(want, have) {
		t.Error("changed value still covered")
	}
	if covered(map[string]any{"l": []any{"x"}}, map[string]any{"l": []any{"x", "y"}}) {
		t.Error("longer list covered")
	}
}

// The Alertmanager fields that validate warns about as credentials (Slack API URLs and
// webhook URLs carry a token) are redacted in diffs too.
func TestDiffRedactsAlertmanagerURLCredentials(t *testing.T) {
	before := serviceCM("spec:\n  notification:\n    config:\n      global:\n        slack_api_url: https://hooks.slack.com/services/T0/B0/OLDTOKEN\n      receivers:\n      - name: chat\n        slack_configs:\n        - api_url: https://hooks.slack.com/services/T0/B0/CHATTOKEN\n          channel: '#ops'\n        msteams_configs:\n        - webhook_url: https://example.invalid/webhookb2/TEAMSTOKEN\n")
	after := serviceCM("spec:\n  notification:\n    config:\n      global:\n        slack_api_url: https://hooks.slack.com/services/T0/B0/NEWTOKEN\n      receivers:\n      - name: chat\n        slack_configs:\n        - api_url: https://hooks.slack.com/services/T0/B0/CHATTOKEN\n          channel: '#ops'\n        msteams_configs:\n        - webhook_url: https://example.invalid/webhookb2/TEAMSTOKEN\n")
	for _, pair := range [][2]*unstructured.Unstructured{{before, after}, {nil, after}, {before, nil}} {
		d, err := unifiedDiff("ConfigMap/metalk8s-monitoring/metalk8s-alertmanager-config", pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"OLDTOKEN", "NEWTOKEN", "CHATTOKEN", "TEAMSTOKEN", "hooks.slack.com"} {
			if strings.Contains(d, leak) {
				t.Errorf("diff leaks %s:\n%s", leak, d)
			}
		}
		if (pair[0] == nil || pair[1] == nil) && !strings.Contains(d, "#ops") {
			t.Errorf("diff hides a value that is not a credential:\n%s", d)
		}
	}
}

// A password inside a URL (an Alertmanager webhook with basic auth in its url) is
// masked whatever the key is called; the rest of the URL stays readable.
func TestDiffRedactsURLPasswords(t *testing.T) {
	conf := func(pw string) string {
		return "spec:\n  notification:\n    config:\n      receivers:\n      - name: hook\n        webhook_configs:\n        - url: https://alert:" + pw + "@hooks.example.invalid/in\n"
	}
	d, err := unifiedDiff("ConfigMap/metalk8s-monitoring/metalk8s-alertmanager-config", serviceCM(conf("old-pass")), serviceCM(conf("new-pass")))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"old-pass", "new-pass"} {
		if strings.Contains(d, leak) {
			t.Errorf("diff leaks %s:\n%s", leak, d)
		}
	}
	for _, want := range []string{"- url: https://alert:*** (before)@hooks.example.invalid/in", "- url: https://alert:*** (after)@hooks.example.invalid/in"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

// The effective-config digest of a configuration holding credentials is masked (it
// covers the clear values, and the rest of the configuration is in the repository);
// whether it changed stays visible. Without credentials it is shown.
func TestDiffMasksTheDigestOfConfigsWithCredentials(t *testing.T) {
	withDigest := func(conf, digest string) *unstructured.Unstructured {
		u := serviceCM(conf)
		u.SetAnnotations(map[string]string{render.AnnotationEffectiveConfigDigest: digest})
		return u
	}
	secretConf := "spec:\n  receivers:\n  - name: r\n    auth_password: p%s\n"
	d, err := unifiedDiff("x", withDigest(fmt.Sprintf(secretConf, "1"), "sha256:aaaa"), withDigest(fmt.Sprintf(secretConf, "2"), "sha256:bbbb"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d, "aaaa") || strings.Contains(d, "bbbb") || !strings.Contains(d, "digest: '*** (after)'") {
		t.Errorf("digest of a config with credentials not masked as changed:\n%s", d)
	}
	plain := "spec:\n  replicas: %s\n"
	d, err = unifiedDiff("x", withDigest(fmt.Sprintf(plain, "1"), "sha256:aaaa"), withDigest(fmt.Sprintf(plain, "2"), "sha256:bbbb"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "sha256:bbbb") {
		t.Errorf("digest of a config without credentials hidden:\n%s", d)
	}
}
