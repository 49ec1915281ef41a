// Package version holds the build identity of the mk8s binary and the platform version
// whose bundle it embeds. Set at link time with -ldflags -X.
package version

// Set with -ldflags "-X github.com/metalk8s/mk8s/internal/version.Version=...".
var (
	// Version of mk8s.
	Version = "0.1.0-dev"
	// Commit the binary was built from.
	Commit = "unknown"
)

// Platform is the MetalK8s platform version whose defaults and host bundle this binary embeds.
const Platform = "2.10.0"
