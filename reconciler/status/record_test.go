package status

import (
	"strings"
	"testing"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// kstatusOf computes what kstatus (Flux's waiter, kubectl wait tooling) says of a Site
// with this status at generation gen.
func kstatusOf(t *testing.T, st SiteStatus, gen int64) kstatus.Status {
	t.Helper()
	s := Site{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: Kind}, ObjectMeta: metav1.ObjectMeta{Name: "x", Generation: gen}, Status: st}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func cond(t *testing.T, st *SiteStatus, typ string) *metav1.Condition {
	t.Helper()
	return st.Condition(typ)
}

func TestMarkResultSuccessIsReadyAndCurrent(t *testing.T) {
	var st SiteStatus
	MarkReconciling(&st, 1, "main@sha1:aaa", "", t0)
	if got := kstatusOf(t, st, 1); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus while reconciling = %s, want InProgress", got)
	}
	if c := cond(t, &st, ConditionReady); c == nil || c.Status != metav1.ConditionUnknown {
		t.Fatalf("Ready while reconciling = %+v, want Unknown", c)
	}
	MarkResult(&st, 1, Result{Revision: "main@sha1:aaa", Reason: ReasonSucceeded, Trigger: "poll", StartedAt: t0, Duration: 1500 * time.Millisecond}, t0.Add(2*time.Second))
	if c := cond(t, &st, ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonSucceeded {
		t.Fatalf("Ready = %+v", c)
	}
	if cond(t, &st, ConditionReconciling) != nil || cond(t, &st, ConditionStalled) != nil {
		t.Fatalf("Reconciling/Stalled left after success: %+v", st.Conditions)
	}
	if st.LastAppliedRevision != "main@sha1:aaa" || st.LastAttemptedRevision != "main@sha1:aaa" || st.ObservedGeneration != 1 {
		t.Fatalf("revisions/generation = %+v", st)
	}
	if got := kstatusOf(t, st, 1); got != kstatus.CurrentStatus {
		t.Fatalf("kstatus = %s, want Current", got)
	}
	if got := kstatusOf(t, st, 2); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus with a newer generation = %s, want InProgress", got)
	}
	if len(st.History) != 1 || st.History[0].Duration != "1.5s" || st.History[0].Result != ReasonSucceeded {
		t.Fatalf("history = %+v", st.History)
	}
}

func TestTerminalFailureStallsAndKeepsAppliedRevision(t *testing.T) {
	var st SiteStatus
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonSucceeded, StartedAt: t0}, t0)
	MarkResult(&st, 1, Result{Revision: "r2", Reason: ReasonVerificationFailed, Message: "commit r2 is not signed by a trusted key", StartedAt: t0}, t0.Add(time.Minute))
	ready := cond(t, &st, ConditionReady)
	if ready.Status != metav1.ConditionFalse || ready.Reason != ReasonVerificationFailed || !strings.Contains(ready.Message, "not signed") {
		t.Fatalf("Ready = %+v", ready)
	}
	if s := cond(t, &st, ConditionStalled); s == nil || s.Status != metav1.ConditionTrue {
		t.Fatalf("Stalled = %+v", s)
	}
	if st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r2" {
		t.Fatalf("applied %q attempted %q, want r1 r2", st.LastAppliedRevision, st.LastAttemptedRevision)
	}
	if got := kstatusOf(t, st, 1); got != kstatus.FailedStatus {
		t.Fatalf("kstatus = %s, want Failed", got)
	}
}

func TestTransientFailureRetries(t *testing.T) {
	var st SiteStatus
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonHostsFailed, Message: "node-2: File /etc/x: permission denied", StartedAt: t0,
		Nodes: []NodeResult{{Name: "node-1", Converged: true}, {Name: "node-2", FailingResource: "File /etc/x", Message: "permission denied"}}}, t0)
	if c := cond(t, &st, ConditionReconciling); c == nil || c.Reason != ReasonProgressingWithRetry {
		t.Fatalf("Reconciling = %+v", c)
	}
	if cond(t, &st, ConditionStalled) != nil {
		t.Fatal("a transient failure must not stall")
	}
	if got := kstatusOf(t, st, 1); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus = %s, want InProgress", got)
	}
	if st.LastAppliedRevision != "" {
		t.Fatalf("applied %q after a failure", st.LastAppliedRevision)
	}
	if st.Nodes[0].Revision != "r1" || st.Nodes[1].Revision != "" || st.Nodes[1].FailingResource != "File /etc/x" {
		t.Fatalf("nodes = %+v", st.Nodes)
	}
	// The retry of the same revision fails the same way: one history line, count 2.
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonHostsFailed, StartedAt: t0.Add(time.Minute), Nodes: []NodeResult{{Name: "node-1", Converged: true}, {Name: "node-2"}}}, t0.Add(time.Minute))
	if len(st.History) != 1 || st.History[0].Count != 2 {
		t.Fatalf("history = %+v, want one entry with count 2", st.History)
	}
	// Then node-2 converges: it moves to r1 and the failure clears.
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonSucceeded, StartedAt: t0.Add(2 * time.Minute), Nodes: []NodeResult{{Name: "node-1", Converged: true}, {Name: "node-2", Converged: true}}}, t0.Add(2*time.Minute))
	if st.Nodes[1].Revision != "r1" || st.Nodes[1].FailingResource != "" {
		t.Fatalf("node-2 = %+v", st.Nodes[1])
	}
	if len(st.History) != 2 {
		t.Fatalf("history = %+v, want 2 entries", st.History)
	}
}

func TestHistoryKeepsTheLastTen(t *testing.T) {
	var st SiteStatus
	for i := range 15 {
		MarkResult(&st, 1, Result{Revision: "r" + string(rune('a'+i)), Reason: ReasonSucceeded, StartedAt: t0}, t0)
	}
	if len(st.History) != HistoryLimit {
		t.Fatalf("history has %d entries, want %d", len(st.History), HistoryLimit)
	}
	if st.History[0].Revision != "ro" || st.History[9].Revision != "rf" {
		t.Fatalf("history not newest first: %s … %s", st.History[0].Revision, st.History[9].Revision)
	}
}

func TestSuspendedIsNotReadyNotStalled(t *testing.T) {
	var st SiteStatus
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonSucceeded, StartedAt: t0}, t0)
	MarkSuspended(&st, 2, t0)
	c := cond(t, &st, ConditionReady)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonSuspended || !strings.Contains(c.Message, "r1") {
		t.Fatalf("Ready = %+v", c)
	}
	if !IsSuspendedRecorded(&st, 2) || IsSuspendedRecorded(&st, 3) {
		t.Fatal("IsSuspendedRecorded wrong")
	}
	if st.LastAppliedRevision != "r1" {
		t.Fatal("suspend must keep the applied revision")
	}
}

func TestInterruptedStaysReconciling(t *testing.T) {
	var st SiteStatus
	MarkResult(&st, 1, Result{Revision: "r1", Reason: ReasonSucceeded, StartedAt: t0}, t0)
	MarkReconciling(&st, 1, "r2", "", t0)
	MarkInterrupted(&st, 1, "r2", t0)
	if c := cond(t, &st, ConditionReconciling); c == nil || c.Reason != ReasonInterrupted {
		t.Fatalf("Reconciling = %+v", c)
	}
	if st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r2" {
		t.Fatalf("applied %q attempted %q", st.LastAppliedRevision, st.LastAttemptedRevision)
	}
	if got := kstatusOf(t, st, 1); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus = %s, want InProgress", got)
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 600)
	got := truncate(s, 513)
	if len(got) > 513 || !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("truncate broke the string: len %d", len(got))
	}
	for _, r := range got {
		if r == '\uFFFD' {
			t.Fatal("invalid UTF-8")
		}
	}
}

func TestCRDDecodes(t *testing.T) {
	crd, err := CRD()
	if err != nil {
		t.Fatal(err)
	}
	if crd.GetName() != CRDName || crd.GetKind() != "CustomResourceDefinition" {
		t.Fatalf("CRD = %s %s", crd.GetKind(), crd.GetName())
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	if group != Group {
		t.Fatalf("group = %s", group)
	}
}
