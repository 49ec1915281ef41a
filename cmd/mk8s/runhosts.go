package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/volumes"
	"github.com/metalk8s/mk8s/schema"
)

// hostFlags are the daemon's flags for the host half: how it reaches the nodes over SSH.
type hostFlags struct {
	sshKey          string
	trustOnFirstUse bool
	concurrency     int
	hostTimeout     time.Duration
	packages        string
	netns           string
	// stateDir holds the PKI backup (<stateDir>/pki); the daemon defaults it to its
	// configuration's stateDir.
	stateDir    string
	stateDirSet bool
	renewBefore float64
	restoreCA   bool
	recreateCA  bool
	// archives opens the site's Solution archives, once per change of their file, for
	// every user of the process (see openArchive).
	archives *solution.Cache
}

// openArchive is the process's one Solution archive opener: the host half (the
// bootstrap node's mounts and registry includes) and the pipeline share its cache,
// so that an archive is read and hashed once per change of its file, not per use.
func (f *hostFlags) openArchive() solution.OpenFunc {
	if f.archives == nil {
		f.archives = solution.NewCache(solution.Open)
	}
	return f.archives.Open
}

func (f *hostFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.sshKey, "ssh-key", "", "private key for every node, overriding their metalk8s.scality.com/ssh-key-path")
	fl.BoolVar(&f.trustOnFirstUse, "ssh-trust-on-first-use", false,
		"accept nodes that have no pinned metalk8s.scality.com/ssh-host-key and report the key they presented (a pinned key is always enforced)")
	fl.IntVar(&f.concurrency, "host-concurrency", 10, "hosts converged in parallel in the last wave (workers)")
	fl.DurationVar(&f.hostTimeout, "host-timeout", 5*time.Minute, "bound of the dial, probe and convergence of one host (0: none)")
	fl.StringVar(&f.packages, "packages", "install", "install: install and hold missing packages; probe-only: report them, install nothing")
	fl.StringVar(&f.netns, "ssh-netns", "", "lab only: open the SSH connections from inside this network namespace (/run/netns/NAME)")
	fl.StringVar(&f.stateDir, "state-dir", config.DefaultStateDir,
		"the reconciler's state directory: its pki/ subdirectory backs up the CAs of the bootstrap node (mode 0700)")
	fl.Float64Var(&f.renewBefore, "cert-renew-before", pki.DefaultRenew,
		"re-issue a certificate when less than this fraction of its lifetime is left (MetalK8s: 90 of 365 days; 0: that default)")
}

// registerRecovery adds the one-shot CA recovery flags (plan and reconcile, never the
// daemon: a standing order to re-create CAs would defeat the protection).
func (f *hostFlags) registerRecovery(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.restoreCA, "restore-ca", false,
		"once: put back, from the backup in <state-dir>/pki, CA files missing or broken on the bootstrap node")
	fl.BoolVar(&f.recreateCA, "recreate-ca", false,
		"once: create new CAs for the CA files missing or broken on the bootstrap node, and re-issue every certificate they signed (every node and kubeconfig changes)")
}

// planOptions are the flags as the host half's options: how the nodes are reached and
// what may be done on them.
func (f *hostFlags) planOptions() (hostsync.PlanOptions, error) {
	po := hostsync.PlanOptions{TrustOnFirstUse: f.trustOnFirstUse, HostConcurrency: f.concurrency, HostTimeout: f.hostTimeout,
		OpenArchive: f.openArchive()}
	if f.concurrency < 1 {
		return po, fmt.Errorf("--host-concurrency %d: must be at least 1", f.concurrency)
	}
	switch f.packages {
	case "install":
		po.Packages = resource.PackagesInstall
	case "probe-only":
		po.Packages = resource.PackagesProbeOnly
	default:
		return po, fmt.Errorf("--packages %q: must be install or probe-only", f.packages)
	}
	if f.netns != "" {
		po.Dial = transport.NetnsDial(f.netns)
	}
	if f.renewBefore < 0 || f.renewBefore >= 1 {
		return po, fmt.Errorf("--cert-renew-before %v: must be a fraction between 0 and 1", f.renewBefore)
	}
	po.PKI = hostsync.PKIOptions{RenewBefore: f.renewBefore}
	if f.stateDir != "" {
		po.PKI.BackupDir = filepath.Join(f.stateDir, "pki")
	}
	switch {
	case f.restoreCA && f.recreateCA:
		return po, errors.New("--restore-ca and --recreate-ca exclude each other")
	case f.restoreCA:
		po.PKI.Recovery = pki.RecoveryRestore
	case f.recreateCA:
		po.PKI.Recovery = pki.RecoveryRecreate
	}
	return po, nil
}

// reconciler builds the daemon's one hostsync.Reconciler from the flags.
func (f *hostFlags) reconciler() (reconciler.HostReconciler, error) {
	po, err := f.planOptions()
	if err != nil {
		return nil, err
	}
	r := &hostsync.Reconciler{PlanOptions: po, ApplyOptions: hostsync.ApplyOptions{HostConcurrency: f.concurrency, HostTimeout: f.hostTimeout}}
	if f.sshKey == "" {
		return r, nil
	}
	return &hostsWithIdentity{identityOverride{f.sshKey}, r}, nil
}

// volumes builds the Volumes phase (reconciler/volumes): the site's Volumes made real
// on their nodes, reached as the host half reaches them, and in the cluster.
func (f *hostFlags) volumes(kube *rest.Config, site string) (reconciler.VolumeReconciler, error) {
	po, err := f.planOptions()
	if err != nil {
		return nil, err
	}
	m, err := volumes.New(volumes.Options{Kube: kube, SiteName: site, Storage: &hostsync.VolumeStorage{Options: po}})
	if err != nil {
		return nil, err
	}
	if f.sshKey == "" {
		return m, nil
	}
	return &volumesWithIdentity{identityOverride{f.sshKey}, m}, nil
}

// identityOverride makes every node use one SSH private key, whatever its ssh-key-path
// annotation says: the key lives on the bootstrap node, whose path may differ from the
// one the site names. The site itself is not modified.
type identityOverride struct{ keyPath string }

func (o identityOverride) site(s *schema.Site) *schema.Site {
	c := *s
	c.Nodes = append([]schema.Node(nil), s.Nodes...)
	for i := range c.Nodes {
		c.Nodes[i].SSH.KeyPath = o.keyPath
	}
	return &c
}

// hostsWithIdentity is the host half with an identityOverride.
type hostsWithIdentity struct {
	identityOverride
	next reconciler.HostReconciler
}

func (o *hostsWithIdentity) Plan(ctx context.Context, s *schema.Site) (change.Set, error) {
	return o.next.Plan(ctx, o.site(s))
}

func (o *hostsWithIdentity) Apply(ctx context.Context, s *schema.Site) (change.Set, error) {
	return o.next.Apply(ctx, o.site(s))
}

// Certificates passes on those of the wrapped reconciler (reconciler.CertificateReporter).
func (o *hostsWithIdentity) Certificates() []pki.Certificate {
	if r, ok := o.next.(reconciler.CertificateReporter); ok {
		return r.Certificates()
	}
	return nil
}

// volumesWithIdentity is the Volumes phase with an identityOverride.
type volumesWithIdentity struct {
	identityOverride
	next reconciler.VolumeReconciler
}

func (o *volumesWithIdentity) Plan(ctx context.Context, s *schema.Site) (change.Set, error) {
	return o.next.Plan(ctx, o.site(s))
}

func (o *volumesWithIdentity) Reconcile(ctx context.Context, s *schema.Site) (change.Set, error) {
	return o.next.Reconcile(ctx, o.site(s))
}
