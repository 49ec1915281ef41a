package solution

import (
	"bytes"
	"regexp"
)

// MountRoot is the directory under which MetalK8s mounts every archive, the platform's
// (metalk8s-<version>) and each Solution's (<name>-<version>).
const MountRoot = "/srv/scality"

// Mountpoint is where the archive is mounted on the bootstrap node: /srv/scality/<ID>,
// as MetalK8s' salt/metalk8s/solutions/available.sls mounts it.
func (a *Archive) Mountpoint() string { return MountRoot + "/" + a.ID() }

// registryVar matches the two Jinja expressions static-container-registry writes when
// run with `--name-prefix '{{ repository }}' --server-root '{{ registry_root }}'`, with
// any spacing inside the braces ({{repository}}, {{  registry_root }}) and Jinja's
// whitespace control ({{- repository -}} strips the whitespace before and after).
var registryVar = regexp.MustCompile(`\{\{(-?)\s*(repository|registry_root)\s*(-?)\}\}`)

// RegistryInclude is the archive's registry configuration as the bootstrap node's
// registry includes it (/var/lib/metalk8s/repositories/conf.d/<ID>-registry-config.inc):
// the template the archive ships, rendered as MetalK8s renders it, with repository =
// ID() (the images are served as <ID>/<image>:<tag>) and registry_root =
// Mountpoint()+"/images" (where the mounted archive holds them). An include generated
// without the placeholders is used as it is. Only these two expressions are rendered:
// the generator writes no other Jinja (Open refuses an archive that does), and nginx's
// own braces (`types { }`, `[a-f0-9]{64}`) are left alone.
func (a *Archive) RegistryInclude() []byte {
	values := map[string]string{
		"repository":    a.ID(),
		"registry_root": a.Mountpoint() + "/images",
	}
	src := a.RegistryConfig
	var out []byte
	prev, trimNext := 0, false
	for _, m := range registryVar.FindAllSubmatchIndex(src, -1) {
		before := src[prev:m[0]]
		if trimNext {
			before = bytes.TrimLeft(before, " \t\r\n")
		}
		if m[3] > m[2] { // {{-
			before = bytes.TrimRight(before, " \t\r\n")
		}
		out = append(append(out, before...), values[string(src[m[4]:m[5]])]...)
		prev, trimNext = m[1], m[7] > m[6] // -}}
	}
	rest := src[prev:]
	if trimNext {
		rest = bytes.TrimLeft(rest, " \t\r\n")
	}
	out = append(out, rest...)
	return out
}
