package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/review"
	"github.com/metalk8s/mk8s/reconciler/secrets"
	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// exitCodeRefused is plan --exit-code's answer when the reconciler would refuse the
// push (a commit it does not trust, a rewind): worse than pending changes.
const exitCodeRefused = 3

// markdownLimit keeps a review comment within what GitHub (65,536) and Gitea accept.
const markdownLimit = 60000

// reviewFlags are plan's flags for a change between two revisions of a repository.
type reviewFlags struct {
	repo, from, to string
	trustConfig    string
	probeHosts     bool
}

func (f *reviewFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "review a change in this repository (a directory, working tree or bare, or a URL) instead of --dir")
	fl.StringVar(&f.from, "from", "", "with --repo: the base revision, what the reconciler applies (main, origin/main, a hash)")
	fl.StringVar(&f.to, "to", "HEAD", "with --repo: the revision under review")
	fl.StringVar(&f.trustConfig, "trust-config", "", "with --repo: the reconciler's configuration (reconciler.yaml): check the range's signatures with its trust")
	fl.BoolVar(&f.probeHosts, "probe-hosts", false, "with --repo and --kubeconfig: probe the hosts over SSH instead of comparing their rendered state")
}

// reviewView is the JSON and YAML form of a review; docs/review.md documents it.
type reviewView struct {
	*review.Result
	Summary        reviewSummary `json:"summary"`
	WouldBeRefused bool          `json:"wouldBeRefused"`
	Error          string        `json:"error,omitempty"`
}

type reviewSummary struct {
	Objects    map[change.Action]int `json:"objects"`
	Hosts      map[change.Action]int `json:"hosts"`
	Volumes    map[change.Action]int `json:"volumes,omitempty"`
	Disruptive int                   `json:"disruptive"`
	Drift      int                   `json:"drift"`
}

// runReview is mk8s plan --repo: the change --from..--to, offline unless --kubeconfig.
func runReview(cmd *cobra.Command, g *globals, f *pipelineFlags, rf *reviewFlags, exitCode bool) error {
	fail := func(err error) error { return &exitError{code: exitCodeError, err: err} }
	if rf.from == "" {
		return fail(errors.New("--repo needs --from (the base revision: main, origin/main…)"))
	}
	if cmd.Flags().Changed("dir") {
		return fail(errors.New("--dir and --repo exclude each other"))
	}
	// Archives this machine cannot read are reported, not fatal, offline: a CI runner
	// has no Solution ISO.
	opts := review.Options{Repo: rf.repo, From: rf.from, To: rf.to, SiteName: f.siteName, OpenArchive: f.hosts.openArchive()}
	if rf.trustConfig != "" {
		cfg, diags := config.Load(rf.trustConfig)
		if diags.HasErrors() {
			for _, d := range diags {
				fmt.Fprintln(g.stderr, d.String())
			}
			return &exitError{code: exitCodeError, silent: true}
		}
		trust, err := verify.LoadTrust(verify.TrustOptions{OpenPGPKeyFiles: cfg.Trust.OpenPGPKeyFiles, AllowedSignersFile: cfg.Trust.AllowedSignersFile})
		if err != nil {
			return fail(fmt.Errorf("--trust-config %s: %w", rf.trustConfig, err))
		}
		opts.Trust, opts.TrustMode = trust, verify.Mode(cfg.Trust.Mode)
	}
	if f.ageIdentity != "" {
		ids, err := secrets.LoadIdentityFile(f.ageIdentity)
		if err != nil {
			return fail(fmt.Errorf("--age-identity: %w", err))
		}
		opts.Decrypt = ids.Decrypt
	}
	if f.kubeconfig != "" {
		kube, err := restConfigFrom(f.kubeconfig)
		if err != nil {
			return fail(err)
		}
		opts.Live = &review.LiveOptions{Kube: kube, AllowPruneAll: f.allowPruneAll}
		if rf.probeHosts {
			hosts, err := f.hosts.reconciler()
			if err != nil {
				return fail(err)
			}
			opts.Live.Hosts = hosts
			if opts.Live.Volumes, err = f.hosts.volumes(kube, f.siteName); err != nil {
				return fail(err)
			}
		}
	} else if rf.probeHosts {
		return fail(errors.New("--probe-hosts needs --kubeconfig (the live mode)"))
	}

	res, err := review.Plan(cmd.Context(), opts)
	view := reviewView{Result: res, WouldBeRefused: res.WouldBeRefused(), Summary: summarize(res)}
	if err != nil {
		view.Error = err.Error()
	}
	if g.output == "text" {
		for _, d := range slices.Concat(res.Diagnostics.From.Warnings(), res.Diagnostics.To.Warnings()) {
			fmt.Fprintln(g.stderr, d.String())
		}
		for _, d := range res.Diagnostics.To.Errors().Sort() {
			fmt.Fprintln(g.stderr, "--to: "+d.String())
		}
		for _, d := range res.Diagnostics.From.Errors().Sort() {
			fmt.Fprintln(g.stderr, "--from: "+d.String())
		}
	}
	var perr error
	switch {
	case res.To.Commit == "" && g.output == "text":
		// Nothing was read (no such repository or revision): the error says it all.
	case res.To.Commit == "" && g.output == "markdown":
		_, perr = fmt.Fprintf(g.stdout, "### mk8s plan\n\n> [!CAUTION]\n> %s\n", mdText(err.Error()))
	case g.output == "markdown":
		perr = printReviewMarkdown(g.stdout, res, err)
	default:
		perr = printData(g.stdout, g.output, view, func(w io.Writer) error { return printReviewText(w, res) })
	}
	if perr != nil {
		return perr
	}
	switch {
	case err != nil:
		return &exitError{code: exitCodeError, err: err, silent: g.output != "text" && !errors.Is(err, review.ErrInvalid)}
	case exitCode && res.WouldBeRefused():
		return &exitError{code: exitCodeRefused, silent: true}
	case exitCode && res.Changes().Changed():
		return &exitError{code: exitCodePending, silent: true}
	}
	return nil
}

func summarize(r *review.Result) reviewSummary {
	s := reviewSummary{Objects: r.Objects.Summary(), Hosts: r.Hosts.Summary(), Drift: len(r.Drift)}
	if r.Volumes != nil {
		s.Volumes = r.Volumes.Summary()
	}
	for _, e := range r.Changes() {
		if e.Disruptive != "" {
			s.Disruptive++
		}
	}
	return s
}

func shortCommit(h string) string { return h[:min(12, len(h))] }

// changedOnly drops unchanged entries: a reviewer reads what the change does.
func changedOnly(s change.Set) change.Set {
	var out change.Set
	for _, e := range s {
		if e.Action != change.Unchanged {
			out = append(out, e)
		}
	}
	return out
}

// verdictLines are the signature and history findings, one line each.
func verdictLines(r *review.Result) (lines []string, refused bool) {
	if !r.Descends {
		lines = append(lines, fmt.Sprintf("REFUSED: %s (%s) does not descend from %s (%s): a rewind or replaced history; the reconciler refuses it (the operator's one-shot `mk8s allow-rollback` excepted)",
			r.To.Revision, shortCommit(r.To.Commit), r.From.Revision, shortCommit(r.From.Commit)))
	}
	if r.Signatures == nil {
		lines = append(lines, "signatures: not checked (give --trust-config with the reconciler's configuration)")
		return lines, !r.Descends
	}
	var bad int
	for _, c := range r.Signatures.Commits {
		if c.Refused != nil {
			bad++
			lines = append(lines, fmt.Sprintf("REFUSED: %s %q: %s", shortCommit(c.Commit), c.Subject, c.Refused.Error()))
		}
	}
	lines = append([]string{fmt.Sprintf("signatures: %d commit(s) checked against the reconciler's trust, %d would be refused", len(r.Signatures.Commits), bad)}, lines...)
	return lines, r.WouldBeRefused()
}

func printReviewText(w io.Writer, r *review.Result) error {
	fmt.Fprintf(w, "Review of %s (%s %q) → %s (%s %q), %s\n", r.From.Revision, shortCommit(r.From.Commit), r.From.Subject,
		r.To.Revision, shortCommit(r.To.Commit), r.To.Subject, r.Mode)
	lines, _ := verdictLines(r)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	hostsTitle := "Hosts (rendered state compared)"
	if r.HostsMode == "probed" {
		hostsTitle = "Hosts (probed over SSH)"
	}
	objTitle := "Objects"
	if r.Mode == "live" {
		objTitle = "Objects (--to against the cluster)"
	}
	for _, part := range []struct {
		title string
		set   change.Set
	}{{objTitle, r.Objects}, {hostsTitle, r.Hosts}, {"Volumes (storage and PersistentVolumes)", r.Volumes}} {
		if part.set == nil {
			continue // no Volumes phase offline
		}
		fmt.Fprintf(w, "%s: %s\n", part.title, part.set.SummaryLine())
		for _, e := range changedOnly(part.set) {
			fmt.Fprintln(w, entryLine(e))
			if e.Diff != "" {
				fmt.Fprintln(w, indentDiff(e.Diff))
			}
		}
	}
	if dis := disruptive(r); len(dis) > 0 {
		fmt.Fprintf(w, "Disruptive steps (%d):\n", len(dis))
		for _, e := range dis {
			fmt.Fprintln(w, "  "+entryLine(e))
		}
	}
	if r.Mode == "live" {
		fmt.Fprintf(w, "Drift of the cluster from --from %s: %d\n", r.From.Revision, len(r.Drift))
		for _, e := range r.Drift {
			fmt.Fprintln(w, "  "+e.String())
		}
	}
	return nil
}

func entryLine(e change.Entry) string {
	if e.Disruptive != "" {
		return e.String() + " [" + string(e.Disruptive) + "]"
	}
	return e.String()
}

func disruptive(r *review.Result) change.Set {
	var out change.Set
	for _, e := range r.Changes() {
		if e.Disruptive != "" {
			out = append(out, e)
		}
	}
	return out
}

// printReviewMarkdown writes the review as a pull-request comment: the verdict and a
// summary table first, then one collapsible section per object kind and per host. Past
// markdownLimit, sections lose their diffs, then are left out, with a note saying so.
func printReviewMarkdown(w io.Writer, r *review.Result, planErr error) error {
	var head strings.Builder
	fmt.Fprintf(&head, "### mk8s plan: `%s` → `%s`\n\n", r.From.Revision, r.To.Revision)
	fmt.Fprintf(&head, "From `%s` %s to `%s` %s (%s).\n\n", shortCommit(r.From.Commit), mdText(r.From.Subject), shortCommit(r.To.Commit), mdText(r.To.Subject), r.Mode)
	if planErr != nil {
		fmt.Fprintf(&head, "> [!CAUTION]\n> %s\n\n", strings.ReplaceAll(planErr.Error(), "\n", "\n> "))
		for _, d := range r.Diagnostics.To.Errors().Sort() {
			fmt.Fprintf(&head, "- `--to`: `%s`\n", d.String())
		}
		for _, d := range r.Diagnostics.From.Errors().Sort() {
			fmt.Fprintf(&head, "- `--from`: `%s`\n", d.String())
		}
		head.WriteString("\n")
	}
	lines, refused := verdictLines(r)
	if refused {
		head.WriteString("> [!CAUTION]\n> **The reconciler would refuse this push.**\n")
		for _, l := range lines {
			fmt.Fprintf(&head, "> - %s\n", mdText(l))
		}
		head.WriteString("\n")
	} else {
		for _, l := range lines {
			fmt.Fprintf(&head, "%s\n\n", mdText(l))
		}
	}
	o, h := r.Objects.Summary(), r.Hosts.Summary()
	dis := disruptive(r)
	head.WriteString("| | created | configured | deleted | skipped | unchanged |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&head, "| objects | %d | %d | %d | %d | %d |\n", o[change.Created], o[change.Configured], o[change.Deleted], o[change.Skipped], o[change.Unchanged])
	fmt.Fprintf(&head, "| host resources (%s) | %d | %d | %d | %d | %d |\n", r.HostsMode, h[change.Created], h[change.Configured], h[change.Deleted], h[change.Skipped], h[change.Unchanged])
	if r.Volumes != nil {
		v := r.Volumes.Summary()
		fmt.Fprintf(&head, "| volumes | %d | %d | %d | %d | %d |\n", v[change.Created], v[change.Configured], v[change.Deleted], v[change.Skipped], v[change.Unchanged])
	}
	head.WriteString("\n")
	if len(dis) > 0 {
		fmt.Fprintf(&head, "> [!WARNING]\n> %d disruptive step(s):\n", len(dis))
		for _, e := range dis {
			fmt.Fprintf(&head, "> - `%s` %s: %s%s\n", subjectOf(e), e.Action, e.Disruptive, messageSuffix(e))
		}
		head.WriteString("\n")
	}
	if r.Mode == "live" {
		fmt.Fprintf(&head, "Drift of the cluster from `%s`: %d entr%s.\n\n", r.From.Revision, len(r.Drift), map[bool]string{true: "y", false: "ies"}[len(r.Drift) == 1])
	}
	if !r.Changes().Changed() && planErr == nil {
		head.WriteString("No changes.\n")
	}

	sections := groupSections(r)
	var body strings.Builder
	body.WriteString(head.String())
	budget := markdownLimit - 500 // room for the truncation note
	left, withoutDiffs := 0, 0
	for i, s := range sections {
		text, omitted, ok := s.render(budget - body.Len())
		if !ok {
			left = len(sections) - i
			break
		}
		body.WriteString(text)
		withoutDiffs += omitted
	}
	if left > 0 || withoutDiffs > 0 {
		fmt.Fprintf(&body, "\n> [!NOTE]\n> Truncated to fit a comment (%d characters): %d diff(s) and %d section(s) not shown. The whole plan: `mk8s plan --repo … --from %s --to %s -o json`.\n",
			markdownLimit, withoutDiffs, left, r.From.Revision, r.To.Revision)
	}
	_, err := io.WriteString(w, body.String())
	return err
}

func messageSuffix(e change.Entry) string {
	if e.Message == "" {
		return ""
	}
	return " (" + mdText(e.Message) + ")"
}

func subjectOf(e change.Entry) string {
	if e.Host != "" {
		return e.Host + " " + e.Subject
	}
	return e.Subject
}

// mdText escapes what would turn text into markup or break a table row.
func mdText(s string) string {
	s = strings.ReplaceAll(strings.TrimRight(s, "\n"), "|", "\\|")
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "<br>")
}

// section is one collapsible part of the comment: an object kind or a host.
type section struct {
	title   string
	entries change.Set
}

func groupSections(r *review.Result) []section {
	var out []section
	index := map[string]int{}
	add := func(key, title string, e change.Entry) {
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, section{title: title})
		}
		out[i].entries = append(out[i].entries, e)
	}
	for _, e := range changedOnly(r.Objects) {
		kind, _, _ := strings.Cut(e.Subject, "/")
		add("kind "+kind, kind, e)
	}
	for _, e := range changedOnly(r.Hosts) {
		add("host "+e.Host, "host "+e.Host, e)
	}
	for _, e := range changedOnly(r.Volumes) {
		add("volumes", "volumes", e)
	}
	if len(r.Drift) > 0 {
		for _, e := range r.Drift {
			add("drift", "drift from "+r.From.Revision, e)
		}
	}
	return out
}

// render writes the section within room characters: its table, then as many of its
// diffs as fit, each whole (a code fence is never cut). It reports how many diffs were
// left out, and false when not even the table fits.
func (s section) render(room int) (string, int, bool) {
	var b strings.Builder
	counts := s.entries.Summary()
	var parts []string
	for _, a := range []change.Action{change.Created, change.Configured, change.Deleted, change.Skipped, change.Failed} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	fmt.Fprintf(&b, "\n<details><summary><b>%s</b>: %s</summary>\n\n", mdText(s.title), strings.Join(parts, ", "))
	b.WriteString("| action | subject | note |\n|---|---|---|\n")
	for _, e := range s.entries {
		note := mdText(e.Message)
		if e.Disruptive != "" {
			note = "**" + string(e.Disruptive) + "** " + note
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", e.Action, e.Subject, note)
	}
	const closing = "\n_Some diffs are left out to fit the comment._\n\n</details>\n"
	if b.Len()+len(closing) > room {
		return "", 0, false
	}
	omitted := 0
	for _, e := range s.entries {
		if e.Diff == "" {
			continue
		}
		fence := strings.Repeat("`", max(3, longestRun(e.Diff, '`')+1))
		d := fmt.Sprintf("\n`%s`\n%sdiff\n%s\n%s\n", e.Subject, fence, strings.TrimRight(e.Diff, "\n"), fence)
		if b.Len()+len(d)+len(closing) > room {
			omitted++
			continue
		}
		b.WriteString(d)
	}
	if omitted > 0 {
		b.WriteString(closing)
	} else {
		b.WriteString("\n</details>\n")
	}
	return b.String(), omitted, true
}
