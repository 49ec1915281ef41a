package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
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
}

func (f *pipelineFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", ".", "site directory")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.siteName, "site-name", reconciler.DefaultSiteName, "site name: value of the mk8s.metalk8s.scality.com/site label and key of the inventory")
	fl.BoolVar(&f.objectsOnly, "objects-only", false, "converge the Kubernetes objects only, not the hosts")
	fl.BoolVar(&f.hostsOnly, "hosts-only", false, "converge the hosts only, not the Kubernetes objects")
	fl.BoolVar(&f.allowPruneAll, "allow-prune-all", false, "allow a render that keeps none of the managed objects to delete them all")
}

// options builds the pipeline options; the cluster config is loaded only when objects
// are in scope.
func (f *pipelineFlags) options(g *globals) (reconciler.Options, error) {
	opts := reconciler.Options{
		Dir: f.dir, SiteName: f.siteName, ObjectsOnly: f.objectsOnly, HostsOnly: f.hostsOnly,
		AllowPruneAll: f.allowPruneAll, Logger: g.logger(),
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
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
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
	var once bool
	cmd := &cobra.Command{
		Use:   "reconcile --once --dir SITE",
		Short: "Run one reconcile of a site: validate, render, apply, prune, wait",
		Long: `Reconcile runs one reconcile of a site directory in this process: it validates the
site (nothing is touched when it is invalid), renders the desired Kubernetes objects,
applies them by server-side apply (field manager "mk8s"; CRDs and namespaces first),
prunes the objects its inventory says it created and the site no longer has, and waits
for them to be healthy. It prints one line per object:
created, configured, unchanged, deleted, skipped or failed.

An unchanged site against an unchanged cluster makes no write request. A site that would
delete every object mk8s manages is refused unless --allow-prune-all is given. Objects
that carry the annotation mk8s.metalk8s.scality.com/recreate: "true" are deleted and
recreated when a change touches an immutable field; others fail with the field named.`,
		Example: `  # Converge the objects of a site against a cluster
  mk8s reconcile --once --dir ./site --kubeconfig /etc/kubernetes/admin.conf --objects-only

  # The same, as JSON for another tool
  mk8s reconcile --once --dir ./site --objects-only -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !once {
				return &exitError{code: exitCodeError, err: errors.New("reconcile runs one reconcile in this process: pass --once (the daemon is `mk8s run`)")}
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
	cmd.Flags().BoolVar(&once, "once", false, "run one reconcile now, in this process, and exit")
	return cmd
}

// printWarnings writes validation warnings to stderr, so that stdout starts with the
// summary.
func printWarnings(w io.Writer, res reconciler.Result) {
	for _, d := range res.Diagnostics.Warnings().Sort() {
		fmt.Fprintln(w, d.String())
	}
}

// printChangesText prints the summary, then one line per entry (changed entries
// first) and, when diffs is set, each entry's diff.
func printChangesText(w io.Writer, title string, res reconciler.Result, diffs bool) error {
	all := res.Changes()
	if _, err := fmt.Fprintf(w, "%s: %s\n", title, all.SummaryLine()); err != nil {
		return err
	}
	for _, changed := range []bool{true, false} {
		for _, e := range all {
			isChange := e.Action != change.Unchanged
			if isChange != changed {
				continue
			}
			fmt.Fprintln(w, e.String())
			if diffs && e.Diff != "" {
				fmt.Fprintln(w, indentDiff(e.Diff))
			}
		}
	}
	return nil
}
