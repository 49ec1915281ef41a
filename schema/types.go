package schema

import (
	"slices"
	"strings"
)

// Well-known API groups, kinds and label keys. They are those of MetalK8s, so that
// kubectl users and existing tooling keep working (DESIGN §6).
const (
	APIVersionBootstrapV1alpha3 = "metalk8s.scality.com/v1alpha3"
	APIVersionVolume            = "storage.metalk8s.scality.com/v1alpha1"
	APIVersionSolutions         = "solutions.metalk8s.scality.com/v1alpha1"

	KindBootstrapConfiguration = "BootstrapConfiguration"
	KindNode                   = "Node"
	KindVolume                 = "Volume"
	KindStorageClass           = "StorageClass"
	KindSolutionsConfiguration = "SolutionsConfiguration"
	KindEnvironment            = "Environment"

	RoleLabelPrefix = "node-role.kubernetes.io/"
	VersionLabel    = "metalk8s.scality.com/version"

	AnnotationSSHHost    = "metalk8s.scality.com/ssh-host"
	AnnotationSSHUser    = "metalk8s.scality.com/ssh-user"
	AnnotationSSHPort    = "metalk8s.scality.com/ssh-port"
	AnnotationSSHKeyPath = "metalk8s.scality.com/ssh-key-path"
	AnnotationSSHSudo    = "metalk8s.scality.com/ssh-sudo"
	AnnotationSSHHostKey = "metalk8s.scality.com/ssh-host-key"

	EnvironmentLabel            = "solutions.metalk8s.scality.com/environment"
	EnvironmentDescriptionAnnot = "solutions.metalk8s.scality.com/environment-description"
)

// Node roles, as MetalK8s defines them.
const (
	RoleBootstrap = "bootstrap"
	RoleMaster    = "master"
	RoleEtcd      = "etcd"
	RoleInfra     = "infra"
	RoleNode      = "node"
)

// Source says where a document came from inside the site, and where each of its fields
// starts, so that any later stage (render, hosts, reconcile-time checks) can report a
// problem against the file, line and field the operator wrote.
type Source struct {
	// File is the slash-separated path inside the site.
	File string `json:"file"`
	// Line is the 1-based line where the document starts.
	Line int `json:"line"`
	// Fields maps a dotted field path (`spec.taints[0].effect`) to its 1-based line.
	Fields map[string]int `json:"-"`
}

// LineOf returns the line of a field, falling back to its closest ancestor that has one,
// then to the document's first line.
func (s Source) LineOf(field string) int {
	for f := field; f != ""; {
		if l, ok := s.Fields[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return s.Line
}

// Site is one validated revision of a site repository: every document, typed, with
// defaults applied.
type Site struct {
	Cluster        Cluster
	Nodes          []Node          // sorted by name
	Volumes        []Volume        // sorted by name
	StorageClasses []StorageClass  // sorted by name
	Services       []ServiceConfig // sorted by kind; only the kinds the site overrides
	Solutions      *SolutionsConfig
	Environments   []Environment // sorted by name
	Manifests      []Manifest    // sorted by file, then document index
}

// Node returns the node with that name.
func (s *Site) Node(name string) (*Node, bool) {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i], true
		}
	}
	return nil, false
}

// Service returns the site's override of a service kind, if the site has one.
func (s *Site) Service(kind string) (*ServiceConfig, bool) {
	for i := range s.Services {
		if s.Services[i].Kind == kind {
			return &s.Services[i], true
		}
	}
	return nil, false
}

// BootstrapNode returns the one node with the bootstrap role (validation guarantees it).
func (s *Site) BootstrapNode() *Node {
	for i := range s.Nodes {
		if s.Nodes[i].HasRole(RoleBootstrap) {
			return &s.Nodes[i]
		}
	}
	return nil
}

// Cluster is the BootstrapConfiguration (cluster.yaml) plus the platform version.
type Cluster struct {
	Source     Source     `json:"-"`
	APIVersion string     `json:"apiVersion"`
	Version    string     `json:"version"` // platform (MetalK8s) version, e.g. "2.10.0"
	Networks   Networks   `json:"networks"`
	Proxies    *Proxies   `json:"proxies,omitempty"`
	CA         CA         `json:"ca"`
	Archives   []string   `json:"archives"`
	Kubernetes Kubernetes `json:"kubernetes"`
}

// Networks of the cluster. CIDR lists hold one entry when the file gave a string.
type Networks struct {
	ControlPlane  ControlPlane  `json:"controlPlane"`
	WorkloadPlane WorkloadPlane `json:"workloadPlane"`
	Pods          string        `json:"pods"`     // default 10.233.0.0/16
	Services      string        `json:"services"` // default 10.96.0.0/12
}

// ControlPlane network.
type ControlPlane struct {
	CIDRs []string `json:"cidr"`
	// IngressIP is the control-plane ingress IP; empty means "the bootstrap node's
	// control-plane IP" (resolved at render time).
	IngressIP string `json:"ingressIP,omitempty"`
	// MetalLB enables the MetalLB layer-2 ingress mode (field name decided by mk8s:
	// networks.controlPlane.metalLB.enabled; the seeds leave it unnamed).
	MetalLB bool `json:"metalLB,omitempty"`
}

// WorkloadPlane network.
type WorkloadPlane struct {
	CIDRs []string `json:"cidr"`
	MTU   int      `json:"mtu"` // default 1460
}

// Proxies for containerd.
type Proxies struct {
	HTTP    string   `json:"http,omitempty"`
	HTTPS   string   `json:"https,omitempty"`
	NoProxy []string `json:"no_proxy,omitempty"`
}

// CA names the host that holds the cluster CA.
type CA struct {
	Minion string `json:"minion"`
}

// Kubernetes settings.
type Kubernetes struct {
	APIServer APIServer `json:"apiServer"`
}

// APIServer settings.
type APIServer struct {
	FeatureGates map[string]bool `json:"featureGates,omitempty"`
}

// Node is a v1 Node of the site with its MetalK8s annotations decoded.
type Node struct {
	Source      Source            `json:"-"`
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Roles are the names after node-role.kubernetes.io/, sorted.
	Roles  []string `json:"roles"`
	Taints []Taint  `json:"taints,omitempty"`
	// Unschedulable is spec.unschedulable (a cordoned node); false when not declared.
	Unschedulable bool `json:"unschedulable,omitempty"`
	SSH           SSH  `json:"ssh"`
}

// HasRole reports whether the node carries a role label.
func (n *Node) HasRole(role string) bool { return slices.Contains(n.Roles, role) }

// Taint of a node.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// SSH coordinates of a node, from its metalk8s.scality.com/ssh-* annotations, defaults applied.
type SSH struct {
	Host    string `json:"host"`
	User    string `json:"user"` // default root
	Port    int    `json:"port"` // default 22
	KeyPath string `json:"keyPath"`
	Sudo    bool   `json:"sudo"` // default false
	// HostKey is the pinned host key in authorized_keys form ("ssh-ed25519 AAAA…"); empty when not pinned.
	HostKey string `json:"hostKey,omitempty"`
}

// Volume is a storage.metalk8s.scality.com/v1alpha1 Volume.
type Volume struct {
	Source           Source            `json:"-"`
	Name             string            `json:"name"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	NodeName         string            `json:"nodeName"`
	StorageClassName string            `json:"storageClassName"`
	Mode             string            `json:"mode"` // Filesystem (default) or Block
	RawBlockDevice   *RawBlockDevice   `json:"rawBlockDevice,omitempty"`
	SparseLoopDevice *SparseLoopDevice `json:"sparseLoopDevice,omitempty"`
	LVMLogicalVolume *LVMLogicalVolume `json:"lvmLogicalVolume,omitempty"`
	// TemplateLabels are spec.template.metadata.labels, propagated to the backing PV.
	TemplateLabels map[string]string `json:"templateLabels,omitempty"`
}

// RawBlockDevice volume source.
type RawBlockDevice struct {
	DevicePath string `json:"devicePath"`
}

// SparseLoopDevice volume source.
type SparseLoopDevice struct {
	Size string `json:"size"` // Kubernetes quantity
}

// LVMLogicalVolume volume source.
type LVMLogicalVolume struct {
	VGName string `json:"vgName"`
	Size   string `json:"size"` // Kubernetes quantity
}

// StorageClass is a storage.k8s.io/v1 StorageClass as MetalK8s uses it.
type StorageClass struct {
	Source            Source            `json:"-"`
	Name              string            `json:"name"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Provisioner       string            `json:"provisioner"`
	ReclaimPolicy     string            `json:"reclaimPolicy,omitempty"`
	VolumeBindingMode string            `json:"volumeBindingMode,omitempty"`
	// AllowVolumeExpansion is nil when the document does not set it.
	AllowVolumeExpansion *bool    `json:"allowVolumeExpansion,omitempty"`
	MountOptions         []string `json:"mountOptions,omitempty"`
	// Parameters hold fsType (xfs|ext4) and mkfsOptions (a JSON-encoded string array).
	Parameters map[string]string `json:"parameters,omitempty"`
}

// ServiceConfig is a site override of one service configuration kind (AlertmanagerConfig,
// DexConfig, …), as the operator wrote it. The effective configuration is
// RecurseMerge(platform defaults, Override).
type ServiceConfig struct {
	Source     Source `json:"-"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Override is the whole override document (apiVersion, kind, spec) as decoded.
	Override map[string]any `json:"override"`
}

// SolutionsConfiguration of the site.
type SolutionsConfig struct {
	Source     Source            `json:"-"`
	APIVersion string            `json:"apiVersion"`
	Archives   []string          `json:"archives"`
	Active     map[string]string `json:"active"` // solution name -> version or "latest"
}

// Environment groups namespaces running solutions (rendered to labelled Namespaces and
// their metalk8s-environment ConfigMaps).
type Environment struct {
	Source      Source                 `json:"-"`
	Name        string                 `json:"name"`
	Description string                 `json:"description,omitempty"`
	Namespaces  []EnvironmentNamespace `json:"namespaces"` // sorted by name
}

// EnvironmentNamespace is one namespace of an environment and the solution versions it runs.
type EnvironmentNamespace struct {
	Name      string            `json:"name"`
	Solutions map[string]string `json:"solutions,omitempty"` // solution name -> version
	// Index is the namespace's position in spec.namespaces as the document writes it
	// (Namespaces is sorted by name), so that a diagnostic names the field it came from.
	Index int `json:"-"`
}

// Manifest is any other Kubernetes object found under manifests/, applied as is.
type Manifest struct {
	Source     Source         `json:"-"`
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Namespace  string         `json:"namespace,omitempty"`
	Name       string         `json:"name"`
	Object     map[string]any `json:"object"`
}
