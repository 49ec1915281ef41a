package seed

import "time"

// Default values of the options, those of a MetalK8s bootstrap (seeds 000 L377-453, L626-679).
const (
	DefaultBranch       = "main"
	DefaultSSHUser      = "root"
	DefaultSSHPort      = 22
	DefaultSSHKeyPath   = "/etc/metalk8s/pki/salt-bootstrap"
	DefaultPodsCIDR     = "10.233.0.0/16"
	DefaultServicesCIDR = "10.96.0.0/12"
	DefaultMTU          = 1460
	// LocalHostKeyFile is pinned as the bootstrap node's host key when the node's SSH host
	// is an address of the machine running the seed and no host key is given: the key is
	// then read locally, never learnt over the network.
	LocalHostKeyFile = "/etc/ssh/ssh_host_ed25519_key.pub"
)

// Options of Seed.
type Options struct {
	// Dir is the directory of the new repository (created if missing). Without Force it
	// must be absent or empty.
	Dir string
	// Bare writes a bare repository (objects and refs only, no work tree), the form a
	// reconciler or an ISO mirror reads.
	Bare bool
	// Force replaces the git repository already in Dir. Even with Force, a non-empty
	// directory that is not a git repository is refused: its content would be lost.
	Force bool
	// Branch that receives the first commit and that HEAD names (default main).
	Branch string

	// BootstrapConfig is the path of a MetalK8s bootstrap.yaml (BootstrapConfiguration
	// metalk8s.scality.com/v1alpha3, or v1alpha2 which is converted). Empty: the cluster
	// comes from Network alone.
	BootstrapConfig string
	// Network values. With a BootstrapConfig, the values set here override the file's.
	Network Network
	// Node is the bootstrap node.
	Node Node
	// PlatformVersion is the MetalK8s version the site deploys (cluster.yaml `version`).
	PlatformVersion string

	// SigningKey is the path of the private key that signs the first commit: an armored
	// (or binary) OpenPGP private key, or an OpenSSH private key. The format is detected.
	SigningKey string
	// SigningKeyPassphrase decrypts a protected signing key.
	SigningKeyPassphrase []byte
	// AuthorName and AuthorEmail of the first commit. Defaults: the OpenPGP key's primary
	// identity; for an SSH key, its comment when it is an e-mail address.
	AuthorName  string
	AuthorEmail string
	// Message of the first commit; a default names the cluster.
	Message string
	// ReconcilerConfig, when set, is the path where Seed also writes the reconciler's own
	// configuration (reconciler/source/config format), trusting exactly the signing key,
	// with the trust file next to it (trusted-openpgp.asc or allowed_signers). Existing
	// files are replaced only with Force.
	ReconcilerConfig string
	// SourceURL is the repository the reconciler configuration follows. Default: the
	// seeded repository itself (Dir when bare, Dir/.git otherwise).
	SourceURL string

	// Time of the commit and of its signature; zero means now. It must not be older than
	// the signing key. Same inputs and same Time give the same files and commit payload,
	// and the same commit hash with an SSH Ed25519 key (OpenPGP signatures carry a random
	// salt, go-crypto's protection against fault attacks).
	Time time.Time
}

// Network is the cluster part of the seed, the fields of a BootstrapConfiguration.
// Zero values mean "not given".
type Network struct {
	ControlPlaneCIDRs  []string
	WorkloadPlaneCIDRs []string // default: the control-plane CIDRs
	WorkloadPlaneMTU   int      // default 1460
	PodsCIDR           string   // default 10.233.0.0/16
	ServicesCIDR       string   // default 10.96.0.0/12
	IngressIP          string   // default: the bootstrap node's control-plane IP
	MetalLB            *bool    // default false
	HTTPProxy          string
	HTTPSProxy         string
	NoProxy            []string
	Archives           []string // absolute paths of MetalK8s ISOs
	FeatureGates       map[string]bool
}

// Node is the bootstrap node of the seed. Zero values mean "not given".
type Node struct {
	// Name of the node; default the bootstrap config's ca.minion, else the host name.
	Name string
	// SSHHost is the node's control-plane IP (annotation metalk8s.scality.com/ssh-host).
	// Default: the v1alpha2 apiServer.host, else the address of this machine that lies in
	// a control-plane CIDR.
	SSHHost    string
	SSHUser    string // default root
	SSHPort    int    // default 22
	SSHKeyPath string // default /etc/metalk8s/pki/salt-bootstrap
	// SSHSudo is forced to true when SSHUser is not root.
	SSHSudo bool
	// SSHHostKey pins the node's host key: an authorized_keys line ("ssh-ed25519 AAAA…")
	// or the path of a file holding one (an ssh_host_*_key.pub).
	SSHHostKey string
}

// Result says what Seed did.
type Result struct {
	Dir    string `json:"dir"`
	Bare   bool   `json:"bare"`
	Branch string `json:"branch"`
	// Commit is the hash of the first commit.
	Commit string `json:"commit"`
	// Files are the paths committed, sorted.
	Files  []string `json:"files"`
	Signer Signer   `json:"signer"`
	// ReconcilerFiles are the reconciler configuration and trust file written, if any.
	ReconcilerFiles []string `json:"reconcilerFiles,omitempty"`
	// Warnings are facts the operator should know (a dropped bootstrap.yaml field, an
	// unpinned host key); they do not fail the seed.
	Warnings []string `json:"warnings,omitempty"`
}

// Signer identifies the key that signed the first commit, in the form a reconciler's
// trusted-keys configuration needs.
type Signer struct {
	// Format is "openpgp" or "ssh".
	Format string `json:"format"`
	// Fingerprint: the OpenPGP primary key fingerprint (hex), or the SSH SHA256 fingerprint.
	Fingerprint string `json:"fingerprint"`
	// Identity: the OpenPGP user ID, or the SSH key comment.
	Identity string `json:"identity,omitempty"`
	// PublicKey: the armored OpenPGP public key, or the SSH authorized_keys line.
	PublicKey string `json:"publicKey"`
}
