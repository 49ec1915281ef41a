package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
)

func newPlanCmd(g *globals) *cobra.Command {
	var f pipelineFlags
	var rf reviewFlags
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "plan (--dir SITE | --repo REPO --from REV [--to REV])",
		Short: "Show what a reconcile would change, changing nothing",
		Long: `Plan validates and renders a site and compares it with the cluster and the hosts
without changing anything: each object that may have changed is server-side dry-run
applied and diffed against the live object, the objects mk8s created that the site no
longer has are listed as deleted, and each host is probed over SSH (checksums, modes,
unit and package states) for the files, units, packages, sysctl and static pods its roles
need. The plan is exactly what reconcile would do: the summary (created, configured,
unchanged, deleted) comes first, then a unified diff per changed object and host file.
Secret values are redacted.

-o markdown prints the plan for a pull-request comment, -o json as data.
With --exit-code, plan exits 2 when changes are pending and 0 when there is none
(1 on error), so CI can tell them apart.

With --repo, plan reviews a change between two revisions of a site repository, read
from git objects (no checkout): both are validated; without --kubeconfig, what they
render is compared offline (objects with diffs, every host resource, disruptive steps
flagged: static pod restarts, drains, volume and node removals, etcd member changes);
with --kubeconfig, --to is planned against the cluster and the drift of the cluster
from --from is listed. --trust-config checks every commit of --from..--to against the
reconciler's trust, and a rewind is always reported: --exit-code then exits 3 when the
reconciler would refuse the push. See docs/review.md.`,
		Example: `  # What would change on the hosts and in the cluster, as diffs
  mk8s plan --dir ./site --kubeconfig /etc/kubernetes/admin.conf --ssh-key /etc/metalk8s/pki/salt-bootstrap

  # The objects only
  mk8s plan --dir ./site --kubeconfig /etc/kubernetes/admin.conf --objects-only

  # In CI: a markdown comment, and exit 2 when something would change
  mk8s plan --dir ./site --objects-only -o markdown --exit-code

  # Review a pull request offline, with the reconciler's trust (exit 3: it would refuse the push)
  mk8s plan --repo . --from origin/main --to HEAD --trust-config reconciler.yaml -o markdown --exit-code`,
		Annotations: map[string]string{annotationMarkdown: "true"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rf.repo != "" {
				return runReview(cmd, g, &f, &rf, exitCode)
			}
			if rf.from != "" || rf.trustConfig != "" || rf.probeHosts {
				return &exitError{code: exitCodeError, err: errors.New("--from, --to, --trust-config and --probe-hosts review a change: they need --repo")}
			}
			opts, err := f.options(g)
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			res, err := reconciler.Plan(cmd.Context(), opts)
			out := newRunResult(res, err)
			if g.output == "text" {
				printWarnings(g.stderr, res)
			}
			var perr error
			switch g.output {
			case "markdown":
				perr = printPlanMarkdown(g.stdout, res, err)
			default:
				perr = printData(g.stdout, g.output, out, func(w io.Writer) error {
					return printChangesText(w, "Plan", res, true)
				})
			}
			if perr != nil {
				return perr
			}
			if err != nil {
				return &exitError{code: exitCodeError, err: err, silent: g.output != "text"}
			}
			if exitCode && res.Changes().Changed() {
				return &exitError{code: exitCodePending, silent: true}
			}
			return nil
		},
	}
	f.register(cmd)
	f.hosts.registerRecovery(cmd)
	rf.register(cmd)
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 2 when changes are pending, 0 when none; with --repo, 3 when the reconciler would refuse the push")
	return cmd
}

func indentDiff(d string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(d, "\n"), "\n", "\n    ")
}

// printPlanMarkdown writes the plan as a pull-request comment: summary, a table of the
// changes, then one collapsible diff per changed entry.
func printPlanMarkdown(w io.Writer, res reconciler.Result, planErr error) error {
	all := res.Changes()
	fmt.Fprintf(w, "### mk8s plan\n\n**%s**\n\n", all.SummaryLine())
	if planErr != nil {
		fmt.Fprintf(w, "> [!CAUTION]\n> %s\n\n", strings.ReplaceAll(planErr.Error(), "\n", "\n> "))
	}
	for _, d := range res.Diagnostics.Warnings().Sort() {
		fmt.Fprintf(w, "- :warning: `%s`\n", d.String())
	}
	var changed change.Set
	for _, e := range all {
		if e.Action != change.Unchanged {
			changed = append(changed, e)
		}
	}
	if len(changed) == 0 {
		if planErr != nil {
			// The plan is incomplete: "No changes." would read as a clean plan.
			return nil
		}
		_, err := fmt.Fprintln(w, "No changes.")
		return err
	}
	fmt.Fprintln(w, "| action | subject | note |\n|---|---|---|")
	for _, e := range changed {
		subject := e.Subject
		if e.Host != "" {
			subject = e.Host + " " + subject
		}
		note := strings.ReplaceAll(strings.TrimRight(e.Message, "\n"), "|", "\\|")
		// A line break would end the table row (a host's stderr has several lines).
		note = strings.ReplaceAll(strings.ReplaceAll(note, "\r\n", "\n"), "\n", "<br>")
		fmt.Fprintf(w, "| %s | `%s` | %s |\n", e.Action, subject, note)
	}
	for _, e := range changed {
		if e.Diff == "" {
			continue
		}
		// The fence is longer than any run of backticks in the diff, so that a value
		// holding ``` does not end the code block.
		fence := strings.Repeat("`", max(3, longestRun(e.Diff, '`')+1))
		fmt.Fprintf(w, "\n<details><summary><code>%s</code> %s</summary>\n\n%sdiff\n%s\n%s\n\n</details>\n",
			e.Subject, e.Action, fence, strings.TrimRight(e.Diff, "\n"), fence)
	}
	return nil
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c rune) int {
	longest, n := 0, 0
	for _, r := range s {
		if r != c {
			n = 0
			continue
		}
		n++
		longest = max(longest, n)
	}
	return longest
}
