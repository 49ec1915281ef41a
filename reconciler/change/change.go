package change

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Action is what happened (or, in a plan, what would happen) to one subject.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Deleted    Action = "deleted"
	Skipped    Action = "skipped"
	Failed     Action = "failed"
)

// Entry is the result for one subject: a Kubernetes object (`Kind/namespace/name`) or a
// host resource (`host-1 File /etc/kubernetes/kubelet.conf`).
type Entry struct {
	// Subject names what the entry is about, as printed in logs.
	Subject string `json:"subject"`
	// Host is set for host resources; empty for Kubernetes objects.
	Host string `json:"host,omitempty"`
	// Action is the verb.
	Action Action `json:"action"`
	// Diff is a unified diff (secrets redacted), when the action changes content.
	Diff string `json:"diff,omitempty"`
	// Message explains skips and failures, or notes side effects (a restart).
	Message string `json:"message,omitempty"`
	// Disruptive names the disruption the entry brings, for reviewers: one of the
	// Disruption values; empty when there is none.
	Disruptive Disruption `json:"disruptive,omitempty"`
}

// Disruption is a kind of step the seeds' rules treat with care: it interrupts a
// workload, loses data or changes the control plane's membership.
type Disruption string

const (
	StaticPodRestart Disruption = "static-pod-restart" // kubelet restarts a control-plane pod
	Drain            Disruption = "drain"              // the node's workloads are evicted
	VolumeRemoval    Disruption = "volume-removal"     // a Volume and its storage go away
	NodeRemoval      Disruption = "node-removal"       // a node leaves the cluster
	EtcdMemberChange Disruption = "etcd-member-change" // an etcd member is added or removed
)

func (e Entry) String() string {
	s := e.Subject + " " + string(e.Action)
	if e.Host != "" {
		s = e.Host + " " + s
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

// Set is an ordered list of entries.
type Set []Entry

// Add appends an entry.
func (s *Set) Add(e Entry) { *s = append(*s, e) }

// Changed reports whether any entry is something other than unchanged or skipped.
func (s Set) Changed() bool {
	for _, e := range s {
		if e.Action != Unchanged && e.Action != Skipped {
			return true
		}
	}
	return false
}

// Summary counts entries per action.
func (s Set) Summary() map[Action]int {
	m := map[Action]int{}
	for _, e := range s {
		m[e.Action]++
	}
	return m
}

// SummaryLine renders "2 created, 1 configured, 40 unchanged, 0 deleted" with the four
// main actions always present and skipped/failed only when non-zero.
func (s Set) SummaryLine() string {
	m := s.Summary()
	parts := []string{
		fmt.Sprintf("%d created", m[Created]),
		fmt.Sprintf("%d configured", m[Configured]),
		fmt.Sprintf("%d unchanged", m[Unchanged]),
		fmt.Sprintf("%d deleted", m[Deleted]),
	}
	if m[Skipped] > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", m[Skipped]))
	}
	if m[Failed] > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", m[Failed]))
	}
	return strings.Join(parts, ", ")
}

// Sorted returns the entries ordered by host then subject, for stable output.
func (s Set) Sorted() Set {
	out := slices.Clone(s)
	slices.SortStableFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Subject, b.Subject))
	})
	return out
}
