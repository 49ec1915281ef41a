// Package solutioniso is test harness: it builds real MetalK8s Solution archives with
// xorriso, as MetalK8s' "Solution archive guidelines" say (`xorriso -as mkisofs -R -J
// -joliet-long -V "<name> <version>"`): manifest.yaml, images/<name>/<tag>/ in skopeo's
// dir: layout (a v2s2 manifest.json referencing small but well-formed gzipped layer and
// config blobs by digest, and the version file), operator/deploy/role.yaml and
// operator/deploy/crds/*.yaml, and registry-config.inc.j2 as static-container-registry
// --omit-constants --name-prefix '{{ repository }}' --server-root '{{ registry_root }}'
// writes it.
//
// Example(version) is the example Solution the tests share ("example-solution", operator
// image example-solution-operator, CRDs in example-solution.metalk8s.scality.com, a Role
// and a ClusterRole the rules allow). Spec has options to break an archive (no Joliet,
// no Rock Ridge, a missing manifest, image or role.yaml, any role.yaml), and Truncate and
// Corrupt damage a built image.
//
// It must not be imported by product code.
package solutioniso
