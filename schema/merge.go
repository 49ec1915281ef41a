package schema

import (
	"bytes"
	"embed"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"text/template"
)

//go:embed defaults/*
var defaultFiles embed.FS

// defaultFile names the platform defaults of each service kind (schema/defaults/).
var defaultFile = map[string]string{
	"AlertmanagerConfig": "alertmanager.yaml",
	"DexConfig":          "dex.yaml.tmpl",
	"GrafanaConfig":      "grafana.yaml",
	"LokiConfig":         "loki.yaml",
	"PrometheusConfig":   "prometheus.yaml",
	"ShellUIConfig":      "shell-ui.yaml.tmpl",
	"UIConfig":           "ui.yaml",
}

// RecurseMerge merges override over defaults the way MetalK8s merges a service
// ConfigMap over its defaults (Salt's dictupdate "recurse" strategy with list
// aggregation, seeds 000 L6564-6609): mappings merge deeply, scalars and mismatched
// types take the override, lists are appended, defaults first, skipping override items
// equal to one already present (so a copy of the defaults adds nothing). A nil override
// yields the defaults. It never modifies its arguments.
func RecurseMerge(defaults, override any) any {
	if override == nil {
		return cloneData(defaults)
	}
	switch d := defaults.(type) {
	case map[string]any:
		o, ok := override.(map[string]any)
		if !ok {
			return cloneData(override)
		}
		out := cloneData(d).(map[string]any)
		for k, ov := range o {
			dv, present := d[k]
			if !present || ov == nil {
				out[k] = cloneData(ov)
				continue
			}
			out[k] = RecurseMerge(dv, ov)
		}
		return out
	case []any:
		o, ok := override.([]any)
		if !ok {
			return cloneData(override)
		}
		out := cloneData(d).([]any)
		for _, item := range o {
			if !containsData(out, item) {
				out = append(out, cloneData(item))
			}
		}
		return out
	}
	return cloneData(override)
}

func containsData(list []any, item any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, item) {
			return true
		}
	}
	return false
}

// IngressIP is the control-plane ingress IP: the one cluster.yaml gives, or else the
// bootstrap node's control-plane IP, i.e. its ssh-host (seeds 000 L421).
func (s *Site) IngressIP() string {
	if ip := s.Cluster.Networks.ControlPlane.IngressIP; ip != "" {
		return ip
	}
	if b := s.BootstrapNode(); b != nil {
		return b.SSH.Host
	}
	return ""
}

// IngressEndpoint is control_plane_ingress_ep of the seeds: https://<ingress IP>:8443.
func (s *Site) IngressEndpoint() string {
	ip := s.IngressIP()
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
		ip = "[" + ip + "]"
	}
	return "https://" + ip + ":8443"
}

// PlatformDefaults returns the platform defaults of a service kind, rendered for the
// site (Dex and Shell UI defaults depend on the ingress endpoint, the UI base path and
// the Dex static users).
func PlatformDefaults(site *Site, kind string) (map[string]any, error) {
	svc, ok := ServiceByKind(kind)
	if !ok {
		return nil, fmt.Errorf("unknown service kind %q", kind)
	}
	name := defaultFile[svc.Kind]
	src, err := defaultFiles.ReadFile("defaults/" + name)
	if err != nil {
		return nil, fmt.Errorf("defaults of %s: %w", svc.Kind, err)
	}
	if strings.HasSuffix(name, ".tmpl") {
		vars := struct {
			Endpoint, BasePath string
			Emails             []string
		}{Endpoint: site.IngressEndpoint()}
		ui, err := EffectiveConfig(site, "UIConfig")
		if err != nil {
			return nil, err
		}
		basePath, _ := mapAt(ui, "spec")["basePath"].(string)
		vars.BasePath = strings.TrimLeft(basePath, "/")
		if svc.Kind == "ShellUIConfig" {
			dex, err := EffectiveConfig(site, "DexConfig")
			if err != nil {
				return nil, err
			}
			for _, u := range listAt(dex, "spec", "config", "staticPasswords") {
				if m, ok := u.(map[string]any); ok && strAt(m, "email") != "" {
					vars.Emails = append(vars.Emails, strAt(m, "email"))
				}
			}
		}
		t, err := template.New(name).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("defaults of %s: %w", svc.Kind, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, vars); err != nil {
			return nil, fmt.Errorf("defaults of %s: %w", svc.Kind, err)
		}
		src = b.Bytes()
	}
	docs, diags := decodeYAML("defaults/"+name, src)
	if diags.HasErrors() || len(docs) != 1 {
		return nil, fmt.Errorf("defaults of %s: %v", svc.Kind, diags.Err())
	}
	out := docs[0].Data
	if spec := mapAt(out, "spec"); spec != nil && svc.Kind == "ShellUIConfig" && spec["userGroupsMapping"] == nil {
		spec["userGroupsMapping"] = map[string]any{}
	}
	return out, nil
}

// EffectiveConfig is the configuration of a service kind for this site: its platform
// defaults, rendered for the cluster, recurse-merged with the site's override, with the
// entries the platform marks mandatory kept (the Alertmanager metalk8s-alert-logger
// receiver, and its route as the first route). apiVersion and kind are those of the
// defaults.
func EffectiveConfig(site *Site, kind string) (map[string]any, error) {
	svc, ok := ServiceByKind(kind)
	if !ok {
		return nil, fmt.Errorf("unknown service kind %q", kind)
	}
	defaults, err := PlatformDefaults(site, svc.Kind)
	if err != nil {
		return nil, err
	}
	var override any
	if o, ok := site.Service(svc.Kind); ok && o.Override != nil {
		// Overrides built by hand (not by Load) may carry int or float64 integers: make
		// them the loader's int64 so that list items compare equal to the defaults'.
		override = normalize(cloneData(o.Override))
	}
	merged, _ := RecurseMerge(defaults, override).(map[string]any)
	if merged == nil {
		merged = defaults
	}
	merged["apiVersion"], merged["kind"] = defaults["apiVersion"], defaults["kind"]
	if svc.Kind == "AlertmanagerConfig" {
		keepAlertLogger(merged, defaults)
	}
	return merged, nil
}

// keepAlertLogger restores the mandatory alert-logger receiver and route of the
// Alertmanager defaults: the receiver as defined by the platform, the route first.
func keepAlertLogger(merged, defaults map[string]any) {
	var recv, route any
	for _, r := range listAt(defaults, "spec", "notification", "config", "receivers") {
		if m, ok := r.(map[string]any); ok && strAt(m, "name") == alertLogger {
			recv = r
		}
	}
	for _, r := range listAt(defaults, "spec", "notification", "config", "route", "routes") {
		if m, ok := r.(map[string]any); ok && strAt(m, "receiver") == alertLogger {
			route = r
		}
	}
	cfg := ensureMap(ensureMap(ensureMap(merged, "spec"), "notification"), "config")
	if recv != nil {
		out := []any{cloneData(recv)}
		for _, r := range listOf(cfg["receivers"]) {
			if m, ok := r.(map[string]any); ok && strAt(m, "name") == alertLogger {
				continue
			}
			out = append(out, r)
		}
		cfg["receivers"] = out
	}
	if route != nil {
		rt := ensureMap(cfg, "route")
		out := []any{cloneData(route)}
		for _, r := range listOf(rt["routes"]) {
			if m, ok := r.(map[string]any); ok && strAt(m, "receiver") == alertLogger {
				continue
			}
			out = append(out, r)
		}
		rt["routes"] = out
	}
}

func ensureMap(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}
