package solution

import (
	"strings"
	"testing"
)

// template is what static-container-registry writes for one image (example-operator:1.0.0)
// with --name-prefix '{{ repository }}' --server-root '{{ registry_root }}', trimmed to
// the locations that carry the placeholders, plus nginx's own braces.
const template = `
location = /v2/ {
    return 200 'ok';
}

location @404_tag {
    internal;
    types { } default_type "application/json";
    return 404 '{"errors": [{"code": "TAG_INVALID"}]}';
}

location = /v2/{{ repository }}/example-operator/tags/list {
    types { } default_type "application/json";
    return 200 '{"name": "example-operator", "tags": ["1.0.0"]}';
}

location = "/v2/{{ repository }}/example-operator/manifests/1.0.0" {
    alias {{ registry_root }}/example-operator/1.0.0/;
    try_files manifest.json =404;
}

location ~ "/v2/{{repository}}/example-operator/blobs/sha256:([a-f0-9]{64})" {
    alias {{  registry_root}}/example-operator/;
    try_files 1.0.0/$1 =404;
}
`

func TestMountpoint(t *testing.T) {
	a := &Archive{Name: "example", Version: "1.0.0-dev"}
	if got := a.Mountpoint(); got != "/srv/scality/example-1.0.0-dev" {
		t.Fatalf("Mountpoint() = %q", got)
	}
}

func TestRegistryIncludeRendersBothPlaceholders(t *testing.T) {
	a := &Archive{Name: "example", Version: "1.0.0", RegistryConfig: []byte(template)}
	got := string(a.RegistryInclude())
	for _, want := range []string{
		"location = /v2/example-1.0.0/example-operator/tags/list {",
		`location = "/v2/example-1.0.0/example-operator/manifests/1.0.0" {`,
		"    alias /srv/scality/example-1.0.0/images/example-operator/1.0.0/;",
		// The spacing variants render the same.
		`location ~ "/v2/example-1.0.0/example-operator/blobs/sha256:([a-f0-9]{64})" {`,
		"    alias /srv/scality/example-1.0.0/images/example-operator/;",
		// nginx's braces are not Jinja.
		`types { } default_type "application/json";`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered include lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "{{") || strings.Contains(got, "}}") {
		t.Errorf("rendered include still holds a placeholder:\n%s", got)
	}
	if string(a.RegistryConfig) != template {
		t.Error("RegistryInclude changed the archive's RegistryConfig")
	}
}

func TestRegistryIncludeWithoutPlaceholdersIsUsedAsIs(t *testing.T) {
	plain := "location = /v2/example-1.0.0/x/tags/list {\n    return 200 '{}';\n}\n"
	a := &Archive{Name: "example", Version: "1.0.0", RegistryConfig: []byte(plain)}
	if got := string(a.RegistryInclude()); got != plain {
		t.Fatalf("RegistryInclude() = %q, want the include unchanged", got)
	}
}

func TestRegistryIncludeLeavesOtherExpressions(t *testing.T) {
	// Only the generator's two variables are MetalK8s' to fill; anything else is the
	// archive's text (validation of the archive is Open's business).
	a := &Archive{Name: "s", Version: "2", RegistryConfig: []byte("{{ repository }} {{ other }} {{ registry_root }}")}
	if got, want := string(a.RegistryInclude()), "s-2 {{ other }} /srv/scality/s-2/images"; got != want {
		t.Fatalf("RegistryInclude() = %q, want %q", got, want)
	}
}

// Jinja's whitespace control ({{- x -}}), which Open accepts, renders as MetalK8s' Jinja
// renders it: the whitespace on the side of the dash goes, and no brace is left for
// nginx to choke on.
func TestRegistryIncludeWhitespaceControl(t *testing.T) {
	a := &Archive{Name: "s", Version: "2", RegistryConfig: []byte("location = /v2/\n    {{- repository }}/x {\n    alias {{ registry_root -}}\n   /x/;\n}\n")}
	if got, want := string(a.RegistryInclude()), "location = /v2/s-2/x {\n    alias /srv/scality/s-2/images/x/;\n}\n"; got != want {
		t.Fatalf("RegistryInclude() = %q, want %q", got, want)
	}
}
