package status

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result is how one reconcile ended, in the terms the status records.
type Result struct {
	// Revision is the revision attempted; empty when the source failed before a
	// revision was known.
	Revision string
	// Reason is ReasonSucceeded or one of the failure reasons.
	Reason string
	// Message is the human summary: what changed, or what failed and where.
	Message string
	// Trigger says what started the reconcile ("poll", "webhook", "git-push", …).
	Trigger string
	// StartedAt and Duration time the reconcile.
	StartedAt time.Time
	Duration  time.Duration
	// Nodes is the per-node result of this attempt; nil when hosts were not reached
	// (the recorded node states are kept as they are).
	Nodes []NodeResult
	// Inventory is the new object inventory; nil keeps the recorded one.
	Inventory []InventoryEntry
	// RequestedAt is the requestedAt annotation value this reconcile handled, if any.
	RequestedAt string
	// Certificates is the summary of the certificates on the nodes; nil keeps the
	// recorded one (the hosts were not reached).
	Certificates *CertificatesStatus
}

// NodeResult is one node's outcome in one attempt.
type NodeResult struct {
	Name string
	// Converged is true when every resource of the node is now as the revision says.
	Converged bool
	// FailingResource and Message say what failed when Converged is false.
	FailingResource string
	Message         string
}

// Succeeded reports whether the result is a success.
func (r Result) Succeeded() bool { return r.Reason == ReasonSucceeded }

// stamp truncates to the second: the API stores metav1.Time at that precision, and a
// status compared after a round trip must stay equal.
func stamp(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }

func setCondition(st *SiteStatus, t string, s metav1.ConditionStatus, reason, msg string, gen int64, now time.Time) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: stamp(now),
	})
}

// MarkReconciling records that a reconcile of revision started and has work to do:
// Reconciling=True, Ready=Unknown, Stalled removed, lastAttemptedRevision set.
func MarkReconciling(st *SiteStatus, generation int64, revision, message string, now time.Time) {
	reason := ReasonProgressing
	if c := st.Condition(ConditionReady); c != nil && c.Status == metav1.ConditionFalse && c.Reason != ReasonSuspended {
		reason = ReasonProgressingWithRetry
	}
	if message == "" {
		message = "Reconciling revision " + revision
	}
	setCondition(st, ConditionReconciling, metav1.ConditionTrue, reason, message, generation, now)
	setCondition(st, ConditionReady, metav1.ConditionUnknown, reason, message, generation, now)
	meta.RemoveStatusCondition(&st.Conditions, ConditionStalled)
	if revision != "" {
		st.LastAttemptedRevision = revision
	}
	st.ObservedGeneration = generation
}

// MarkResult records the end of a reconcile. On success Ready=True at the revision
// and Reconciling/Stalled go away; on a failure Ready=False with the reason, and either
// Stalled=True (the reason is terminal: only a new revision helps) or Reconciling=True
// with ProgressingWithRetry (the next attempt may succeed). lastAppliedRevision only
// moves on success, so a refused revision leaves the previous one applied.
func MarkResult(st *SiteStatus, generation int64, r Result, now time.Time) {
	if r.Revision != "" {
		st.LastAttemptedRevision = r.Revision
	}
	if r.RequestedAt != "" {
		st.LastHandledReconcileAt = r.RequestedAt
	}
	msg := r.Message
	if r.Succeeded() {
		if msg == "" {
			msg = "Applied revision: " + r.Revision
		}
		st.LastAppliedRevision = r.Revision
		setCondition(st, ConditionReady, metav1.ConditionTrue, ReasonSucceeded, msg, generation, now)
		meta.RemoveStatusCondition(&st.Conditions, ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, ConditionStalled)
	} else {
		reason := r.Reason
		if reason == "" {
			reason = ReasonFailed
		}
		if msg == "" {
			msg = reason
		}
		setCondition(st, ConditionReady, metav1.ConditionFalse, reason, msg, generation, now)
		if Terminal(reason) {
			setCondition(st, ConditionStalled, metav1.ConditionTrue, reason, msg, generation, now)
			meta.RemoveStatusCondition(&st.Conditions, ConditionReconciling)
		} else {
			setCondition(st, ConditionReconciling, metav1.ConditionTrue, ReasonProgressingWithRetry, msg, generation, now)
			meta.RemoveStatusCondition(&st.Conditions, ConditionStalled)
		}
	}
	st.ObservedGeneration = generation
	if r.Nodes != nil {
		st.Nodes = mergeNodes(st.Nodes, r.Nodes, r.Revision, now)
	}
	if r.Inventory != nil {
		st.Inventory = &Inventory{Entries: slices.Clone(r.Inventory)}
	}
	if r.Certificates != nil {
		st.Certificates = r.Certificates
	}
	st.History = upsertHistory(st.History, HistoryEntry{
		Revision:  r.Revision,
		Result:    condReason(r),
		Message:   truncate(msg, 512),
		Trigger:   r.Trigger,
		StartedAt: stamp(r.StartedAt),
		Duration:  durationString(r.Duration),
		Count:     1,
	})
}

func condReason(r Result) string {
	if r.Reason == "" {
		return ReasonFailed
	}
	return r.Reason
}

// MarkSuspended records that reconciles are suspended: Ready=False with reason
// Suspended (the cluster is no longer guaranteed to follow the repository), no
// Reconciling and no Stalled.
func MarkSuspended(st *SiteStatus, generation int64, now time.Time) {
	msg := "Reconciliation is suspended (mk8s resume continues it)"
	if st.LastAppliedRevision != "" {
		msg += "; last applied revision: " + st.LastAppliedRevision
	}
	setCondition(st, ConditionReady, metav1.ConditionFalse, ReasonSuspended, msg, generation, now)
	meta.RemoveStatusCondition(&st.Conditions, ConditionReconciling)
	meta.RemoveStatusCondition(&st.Conditions, ConditionStalled)
	st.ObservedGeneration = generation
}

// IsSuspendedRecorded reports whether st already says Suspended for this generation.
func IsSuspendedRecorded(st *SiteStatus, generation int64) bool {
	c := st.Condition(ConditionReady)
	return c != nil && c.Reason == ReasonSuspended && st.ObservedGeneration == generation
}

// MarkInterrupted records a reconcile abandoned on shutdown: it stays Reconciling so
// that kstatus and users see it unfinished; the next start completes it.
func MarkInterrupted(st *SiteStatus, generation int64, revision string, now time.Time) {
	msg := "Reconcile interrupted by shutdown; the next start completes it"
	if revision != "" {
		msg = fmt.Sprintf("Reconcile of revision %s interrupted by shutdown; the next start completes it", revision)
		st.LastAttemptedRevision = revision
	}
	setCondition(st, ConditionReconciling, metav1.ConditionTrue, ReasonInterrupted, msg, generation, now)
	setCondition(st, ConditionReady, metav1.ConditionUnknown, ReasonInterrupted, msg, generation, now)
	meta.RemoveStatusCondition(&st.Conditions, ConditionStalled)
	st.ObservedGeneration = generation
}

// mergeNodes keeps, per node, the last revision fully applied: a converged node moves
// to revision, a failed one keeps its previous revision and says what failed. Nodes
// absent from results are no longer in the site and are dropped.
func mergeNodes(prev []NodeState, results []NodeResult, revision string, now time.Time) []NodeState {
	old := make(map[string]NodeState, len(prev))
	for _, n := range prev {
		old[n.Name] = n
	}
	out := make([]NodeState, 0, len(results))
	for _, r := range results {
		n := NodeState{Name: r.Name}
		o, had := old[r.Name]
		if had {
			n.Revision = o.Revision
		}
		if r.Converged {
			n.Revision = revision
		} else {
			n.FailingResource = r.FailingResource
			n.Message = truncate(r.Message, 1024)
		}
		n.LastTransition = o.LastTransition
		if !had || o.Revision != n.Revision || o.FailingResource != n.FailingResource || n.LastTransition == nil {
			t := stamp(now)
			n.LastTransition = &t
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b NodeState) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// upsertHistory puts e first (newest first), folding it into the newest entry when
// revision and result repeat (a failing revision retried every poll stays one line),
// and keeps HistoryLimit entries.
func upsertHistory(h []HistoryEntry, e HistoryEntry) []HistoryEntry {
	if len(h) > 0 && h[0].Revision == e.Revision && h[0].Result == e.Result {
		e.Count = max(h[0].Count, 1) + 1
		h = slices.Clone(h)
		h[0] = e
		return h
	}
	out := append([]HistoryEntry{e}, h...)
	if len(out) > HistoryLimit {
		out = out[:HistoryLimit]
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
