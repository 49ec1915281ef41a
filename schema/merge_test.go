package schema_test

import (
	"context"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/schema"
)

// y decodes a YAML literal the way the loader does (integers as int64).
func y(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return toInt64(v)
}

func toInt64(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = toInt64(e)
		}
	case []any:
		for i, e := range x {
			x[i] = toInt64(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

func TestRecurseMerge(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		defaults, override, want string
	}{
		{
			// seeds 000 L6574-6605 (inventory §1.7), verbatim.
			name: "seed example",
			defaults: `
apiVersion: addons.metalk8s.scality.com/v1alpha1
kind: AlertmanagerConfig
spec:
  deployment:
    replicas: 1`,
			override: `
apiVersion: addons.metalk8s.scality.com/v1alpha1
kind: AlertmanagerConfig
spec:
  deployment:
    replicas: 2
  notification:
    config:
      global:
        resolve_timeout: 5m`,
			want: `
apiVersion: addons.metalk8s.scality.com/v1alpha1
kind: AlertmanagerConfig
spec:
  deployment:
    replicas: 2
  notification:
    config:
      global:
        resolve_timeout: 5m`,
		},
		{
			name:     "lists are appended, defaults first",
			defaults: `{staticPasswords: [{email: admin@metalk8s.invalid}], connectors: []}`,
			override: `{staticPasswords: [{email: bob@example.invalid}], connectors: [{id: ldap}]}`,
			want:     `{staticPasswords: [{email: admin@metalk8s.invalid}, {email: bob@example.invalid}], connectors: [{id: ldap}]}`,
		},
		{
			name:     "items equal to a default are not repeated",
			defaults: `{routes: [{receiver: a, continue: true}]}`,
			override: `{routes: [{receiver: a, continue: true}, {receiver: b}]}`,
			want:     `{routes: [{receiver: a, continue: true}, {receiver: b}]}`,
		},
		{
			name:     "maps merge deeply, scalars override",
			defaults: `{a: {b: 1, c: {d: x, e: y}}, f: true}`,
			override: `{a: {c: {e: z}}, f: false, g: new}`,
			want:     `{a: {b: 1, c: {d: x, e: z}}, f: false, g: new}`,
		},
		{
			name:     "mismatched types take the override",
			defaults: `{a: [1, 2], b: {c: 1}, d: 5}`,
			override: `{a: {x: 1}, b: [c], d: {e: 1}}`,
			want:     `{a: {x: 1}, b: [c], d: {e: 1}}`,
		},
		{
			name:     "explicit null overrides",
			defaults: `{a: 1, b: 2}`,
			override: `{a: null}`,
			want:     `{a: null, b: 2}`,
		},
		{
			name:     "no override yields the defaults",
			defaults: `{a: {b: [1]}}`,
			override: `null`,
			want:     `{a: {b: [1]}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, o := y(t, tc.defaults), y(t, tc.override)
			dCopy, oCopy := y(t, tc.defaults), y(t, tc.override)
			got := schema.RecurseMerge(d, o)
			if want := y(t, tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("RecurseMerge =\n%v\nwant\n%v", got, want)
			}
			if !reflect.DeepEqual(d, dCopy) || !reflect.DeepEqual(o, oCopy) {
				t.Errorf("RecurseMerge modified its arguments")
			}
		})
	}
}

func loadValid(t *testing.T, dir string) *schema.Site {
	t.Helper()
	site, diags := schema.LoadDir(context.Background(), dir)
	if site == nil {
		t.Fatalf("load %s: %v", dir, diags.Err())
	}
	return site
}

func routes(cfg map[string]any) []any {
	return cfg["spec"].(map[string]any)["notification"].(map[string]any)["config"].(map[string]any)["route"].(map[string]any)["routes"].([]any)
}

func receivers(cfg map[string]any) []any {
	return cfg["spec"].(map[string]any)["notification"].(map[string]any)["config"].(map[string]any)["receivers"].([]any)
}

// TestAlertLoggerSurvivesOverride: whatever the override says, the metalk8s-alert-logger
// receiver is the platform's and its route is the first route (seeds 000 L4085).
func TestAlertLoggerSurvivesOverride(t *testing.T) {
	logger := y(t, `{receiver: metalk8s-alert-logger, continue: true}`)
	loggerRecv := y(t, `{name: metalk8s-alert-logger, webhook_configs: [{send_resolved: true, url: "http://metalk8s-alert-logger:19094/"}]}`)
	for _, tc := range []struct{ name, override string }{
		{"no override", ``},
		{"routes appended", `{spec: {notification: {config: {route: {receiver: slack, routes: [{receiver: slack, continue: true}]}, receivers: [{name: slack}]}}}}`},
		{"routes replaced by null", `{spec: {notification: {config: {route: {routes: null}, receivers: null}}}}`},
		{"logger redefined", `{spec: {notification: {config: {route: {routes: [{receiver: slack}, {receiver: metalk8s-alert-logger, continue: false}]}, receivers: [{name: metalk8s-alert-logger, webhook_configs: [{url: "http://evil.invalid/"}]}]}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := loadValid(t, "testdata/valid/minimal")
			if tc.override != "" {
				site.Services = []schema.ServiceConfig{{Kind: "AlertmanagerConfig", APIVersion: "addons.metalk8s.scality.com",
					Override: y(t, tc.override).(map[string]any)}}
			}
			cfg, err := schema.EffectiveConfig(site, "AlertmanagerConfig")
			if err != nil {
				t.Fatal(err)
			}
			rs := routes(cfg)
			if !reflect.DeepEqual(rs[0], logger) {
				t.Errorf("first route = %v, want %v", rs[0], logger)
			}
			n := 0
			for _, r := range rs {
				if r.(map[string]any)["receiver"] == "metalk8s-alert-logger" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d routes to the alert logger, want 1: %v", n, rs)
			}
			recvs := receivers(cfg)
			if !reflect.DeepEqual(recvs[0], loggerRecv) {
				t.Errorf("first receiver = %v, want %v", recvs[0], loggerRecv)
			}
			for _, r := range recvs[1:] {
				if r.(map[string]any)["name"] == "metalk8s-alert-logger" {
					t.Errorf("second alert-logger receiver kept: %v", recvs)
				}
			}
		})
	}
}

// TestEffectiveConfigSeedOverride: the site's override of testdata/valid/full, merged.
func TestEffectiveConfigSeedOverride(t *testing.T) {
	site := loadValid(t, "testdata/valid/full")
	cfg, err := schema.EffectiveConfig(site, "AlertmanagerConfig")
	if err != nil {
		t.Fatal(err)
	}
	spec := cfg["spec"].(map[string]any)
	if got := spec["deployment"].(map[string]any)["replicas"]; got != int64(2) {
		t.Errorf("replicas = %v, want 2 (override)", got)
	}
	rs := routes(cfg)
	if len(rs) != 2 || rs[1].(map[string]any)["receiver"] != "slack-receiver" {
		t.Errorf("routes = %v, want the alert logger then slack-receiver", rs)
	}
	route := spec["notification"].(map[string]any)["config"].(map[string]any)["route"].(map[string]any)
	if route["receiver"] != "slack-receiver" || route["group_wait"] != "30s" {
		t.Errorf("route = %v: want receiver overridden and group_wait kept", route)
	}
	if cfg["apiVersion"] != "addons.metalk8s.scality.com" || cfg["kind"] != "AlertmanagerConfig" {
		t.Errorf("apiVersion/kind = %v/%v", cfg["apiVersion"], cfg["kind"])
	}
}

// TestEffectiveConfigTemplated: Dex and Shell UI defaults are rendered for the site:
// ingress endpoint, UI base path, Dex static users.
func TestEffectiveConfigTemplated(t *testing.T) {
	site := loadValid(t, "testdata/valid/full") // ingress 10.213.0.100, basePath /platform
	dex, err := schema.EffectiveConfig(site, "DexConfiguration")
	if err != nil {
		t.Fatal(err)
	}
	dc := dex["spec"].(map[string]any)["config"].(map[string]any)
	if dc["issuer"] != "https://10.213.0.100:8443/oidc" {
		t.Errorf("issuer = %v", dc["issuer"])
	}
	clients := dc["staticClients"].([]any)
	if got := clients[1].(map[string]any)["redirectURIs"].([]any)[0]; got != "https://10.213.0.100:8443/platform" {
		t.Errorf("metalk8s-ui redirect URI = %v", got)
	}
	if dex["kind"] != "DexConfig" || dex["spec"].(map[string]any)["deployment"].(map[string]any)["replicas"] != int64(2) {
		t.Errorf("dex kind/replicas = %v/%v", dex["kind"], dex["spec"])
	}
	shell, err := schema.EffectiveConfig(site, "ShellUIConfig")
	if err != nil {
		t.Fatal(err)
	}
	spec := shell["spec"].(map[string]any)
	if got := spec["oidc"].(map[string]any)["redirectUrl"]; got != "https://10.213.0.100:8443/platform" {
		t.Errorf("redirectUrl = %v", got)
	}
	want := map[string]any{"admin@metalk8s.invalid": []any{"metalk8s:admin"}}
	if got := spec["userGroupsMapping"]; !reflect.DeepEqual(got, want) {
		t.Errorf("userGroupsMapping = %v, want %v", got, want)
	}
	if _, ok := spec["options"].(map[string]any)["main"]; !ok {
		t.Errorf("override options lost: %v", spec)
	}

	// Without an ingress IP, the endpoint is the bootstrap node's control-plane IP.
	minimal := loadValid(t, "testdata/valid/minimal")
	dex, err = schema.EffectiveConfig(minimal, "DexConfig")
	if err != nil {
		t.Fatal(err)
	}
	if got := dex["spec"].(map[string]any)["config"].(map[string]any)["issuer"]; got != "https://10.213.0.10:8443/oidc" {
		t.Errorf("issuer = %v, want the bootstrap node's address", got)
	}
	shell, _ = schema.EffectiveConfig(minimal, "ShellUIConfig")
	if got := shell["spec"].(map[string]any)["userGroupsMapping"]; !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("userGroupsMapping = %v, want empty (no static user)", got)
	}
	if _, err := schema.EffectiveConfig(minimal, "NoSuchConfig"); err == nil {
		t.Errorf("unknown kind accepted")
	}
}
