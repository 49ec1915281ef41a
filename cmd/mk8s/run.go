package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/daemon"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/secrets"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
	"github.com/metalk8s/mk8s/reconciler/status"
)

type runFlags struct {
	config        string
	kubeconfig    string
	listen        string
	site          string
	webhookSecret string
	watchRepo     string
	noWatch       bool
	leaseNS       string
	shutdownGrace time.Duration
	objectsOnly   bool
	hosts         hostFlags
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --config /etc/mk8s/reconciler.yaml",
		Short: "Run the reconciler daemon: reconcile on every push, poll, webhook or request",
		Long: `Run is the reconciler daemon of the bootstrap node. It reconciles one revision at a time
(source → verify → load → validate → render → apply → prune → wait → record) whenever:
  - the poll interval of the reconciler config elapses (with up to 10% jitter);
  - a push webhook arrives on /webhook, signed with the shared secret in the
    GitHub/Gitea form X-Hub-Signature-256: sha256=<hex> (a wrong or missing
    signature is refused with 401);
  - a ref of the local bare repository moves (git push to the bootstrap node);
  - mk8s reconcile --now asks for it, or mk8s resume lifts a suspend.
Triggers that arrive during a reconcile fold into one follow-up run.

Only the holder of the Lease kube-system/mk8s-<site> reconciles; another daemon started
against the same cluster stands by. The outcome is recorded in the Site object
(mk8s status, kubectl get sites), in Events carrying the revision, and in /metrics.
/healthz answers while the process lives; /readyz once this daemon holds the Lease and
has finished its first reconcile attempt.

On SIGTERM the running reconcile may finish within --shutdown-grace; past it, it is
cancelled and the next start completes it.`,
		Example: `  # The daemon of the bootstrap node
  mk8s run --config /etc/mk8s/reconciler.yaml --kubeconfig /etc/kubernetes/admin.conf \
    --listen 127.0.0.1:9440 --webhook-secret-file /etc/mk8s/webhook-secret

  # Trigger it from a git server hook
  curl -X POST -H "X-Hub-Signature-256: sha256=$(printf %s "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)" \
    --data "$body" http://127.0.0.1:9440/webhook`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.hosts.stateDirSet = cmd.Flags().Changed("state-dir")
			return runDaemon(cmd.Context(), g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", config.DefaultPath, "reconciler configuration (source, trusted keys, poll interval, age identity)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9440", "address of /healthz, /readyz, /metrics and /webhook")
	fl.StringVar(&f.site, "site-name", reconciler.DefaultSiteName, "site name: the Site object, the Lease mk8s-<name>, the inventory key")
	fl.StringVar(&f.webhookSecret, "webhook-secret-file", "", "file holding the push webhook's HMAC secret (no file: no webhook)")
	fl.StringVar(&f.watchRepo, "watch-repo", "", "local bare repository whose refs trigger a reconcile (default: the source when it is a local path)")
	fl.BoolVar(&f.noWatch, "no-watch", false, "do not watch the local source repository")
	fl.StringVar(&f.leaseNS, "lease-namespace", "kube-system", "namespace of the Lease")
	fl.DurationVar(&f.shutdownGrace, "shutdown-grace", 20*time.Second, "how long a reconcile running at shutdown may go on")
	fl.BoolVar(&f.objectsOnly, "objects-only", false, "converge the Kubernetes objects only, not the hosts")
	f.hosts.register(cmd)
	return cmd
}

func runDaemon(ctx context.Context, g *globals, f runFlags) error {
	log := g.logger()
	klog.SetSlogLogger(log) // client-go's leader election logs through klog
	cfg, diags := config.Load(f.config)
	if diags.HasErrors() {
		for _, d := range diags {
			fmt.Fprintln(g.stderr, d.String())
		}
		return &exitError{code: exitCodeError, silent: true}
	}
	kube, err := restConfigFrom(f.kubeconfig)
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	src, err := source.New(cfg, source.Options{Logger: log})
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	watch := f.watchRepo
	if watch == "" && !f.noWatch && config.URLKind(cfg.Source.URL) == config.KindLocal {
		watch = strings.TrimPrefix(cfg.Source.URL, "file://")
	}
	p := &sitePipeline{src: src, ref: cfg.Source.Ref, kube: kube, site: f.site, objectsOnly: f.objectsOnly, log: g,
		openArchive: f.hosts.openArchive()}
	if cfg.Secrets != nil {
		// Loaded once, at start: a key readable by others is refused before anything runs.
		ids, err := secrets.LoadIdentityFile(cfg.Secrets.AgeIdentityFile)
		if err != nil {
			return &exitError{code: exitCodeError, err: fmt.Errorf("%s: secrets.ageIdentityFile: %w", cfg.File, err)}
		}
		p.decrypt = ids.Decrypt
	}
	if !f.objectsOnly {
		if !f.hosts.stateDirSet {
			f.hosts.stateDir = cfg.StateDir
		}
		if p.hosts, err = f.hosts.reconciler(); err != nil {
			return &exitError{code: exitCodeError, err: err}
		}
		if p.volumes, err = f.hosts.volumes(kube, f.site); err != nil {
			return &exitError{code: exitCodeError, err: err}
		}
	}
	err = daemon.Run(ctx, daemon.Options{
		Config:            kube,
		Site:              f.site,
		Source:            &status.SourceRef{URL: cfg.Source.URL, Ref: cfg.Source.Ref},
		Reconcile:         p.reconcile,
		Logger:            log,
		Listen:            f.listen,
		PollInterval:      cfg.PollInterval,
		WebhookSecretFile: f.webhookSecret,
		WatchRepo:         watch,
		Lease:             daemon.LeaseOptions{Namespace: f.leaseNS},
		ShutdownGrace:     f.shutdownGrace,
	})
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	return nil
}

// sitePipeline is one reconcile as the daemon runs it: sync and verify the source,
// reconcile the revision's tree, and mark it applied only when everything succeeded,
// so that a failed or interrupted reconcile is done again by the next one.
type sitePipeline struct {
	src         *source.Source
	ref         string
	kube        *rest.Config
	site        string
	objectsOnly bool
	// hosts converges the hosts: one hostsync.Reconciler per daemon, so that its
	// per-host backoff spans reconciles; nil with --objects-only.
	hosts reconciler.HostReconciler
	// volumes is the Volumes phase; nil with --objects-only.
	volumes reconciler.VolumeReconciler
	// openArchive opens the site's Solution archives, through the cache the host half
	// shares: an ISO is read again only when its file changed.
	openArchive solution.OpenFunc
	// decrypt reads the site's encrypted credentials; nil without secrets.ageIdentityFile.
	decrypt render.DecryptFunc
	log     *globals
}

func (p *sitePipeline) reconcile(ctx context.Context, trig daemon.Trigger) (daemon.Outcome, error) {
	rev, err := p.src.Sync(ctx, source.SyncOptions{})
	if err != nil {
		var refused *verify.RefusedError
		out := daemon.Outcome{Reason: status.ReasonSourceFailed}
		if errors.As(err, &refused) {
			out.Reason, out.Revision = status.ReasonVerificationFailed, p.revision(refused.Commit)
		}
		return out, err
	}
	revision := p.revision(rev.Commit)
	out := daemon.Outcome{Revision: revision}
	if rev.Rollback {
		// The one-shot override of mk8s allow-rollback was used: say so where
		// operators look, since history moved backwards on purpose.
		out.Note = fmt.Sprintf("rollback from %s accepted by the operator's one-shot override (mk8s allow-rollback)", p.revision(rev.From))
	}
	renew := trig.RenewalDue && p.hosts != nil
	if !rev.Changed && trig.LastAppliedRevision == revision && !renew {
		out.NoOp = true
		return out, nil
	}
	if renew && trig.LastAppliedRevision == revision {
		// Certificates age without commits: the renewal the Site's status scheduled
		// converges the hosts at the revision already applied.
		out.Note = "certificate renewal due"
		trig.Progress(revision, "Renewing certificates at revision "+revision)
	} else {
		trig.Progress(revision, "Reconciling revision "+revision)
	}
	res, err := reconciler.Reconcile(ctx, reconciler.Options{
		FS: rev.FS, SiteName: p.site, Kube: p.kube, Hosts: p.hosts, Volumes: p.volumes, ObjectsOnly: p.objectsOnly, Wait: true, Logger: p.log.logger(),
		Decrypt: p.decrypt, OpenArchive: p.openArchive,
	})
	out.Hosts, out.Objects, out.Volumes, out.Certificates = res.Hosts, res.Objects, res.Volumes, res.Certificates
	// A Volume's storage is part of its node's state.
	out.Nodes = nodeResults(append(slices.Clone(res.Hosts), res.Volumes...))
	if res.Inventory != nil {
		out.Inventory = inventoryEntries(res.Inventory)
	}
	if err != nil {
		out.Reason = classify(err, res)
		if errs := res.Diagnostics.Errors(); len(errs) > 0 && errors.Is(err, reconciler.ErrInvalidSite) {
			// The pipeline's error lists every diagnostic; the status keeps the first
			// five (mk8s validate prints them all).
			var b strings.Builder
			b.WriteString(reconciler.ErrInvalidSite.Error() + ":")
			for i, d := range errs.Sort() {
				if i == 5 {
					fmt.Fprintf(&b, "\n… and %d more", len(errs)-5)
					break
				}
				b.WriteString("\n" + d.String())
			}
			err = errors.New(b.String())
		}
		return out, err
	}
	if err := p.src.MarkApplied(ctx, rev); err != nil {
		return out, fmt.Errorf("record revision %s as applied: %w", revision, err)
	}
	return out, nil
}

// revision is the Flux-style name of a commit of the configured ref.
func (p *sitePipeline) revision(commit string) string {
	return p.ref + "@sha1:" + commit
}

func classify(err error, res reconciler.Result) string {
	switch {
	case errors.Is(err, reconciler.ErrInvalidSite), len(res.Diagnostics.Errors()) > 0:
		// Bad input located in the repository (or in what it names: a Solution archive,
		// an encrypted value): the revision is refused as an invalid one.
		return status.ReasonValidationFailed
	case errors.Is(err, objects.ErrPruneAll):
		return status.ReasonPruneRefused
	}
	for _, e := range res.Hosts {
		if e.Action == change.Failed {
			return status.ReasonHostsFailed
		}
	}
	return status.ReasonApplyFailed
}

// nodeResults folds host entries into one result per node: the first failed resource
// names what failed.
func nodeResults(hosts change.Set) []status.NodeResult {
	var out []status.NodeResult
	index := map[string]int{}
	for _, e := range hosts {
		if e.Host == "" {
			continue
		}
		i, ok := index[e.Host]
		if !ok {
			i = len(out)
			index[e.Host] = i
			out = append(out, status.NodeResult{Name: e.Host, Converged: true})
		}
		if e.Action == change.Failed && out[i].Converged {
			out[i] = status.NodeResult{Name: e.Host, FailingResource: e.Subject, Message: e.Message}
		}
	}
	return out
}

func inventoryEntries(inv *objects.Inventory) []status.InventoryEntry {
	out := make([]status.InventoryEntry, 0, len(inv.Entries))
	for _, e := range inv.Entries {
		out = append(out, status.InventoryEntry{ID: e.ID, V: e.Version})
	}
	return out
}
