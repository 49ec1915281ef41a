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
// any spacing inside the braces ({{repository}}, {{  registry_root }}).
var registryVar = regexp.MustCompile(`\{\{\s*(repository|registry_root)\s*\}\}`)

// RegistryInclude is the archive's registry configuration as the bootstrap node's
// registry includes it (/var/lib/metalk8s/repositories/conf.d/<ID>-registry-config.inc):
// the template the archive ships, rendered as MetalK8s renders it, with repository =
// ID() (the images are served as <ID>/<image>:<tag>) and registry_root =
// Mountpoint()+"/images" (where the mounted archive holds them). An include generated
// without the placeholders is used as it is. Only these two expressions are rendered:
// the generator writes no other Jinja, and nginx's own braces (`types { }`,
// `[a-f0-9]{64}`) are left alone.
func (a *Archive) RegistryInclude() []byte {
	values := map[string][]byte{
		"repository":    []byte(a.ID()),
		"registry_root": []byte(a.Mountpoint() + "/images"),
	}
	return registryVar.ReplaceAllFunc(a.RegistryConfig, func(m []byte) []byte {
		name := registryVar.FindSubmatch(m)[1]
		return bytes.Clone(values[string(name)])
	})
}
