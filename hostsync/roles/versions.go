package roles

// Component versions of the platform bundle this binary renders. They follow the
// MetalK8s release studied in the reference (K8s 1.29.8, etcd 3.5.15, containerd 1.6.35).
const (
	KubernetesVersion = "1.29.8"
	EtcdImageTag      = "3.5.15-0"
	ContainerdVersion = "1.6.35"
	RuncVersion       = "1.1.13"
	NginxImageTag     = "1.25.5-alpine"
	PauseImageTag     = "3.9"

	// RegistryName is the name images are pulled by; containerd maps it to the
	// bootstrap node's registry, so the real address lives only in the mirror config.
	RegistryName = "metalk8s-registry-from-config.invalid"
	// RepositoryPort is where the bootstrap node serves packages and images.
	RepositoryPort = 8080
)
