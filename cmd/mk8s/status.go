package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// siteFlags are the flags of the commands that read or flip the Site object.
type siteFlags struct {
	kubeconfig string
	site       string
}

func (f *siteFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVar(&f.site, "site-name", "", "name of the Site object (default: the only one in the cluster)")
}

func (f *siteFlags) client() (*status.Client, error) {
	cfg, err := restConfigFrom(f.kubeconfig)
	if err != nil {
		return nil, err
	}
	return status.NewClient(cfg)
}

// siteView is the data form of mk8s status (-o json|yaml): the Site as stored, without
// managed fields.
type siteView struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   siteMeta          `json:"metadata"`
	Spec       status.SiteSpec   `json:"spec"`
	Status     status.SiteStatus `json:"status"`
}

type siteMeta struct {
	Name              string            `json:"name"`
	Generation        int64             `json:"generation"`
	CreationTimestamp metav1.Time       `json:"creationTimestamp"`
	Annotations       map[string]string `json:"annotations,omitempty"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the reconciler last did: conditions, revisions, nodes, history",
		Long: `Status reads the Site object the reconciler (mk8s run) keeps in the cluster and prints
its Ready condition, the last applied and last attempted revisions, the state of each
node, the size of the object inventory, the certificates (the next to expire, the next
renewal, the CAs) and the last reconciles, newest first.

It exits 0 when the site is Ready, and 1 otherwise: reconciling, failed (the reason says
why: ValidationFailed, VerificationFailed, HostsFailed, ApplyFailed, PruneRefused, …),
suspended, or no status yet. -o json|yaml print the Site object as data.`,
		Example: `  # Is the cluster at the revision of the repository?
  mk8s status --kubeconfig /etc/kubernetes/admin.conf

  # The same as data, for a script
  mk8s status -o json | jq .status.lastAppliedRevision`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			site, err := c.Resolve(cmd.Context(), f.site)
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			view := siteView{APIVersion: status.APIVersion, Kind: status.Kind, Spec: site.Spec, Status: site.Status,
				Metadata: siteMeta{Name: site.Name, Generation: site.Generation, CreationTimestamp: site.CreationTimestamp, Annotations: site.Annotations}}
			if err := printData(g.stdout, g.output, view, func(w io.Writer) error {
				return printSiteText(w, site, time.Now())
			}); err != nil {
				return err
			}
			if !site.IsReady() {
				return &exitError{code: exitCodeError, silent: true}
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// printSiteText is the human summary, readable without kubectl.
func printSiteText(w io.Writer, site *status.Site, now time.Time) error {
	st := &site.Status
	ready := st.Condition(status.ConditionReady)
	state, reason, msg := "Unknown", "NoStatus", "the reconciler has not recorded anything yet"
	if ready != nil {
		reason, msg = ready.Reason, ready.Message
		switch {
		case ready.Status == metav1.ConditionTrue:
			state = "Ready"
		case ready.Reason == status.ReasonSuspended:
			state = "Suspended"
		case st.Condition(status.ConditionStalled) != nil:
			state = "Stalled"
		case st.Condition(status.ConditionReconciling) != nil:
			state = "Reconciling"
		default:
			state = "NotReady"
		}
	}
	fmt.Fprintf(w, "Site %s: %s (%s)\n", site.Name, state, reason)
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if s := site.Spec.Source; s != nil && s.URL != "" {
		fmt.Fprintf(tw, "Source:\t%s (%s)\n", s.URL, s.Ref)
	}
	fmt.Fprintf(tw, "Suspended:\t%s\n", yesNo(site.Spec.Suspend))
	fmt.Fprintf(tw, "Last applied:\t%s\n", orNone(st.LastAppliedRevision))
	fmt.Fprintf(tw, "Last attempted:\t%s\n", orNone(st.LastAttemptedRevision))
	if st.Inventory != nil {
		fmt.Fprintf(tw, "Inventory:\t%d objects\n", len(st.Inventory.Entries))
	}
	if c := st.Certificates; c != nil {
		fmt.Fprintf(tw, "Certificates:\t%d on the nodes\n", c.Count)
		if e := c.NextExpiry; e != nil {
			fmt.Fprintf(tw, "Next expiry:\t%s %s on %s (%s)\n", e.Node, e.Path, day(e.NotAfter.Time), until(now, e.NotAfter.Time, "EXPIRED"))
		}
		if r := c.NextRenewal; r != nil {
			fmt.Fprintf(tw, "Next renewal:\t%s (%s)\n", day(r.Time), until(now, r.Time, "due"))
		}
	}
	if st.ObservedGeneration != site.Generation && ready != nil {
		fmt.Fprintf(tw, "Note:\tthe reconciler has not seen the latest spec yet (generation %d, observed %d)\n", site.Generation, st.ObservedGeneration)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Conditions) > 0 {
		fmt.Fprintln(w, "\nCONDITIONS")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
		for _, c := range st.Conditions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, ago(now, c.LastTransitionTime.Time), oneLine(c.Message, 100))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Nodes) > 0 {
		fmt.Fprintln(w, "\nNODES")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tREVISION\tSTATE\tFAILING RESOURCE\tMESSAGE")
		for _, n := range st.Nodes {
			state := "converged"
			switch {
			case n.FailingResource != "" || n.Message != "":
				state = "failed"
			case n.Revision == "":
				state = "pending"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, orNone(shortRevision(n.Revision)), state, dash(n.FailingResource), oneLine(dash(n.Message), 80))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if c := st.Certificates; c != nil && len(c.Authorities) > 0 {
		fmt.Fprintln(w, "\nCERTIFICATE AUTHORITIES (never renewed by mk8s: see docs/pki.md)")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tEXPIRES\tIN")
		for _, a := range c.Authorities {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Path, day(a.NotAfter.Time), until(now, a.NotAfter.Time, "EXPIRED"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.History) > 0 {
		fmt.Fprintln(w, "\nHISTORY (newest first)")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STARTED\tREVISION\tRESULT\tDURATION\tTRIGGER\tTIMES")
		for _, h := range st.History {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", ago(now, h.StartedAt.Time), orNone(shortRevision(h.Revision)), h.Result, dash(h.Duration), dash(h.Trigger), max(h.Count, 1))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

var longHash = regexp.MustCompile(`[0-9a-f]{40,64}`)

// shortRevision abbreviates commit hashes to 12 characters, as git log --abbrev does.
func shortRevision(rev string) string {
	return longHash.ReplaceAllStringFunc(rev, func(h string) string { return h[:12] })
}

// day is a date as operators read expiries: UTC, to the minute.
func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// until says how far t is from now, in days past two days ("in 364d"); past a
// past-tense verb ("EXPIRED 3h00m ago", "due 5m ago").
func until(now, t time.Time, past string) string {
	d, format := t.Sub(now), "in %s"
	if d < 0 {
		d, format = -d, past+" %s ago"
	}
	var span string
	switch {
	case d < time.Hour:
		span = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		span = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		span = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf(format, span)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
