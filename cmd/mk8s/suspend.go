package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newSuspendCmd(g *globals) *cobra.Command {
	return newSuspendResumeCmd(g, true)
}

func newResumeCmd(g *globals) *cobra.Command {
	return newSuspendResumeCmd(g, false)
}

// newSuspendResumeCmd builds mk8s suspend (suspend=true) or mk8s resume.
func newSuspendResumeCmd(g *globals, suspend bool) *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:   "suspend",
		Short: "Stop reconciling the site until mk8s resume",
		Long: `Suspend sets spec.suspend on the Site object: the reconciler (mk8s run) finishes the
reconcile it may be running, then skips every trigger (poll, webhook, git push,
mk8s reconcile --now) and reports Ready=False with reason Suspended, until mk8s resume.
Nothing is undone: the cluster stays as last applied.`,
		Example: `  # Freeze the cluster during a maintenance
  mk8s suspend --kubeconfig /etc/kubernetes/admin.conf
  mk8s resume --kubeconfig /etc/kubernetes/admin.conf`,
	}
	verb := "suspended"
	if !suspend {
		cmd.Use = "resume"
		cmd.Short = "Resume reconciling a suspended site"
		cmd.Long = `Resume clears spec.suspend on the Site object: the reconciler notices it at once and
reconciles the current revision of the repository.`
		cmd.Example = `  mk8s resume --kubeconfig /etc/kubernetes/admin.conf`
		verb = "resumed"
	}
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := f.client()
		if err != nil {
			return &exitError{code: exitCodeError, err: err}
		}
		site, err := c.Resolve(cmd.Context(), f.site)
		if err != nil {
			return &exitError{code: exitCodeError, err: err}
		}
		site, err = c.SetSuspend(cmd.Context(), site.Name, suspend)
		if err != nil {
			return &exitError{code: exitCodeError, err: err}
		}
		out := suspendResult{Site: site.Name, Suspended: site.Spec.Suspend, LastAppliedRevision: site.Status.LastAppliedRevision}
		return printData(g.stdout, g.output, out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Site %s %s (last applied revision: %s)\n", site.Name, verb, orNone(site.Status.LastAppliedRevision))
			return err
		})
	}
	f.register(cmd)
	return cmd
}

type suspendResult struct {
	Site                string `json:"site"`
	Suspended           bool   `json:"suspended"`
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
}
