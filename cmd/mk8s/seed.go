package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/internal/version"
	"github.com/metalk8s/mk8s/seed"
)

func newSeedCmd(g *globals) *cobra.Command {
	var (
		o              seed.Options
		metalLB        bool
		featureGates   []string
		passphraseFile string
		date           string
	)
	cmd := &cobra.Command{
		Use:   "seed [flags] DIR",
		Short: "Write a new site repository (signed first commit)",
		Long: `Write the initial site repository of a MetalK8s cluster into DIR: cluster.yaml, the
bootstrap node (roles bootstrap, master, etcd, infra; taints bootstrap and infra), the
metalk8s StorageClass, one commented override per service, an empty solutions.yaml and a
README for operators, in one first commit signed with --signing-key (an OpenPGP or an
OpenSSH private key; the format is detected).

The cluster comes from a MetalK8s bootstrap.yaml (--bootstrap-config; v1alpha3, or
v1alpha2 which is converted) or from flags; network flags given with --bootstrap-config
override the file's values. The bootstrap node's name defaults to ca.minion (else the host
name), its SSH host to v1alpha2 apiServer.host, else the local address in the
control-plane network; when that address is this machine's, its ed25519 host key is
pinned. The ingress IP defaults to the bootstrap node's control-plane IP.

DIR must be absent or empty. A DIR that already holds a git repository is refused unless
--force, which replaces it; any other non-empty DIR is always refused. Nothing is changed
when the seed fails.`,
		Example: `  # On the bootstrap node, from the MetalK8s bootstrap.yaml, signed with an SSH key
  mk8s seed --bootstrap-config /etc/metalk8s/bootstrap.yaml \
    --signing-key ~/.ssh/id_ed25519 --author-email ops@example.com --author-name Ops ./site

  # From flags, signed with an exported OpenPGP key, as a bare repository
  mk8s seed --name bootstrap --ssh-host 10.213.1.11 \
    --control-plane-cidr 10.213.1.0/24 --workload-plane-cidr 10.213.2.0/24 \
    --archive /srv/scality/metalk8s-2.10.0.iso \
    --signing-key ./signer.asc --bare /srv/git/site.git

  # Also write the reconciler's configuration, trusting the signing key
  mk8s seed --bootstrap-config /etc/metalk8s/bootstrap.yaml --signing-key key.asc \
    --bare --reconciler-config /etc/mk8s/reconciler.yaml /srv/git/site.git

  # Result as JSON (files, commit hash, signer fingerprint and public key)
  mk8s seed --bootstrap-config bootstrap.yaml --signing-key key.asc -o json ./site`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if cmd.Flags().Changed("metallb") {
				o.Network.MetalLB = &metalLB
			}
			if len(featureGates) > 0 {
				o.Network.FeatureGates = map[string]bool{}
				for _, fg := range featureGates {
					k, v, ok := strings.Cut(fg, "=")
					b, err := strconv.ParseBool(v)
					if !ok || err != nil {
						return &exitError{code: exitCodeError, err: fmt.Errorf("--feature-gate %q: not NAME=true|false", fg)}
					}
					o.Network.FeatureGates[k] = b
				}
			}
			if passphraseFile != "" {
				p, err := os.ReadFile(passphraseFile)
				if err != nil {
					return &exitError{code: exitCodeError, err: fmt.Errorf("--signing-key-passphrase-file: %w", err)}
				}
				o.SigningKeyPassphrase = []byte(strings.TrimRight(string(p), "\r\n"))
			}
			if date != "" {
				t, err := time.Parse(time.RFC3339, date)
				if err != nil {
					return &exitError{code: exitCodeError, err: fmt.Errorf("--date %q: not an RFC 3339 time such as 2026-01-02T15:04:05Z", date)}
				}
				o.Time = t
			}
			g.logger().Info("seeding", "dir", o.Dir, "bare", o.Bare)
			res, err := seed.Seed(cmd.Context(), o)
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(g.stderr, "Warning:", w)
			}
			return printData(g.stdout, g.output, res, func(w io.Writer) error {
				kind := "repository"
				if res.Bare {
					kind = "bare repository"
				}
				fmt.Fprintf(w, "Seeded %s %s\n", kind, res.Dir)
				for _, f := range res.Files {
					fmt.Fprintf(w, "  %s\n", f)
				}
				fmt.Fprintf(w, "Commit %s on %s, signed (%s) by %s %s\n", res.Commit, res.Branch,
					res.Signer.Format, res.Signer.Fingerprint, res.Signer.Identity)
				if len(res.ReconcilerFiles) > 0 {
					_, err := fmt.Fprintf(w, "Reconciler configuration: %s\n", strings.Join(res.ReconcilerFiles, ", "))
					return err
				}
				_, err := fmt.Fprintln(w, "Trust this key in the reconciler's configuration (or use --reconciler-config), then push the repository where it pulls from.")
				return err
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Bare, "bare", false, "write a bare repository")
	f.BoolVar(&o.Force, "force", false, "replace the git repository already in DIR")
	f.StringVar(&o.Branch, "branch", seed.DefaultBranch, "branch of the first commit")
	f.StringVar(&o.BootstrapConfig, "bootstrap-config", "", "MetalK8s bootstrap.yaml (BootstrapConfiguration v1alpha3 or v1alpha2)")
	f.StringVar(&o.PlatformVersion, "platform-version", version.Platform, "MetalK8s version the site deploys")

	f.StringVar(&o.Node.Name, "name", "", "bootstrap node name (default: ca.minion of --bootstrap-config, else the host name)")
	f.StringVar(&o.Node.SSHHost, "ssh-host", "", "control-plane IP of the bootstrap node (default: apiServer.host of a v1alpha2 config, else the local address in the control-plane network)")
	f.StringVar(&o.Node.SSHUser, "ssh-user", seed.DefaultSSHUser, "SSH user (sudo is set when it is not root)")
	f.IntVar(&o.Node.SSHPort, "ssh-port", seed.DefaultSSHPort, "SSH port")
	f.StringVar(&o.Node.SSHKeyPath, "ssh-key-path", seed.DefaultSSHKeyPath, "private key the reconciler uses to reach the nodes")
	f.BoolVar(&o.Node.SSHSudo, "ssh-sudo", false, "use sudo on the node (implied when --ssh-user is not root)")
	f.StringVar(&o.Node.SSHHostKey, "ssh-host-key", "", `pinned host key of the bootstrap node: a public key line ("ssh-ed25519 AAAA…") or a .pub file (default: this machine's `+seed.LocalHostKeyFile+` when --ssh-host is local)`)

	f.StringSliceVar(&o.Network.ControlPlaneCIDRs, "control-plane-cidr", nil, "control-plane network(s), tried in order")
	f.StringSliceVar(&o.Network.WorkloadPlaneCIDRs, "workload-plane-cidr", nil, "workload-plane network(s) (default: the control-plane networks)")
	f.IntVar(&o.Network.WorkloadPlaneMTU, "workload-plane-mtu", 0, "lowest MTU of the workload-plane network (default 1460)")
	f.StringVar(&o.Network.PodsCIDR, "pods-cidr", "", "pod network (default "+seed.DefaultPodsCIDR+")")
	f.StringVar(&o.Network.ServicesCIDR, "services-cidr", "", "service network (default "+seed.DefaultServicesCIDR+")")
	f.StringVar(&o.Network.IngressIP, "ingress-ip", "", "control-plane ingress IP (default: the bootstrap node's control-plane IP; required with --metallb)")
	f.BoolVar(&metalLB, "metallb", false, "announce the ingress IP with MetalLB (layer 2)")
	f.StringVar(&o.Network.HTTPProxy, "http-proxy", "", "HTTP proxy of containerd")
	f.StringVar(&o.Network.HTTPSProxy, "https-proxy", "", "HTTPS proxy of containerd")
	f.StringSliceVar(&o.Network.NoProxy, "no-proxy", nil, "hosts, IPs or CIDRs reached without proxy")
	f.StringSliceVar(&o.Network.Archives, "archive", nil, "absolute path of a MetalK8s ISO on the bootstrap node (repeatable)")
	f.StringArrayVar(&featureGates, "feature-gate", nil, "kube-apiserver feature gate NAME=true|false (repeatable)")

	f.StringVar(&o.SigningKey, "signing-key", "", "private key signing the first commit: armored OpenPGP or OpenSSH (required)")
	f.StringVar(&passphraseFile, "signing-key-passphrase-file", "", "file holding the signing key's passphrase")
	f.StringVar(&o.AuthorName, "author-name", "", "commit author name (default: from the signing key's identity)")
	f.StringVar(&o.AuthorEmail, "author-email", "", "commit author e-mail (default: from the signing key's identity)")
	f.StringVar(&o.Message, "message", "", "message of the first commit")
	f.StringVar(&o.ReconcilerConfig, "reconciler-config", "", "also write the reconciler's configuration here (e.g. /etc/mk8s/reconciler.yaml), trusting the signing key, with its trust file alongside")
	f.StringVar(&o.SourceURL, "source-url", "", "repository the reconciler configuration follows (default: the seeded repository)")
	f.StringVar(&date, "date", "", "commit time, RFC 3339 (default now; not before the signing key was made); same inputs and date give the same files and, with an SSH key, the same commit")
	return cmd
}
