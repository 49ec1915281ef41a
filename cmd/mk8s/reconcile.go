package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/daemon"
	"github.com/metalk8s/mk8s/reconciler/secrets"
	"github.com/metalk8s/mk8s/schema/diag"
)

// pipelineFlags are the flags plan and reconcile share.
type pipelineFlags struct {
	dir           string
	kubeconfig    string
	siteName      string
	objectsOnly   bool
	hostsOnly     bool
	allowPruneAll bool
	// ageIdentity is the age identity file that decrypts the site's ENC[AGE,…] values.
	ageIdentity string
	// hosts says how to reach the nodes over SSH (shared with mk8s run).
	hosts hostFlags
}

func (f *pipelineFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", ".", "site directory")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.siteName, "site-name", reconciler.DefaultSiteName, "site name: value of the mk8s.metalk8s.scality.com/site label and key of the inventory")
	fl.BoolVar(&f.objectsOnly, "objects-only", false, "converge the Kubernetes objects only, not the hosts")
	fl.BoolVar(&f.hostsOnly, "hosts-only", false, "converge the hosts only, not the Kubernetes objects")
	fl.BoolVar(&f.allowPruneAll, "allow-prune-all", false, "allow a render that keeps none of the managed objects to delete them all")
	fl.StringVar(&f.ageIdentity, "age-identity", "", "age identity file (AGE-SECRET-KEY-1…, mode 0600) that decrypts the site's ENC[AGE,…] credentials")
	f.hosts.register(cmd)
}

// options builds the pipeline options; the cluster config is loaded only when objects
// are in scope, the SSH side only when hosts are.
func (f *pipelineFlags) options(g *globals) (reconciler.Options, error) {
	opts := reconciler.Options{
		Dir: f.dir, SiteName: f.siteName, ObjectsOnly: f.objectsOnly, HostsOnly: f.hostsOnly,
		AllowPruneAll: f.allowPruneAll, Logger: g.logger(), OpenArchive: f.hosts.openArchive(),
	}
	if f.objectsOnly && f.hostsOnly {
		return opts, errors.New("--objects-only and --hosts-only exclude each other")
	}
	if !f.hostsOnly {
		cfg, err := restConfigFrom(f.kubeconfig)
		if err != nil {
			return opts, err
		}
		opts.Kube = cfg
		if f.ageIdentity != "" {
			ids, err := secrets.LoadIdentityFile(f.ageIdentity)
			if err != nil {
				return opts, fmt.Errorf("--age-identity: %w", err)
			}
			opts.Decrypt = ids.Decrypt
		}
	}
	if !f.objectsOnly {
		hosts, err := f.hosts.reconciler()
		if err != nil {
			return opts, err
		}
		opts.Hosts = hosts
	}
	if !f.objectsOnly && !f.hostsOnly {
		// Volumes need both halves: their objects' UIDs, and their nodes.
		vols, err := f.hosts.volumes(opts.Kube, f.siteName)
		if err != nil {
			return opts, err
		}
		opts.Volumes = vols
	}
	return opts, nil
}

// restConfigFrom loads a kubeconfig file, or the default chain ($KUBECONFIG,
// ~/.kube/config) when path is empty.
func restConfigFrom(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", explainKubeconfig(cc, path, err))
	}
	return cfg, nil
}

// explainKubeconfig replaces client-go's answer for a kubeconfig it finds empty or
// invalid ("no configuration has been provided, try setting KUBERNETES_MASTER") by what
// is wrong with it: no file at all, no current-context, a current-context that does not
// exist, or a context naming a cluster the file does not define.
func explainKubeconfig(cc clientcmd.ClientConfig, path string, err error) error {
	if !clientcmd.IsEmptyConfig(err) && !clientcmd.IsConfigurationInvalid(err) {
		return err
	}
	raw, rerr := cc.RawConfig()
	if rerr != nil {
		return err
	}
	from := path
	if from == "" {
		from = "the default kubeconfig ($KUBECONFIG, ~/.kube/config)"
	}
	if len(raw.Contexts) == 0 && len(raw.Clusters) == 0 {
		if path == "" {
			return errors.New("no kubeconfig found: pass --kubeconfig FILE or set KUBECONFIG")
		}
		return fmt.Errorf("%s defines no cluster and no context", from)
	}
	if raw.CurrentContext == "" {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		return fmt.Errorf("%s sets no current-context (its contexts: %s); set one with kubectl config use-context",
			from, strings.Join(names, ", "))
	}
	c, ok := raw.Contexts[raw.CurrentContext]
	if !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		return fmt.Errorf("%s: current-context %q is not one of its contexts (%s)", from, raw.CurrentContext, strings.Join(names, ", "))
	}
	if raw.Clusters[c.Cluster] == nil {
		return fmt.Errorf("%s: context %q names cluster %q, which it does not define", from, raw.CurrentContext, c.Cluster)
	}
	return err
}

// runResult is the data form of reconcile and plan (-o json|yaml).
type runResult struct {
	Summary  map[change.Action]int `json:"summary"`
	Changes  change.Set            `json:"changes"`
	Warnings []diag.Diagnostic     `json:"warnings,omitempty"`
	Errors   []diag.Diagnostic     `json:"errors,omitempty"`
	Error    string                `json:"error,omitempty"`
}

func newRunResult(res reconciler.Result, err error) runResult {
	all := res.Changes()
	out := runResult{Summary: all.Summary(), Changes: all, Warnings: res.Diagnostics.Warnings().Sort(),
		Errors: res.Diagnostics.Errors().Sort()}
	if out.Changes == nil {
		out.Changes = change.Set{}
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func newReconcileCmd(g *globals) *cobra.Command {
	var f pipelineFlags
	var once, now bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reconcile (--once --dir SITE | --now)",
		Short: "Run one reconcile of a site now: in this process (--once) or by the daemon (--now)",
		Long: `With --once, reconcile runs one reconcile of a site directory in this process: it
validates the site (nothing is touched when it is invalid), converges the hosts over SSH
(bootstrap first, etcd members and masters one at a time, then the rest in parallel),
renders the desired Kubernetes objects, applies them by server-side apply (field manager
"mk8s"; CRDs and namespaces first), prunes the objects its inventory says it created and
the site no longer has, and waits for them to be healthy. It prints one line per object
and host resource: created, configured, unchanged, deleted, skipped or failed.

An unchanged site against an unchanged cluster makes no write request. A site that would
delete every object mk8s manages is refused unless --allow-prune-all is given. Objects
that carry the annotation mk8s.metalk8s.scality.com/recreate: "true" are deleted and
recreated when a change touches an immutable field; others fail with the field named.
Host keys must be pinned in the nodes' metalk8s.scality.com/ssh-host-key annotations
(--ssh-trust-on-first-use accepts and reports unpinned ones).

With --now, reconcile asks the running daemon (mk8s run) to reconcile at once, waits for
it to finish (--timeout) and prints the site's status; it exits 1 when the site is not
Ready afterwards.`,
		Example: `  # Converge hosts and objects of a site directory
  mk8s reconcile --once --dir ./site --kubeconfig /etc/kubernetes/admin.conf \
    --ssh-key /etc/metalk8s/pki/salt-bootstrap

  # The objects only, as JSON for another tool
  mk8s reconcile --once --dir ./site --objects-only -o json

  # Ask the daemon to reconcile now and wait for the result
  mk8s reconcile --now --kubeconfig /etc/kubernetes/admin.conf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case once && now:
				return &exitError{code: exitCodeError, err: errors.New("--once and --now exclude each other")}
			case now:
				return requestReconcileNow(cmd, g, f, timeout)
			case !once:
				return &exitError{code: exitCodeError, err: errors.New("pass --once (reconcile in this process) or --now (ask the daemon, mk8s run)")}
			}
			opts, err := f.options(g)
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			opts.Wait = true
			res, err := reconciler.Reconcile(cmd.Context(), opts)
			out := newRunResult(res, err)
			if g.output == "text" {
				printWarnings(g.stderr, res)
			}
			if perr := printData(g.stdout, g.output, out, func(w io.Writer) error {
				return printChangesText(w, "Reconcile", res, false)
			}); perr != nil {
				return perr
			}
			if err != nil {
				return &exitError{code: exitCodeError, err: err, silent: g.output != "text"}
			}
			return nil
		},
	}
	f.register(cmd)
	f.hosts.registerRecovery(cmd)
	cmd.Flags().BoolVar(&once, "once", false, "run one reconcile now, in this process, and exit")
	cmd.Flags().BoolVar(&now, "now", false, "ask the running daemon to reconcile now and wait for it")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --now: how long to wait for the daemon's reconcile")
	return cmd
}

// requestReconcileNow asks the daemon to reconcile (an annotation on the Site, as Flux's
// reconcile.fluxcd.io/requestedAt) and waits until it has handled that request.
func requestReconcileNow(cmd *cobra.Command, g *globals, f pipelineFlags, timeout time.Duration) error {
	cfg, err := restConfigFrom(f.kubeconfig)
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	token, err := daemon.RequestReconcile(ctx, cfg, f.siteName)
	if err != nil {
		return &exitError{code: exitCodeError, err: fmt.Errorf("requesting a reconcile of site %s: %w", f.siteName, err)}
	}
	site, err := daemon.WaitForReconcile(ctx, cfg, f.siteName, token)
	if err != nil {
		return &exitError{code: exitCodeError, err: fmt.Errorf("waiting for the daemon to reconcile site %s: %w", f.siteName, err)}
	}
	if err := printData(g.stdout, g.output, site, func(w io.Writer) error {
		return printSiteText(w, site, time.Now())
	}); err != nil {
		return err
	}
	if !site.IsReady() {
		return &exitError{code: exitCodeError, silent: true}
	}
	return nil
}

// printWarnings writes validation warnings to stderr, so that stdout starts with the
// summary.
func printWarnings(w io.Writer, res reconciler.Result) {
	for _, d := range res.Diagnostics.Warnings().Sort() {
		fmt.Fprintln(w, d.String())
	}
}

// printChangesText prints the summary, then one line per entry — what changes or fails
// first (with its diff when diffs is set), then what is skipped, then what is unchanged —
// so that a reviewer reads the changes before the noise.
func printChangesText(w io.Writer, title string, res reconciler.Result, diffs bool) error {
	all := res.Changes()
	if _, err := fmt.Fprintf(w, "%s: %s\n", title, all.SummaryLine()); err != nil {
		return err
	}
	rank := func(a change.Action) int {
		switch a {
		case change.Unchanged:
			return 2
		case change.Skipped:
			return 1
		default:
			return 0
		}
	}
	for r := 0; r <= 2; r++ {
		for _, e := range all {
			if rank(e.Action) != r {
				continue
			}
			if _, err := fmt.Fprintln(w, e.String()); err != nil {
				return err
			}
			if diffs && e.Diff != "" {
				if _, err := fmt.Fprintln(w, indentDiff(e.Diff)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
