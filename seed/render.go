package seed

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/metalk8s/mk8s/schema"
)

//go:embed templates/*.tmpl templates/services/*.yaml
var templates embed.FS

// File is one file of the seeded site.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// serviceFiles maps each service kind to the file the seed writes for it.
var serviceFiles = map[string]string{
	"AlertmanagerConfig": "alertmanager.yaml",
	"DexConfig":          "dex.yaml",
	"GrafanaConfig":      "grafana.yaml",
	"LokiConfig":         "loki.yaml",
	"PrometheusConfig":   "prometheus.yaml",
	"ShellUIConfig":      "shell-ui.yaml",
	"UIConfig":           "ui.yaml",
}

// templateData is what the templates see.
type templateData struct {
	Version      string
	Name         string
	Network      Network
	MetalLB      bool
	Node         Node
	Roles        []string
	Taints       []string
	FeatureGates []gate
	FromFile     string
	Services     []serviceData
}

type gate struct {
	Name    string
	Enabled bool
}

type serviceData struct {
	Kind, APIVersion, ConfigMap, Namespace, File string
}

// render computes the files of the site. It is pure: the same spec gives the same bytes.
func render(s *spec) ([]File, error) {
	d := templateData{Version: s.version, Name: s.node.Name, Network: s.network, MetalLB: s.metalLB,
		Node: s.node, FromFile: s.fromFile,
		// The bootstrap node after bootstrap.sh: roles bootstrap,etcd,infra,master and
		// taints bootstrap and infra (seeds 000 L152-166, L506).
		Roles:  []string{schema.RoleBootstrap, schema.RoleEtcd, schema.RoleInfra, schema.RoleMaster},
		Taints: []string{schema.RoleBootstrap, schema.RoleInfra}}
	for g, v := range s.network.FeatureGates {
		d.FeatureGates = append(d.FeatureGates, gate{g, v})
	}
	sort.Slice(d.FeatureGates, func(i, j int) bool { return d.FeatureGates[i].Name < d.FeatureGates[j].Name })
	for _, svc := range schema.Services() {
		d.Services = append(d.Services, serviceData{Kind: svc.Kind, APIVersion: svc.APIVersions[0],
			ConfigMap: svc.ConfigMap, Namespace: svc.Namespace, File: "services/" + serviceFiles[svc.Kind]})
	}

	t, err := template.New("").Funcs(template.FuncMap{"q": quote}).ParseFS(templates, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse seed templates: %w", err)
	}
	var files []File
	for _, f := range []struct{ tmpl, path string }{
		{"README.md.tmpl", "README.md"},
		{"cluster.yaml.tmpl", "cluster.yaml"},
		{"node.yaml.tmpl", "nodes/" + s.node.Name + ".yaml"},
		{"storageclass.yaml.tmpl", "storageclasses/metalk8s.yaml"},
		{"solutions.yaml.tmpl", "solutions.yaml"},
	} {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, f.tmpl, d); err != nil {
			return nil, fmt.Errorf("render %s: %w", f.path, err)
		}
		files = append(files, File{Path: f.path, Data: b.Bytes()})
	}
	for _, svc := range d.Services {
		body, err := templates.ReadFile("templates/services/" + path.Base(svc.File))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", svc.File, err)
		}
		// The header is generated from the catalogue so the kind, apiVersion and
		// ConfigMap named in the file are always those the schema accepts.
		var b bytes.Buffer
		fmt.Fprintf(&b, "# %s override (MetalK8s ConfigMap %s in namespace %s).\n", svc.Kind, svc.ConfigMap, svc.Namespace)
		b.WriteString(serviceHeader)
		fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nspec: {}\n", svc.APIVersion, svc.Kind)
		b.Write(body)
		files = append(files, File{Path: svc.File, Data: b.Bytes()})
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

const serviceHeader = `#
# This document is recurse-merged over the platform defaults when the reconciler renders
# the service: maps merge deeply, scalars here replace the default, lists are appended
# after the default entries (defaults cannot be removed). With "spec: {}" the defaults
# apply unchanged. To customise, replace "{}" with the keys you change; the examples below
# (commented out) show every customisation the MetalK8s documentation describes.
# Change = edit, commit (signed), push; check with "mk8s validate" and "mk8s plan".
#
`

// quote writes a string as a double-quoted YAML scalar (JSON strings are YAML).
func quote(v any) string {
	b, _ := json.Marshal(fmt.Sprint(v))
	return string(b)
}
