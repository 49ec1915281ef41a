package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/status"
)

func postHook(t *testing.T, r *running, body []byte, sig string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url("/webhook"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookHMAC: a wrong or missing signature is 401 and queues nothing; a right
// one queues exactly one reconcile.
func TestWebhookHMAC(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	r := start(t, Options{Site: siteName(t), Reconcile: rec.reconcile, WebhookSecretFile: secret, WebhookMaxBody: 4096})
	if tr := rec.next(t); !reasonsAre(tr, TriggerStart) {
		t.Fatalf("first run reasons %v", tr.Reasons)
	}
	r.waitReady(t)
	body := []byte(`{"ref":"refs/heads/main","after":"0123"}`)

	for _, sig := range []string{"", Sign([]byte("wrong"), body), "sha1=abcd", "sha256=zz", Sign([]byte("s3cret"), []byte("other body"))} {
		if code := postHook(t, r, body, sig); code != http.StatusUnauthorized {
			t.Fatalf("signature %q: status %d, want 401", sig, code)
		}
	}
	if code := postHook(t, r, bytes.Repeat([]byte("x"), 5000), Sign([]byte("s3cret"), bytes.Repeat([]byte("x"), 5000))); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413", code)
	}
	// A probe proves the refused requests queued nothing: the next run is the probe alone.
	r.d.queue.Add("probe")
	if tr := rec.next(t); !reasonsAre(tr, "probe") {
		t.Fatalf("after refused webhooks the next run has reasons %v, want [probe]", tr.Reasons)
	}

	if code := postHook(t, r, body, Sign([]byte("s3cret"), body)); code != http.StatusAccepted {
		t.Fatalf("right signature: status %d, want 202", code)
	}
	if tr := rec.next(t); !reasonsAre(tr, TriggerWebhook) {
		t.Fatalf("webhook run reasons %v", tr.Reasons)
	}
	r.d.queue.Add("probe")
	if tr := rec.next(t); !reasonsAre(tr, "probe") {
		t.Fatalf("after one good webhook the next run has reasons %v, want [probe]", tr.Reasons)
	}
	if n := rec.count(); n != 4 {
		t.Fatalf("%d reconciles, want 4 (start, probe, webhook, probe)", n)
	}
	if got := counter(t, r.d, "mk8s_webhook_requests_total", map[string]string{"code": "401"}); got != 5 {
		t.Fatalf("401 counter = %v, want 5", got)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestGitPushToLocalBareRepoTriggers: a real `git push` into the watched bare
// repository triggers a reconcile, including a new branch with a slash in its name.
func TestGitPushToLocalBareRepoTriggers(t *testing.T) {
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "site.git"), filepath.Join(dir, "work")
	git(t, dir, "init", "--bare", "-b", "main", bare)
	git(t, dir, "init", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "cluster.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", ".")
	git(t, work, "commit", "-m", "one")

	rec := newRecorder()
	r := start(t, Options{Site: siteName(t), Reconcile: rec.reconcile, WatchRepo: bare})
	if tr := rec.next(t); !reasonsAre(tr, TriggerStart) {
		t.Fatalf("first run reasons %v", tr.Reasons)
	}
	r.waitReady(t)

	git(t, work, "push", bare, "main")
	if tr := rec.next(t); !reasonsAre(tr, TriggerGitPush) {
		t.Fatalf("run after push has reasons %v, want [git-push]", tr.Reasons)
	}

	if err := os.WriteFile(filepath.Join(work, "cluster.yaml"), []byte("a: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "commit", "-am", "two")
	git(t, work, "push", bare, "main:feature/x")
	if tr := rec.next(t); !reasonsAre(tr, TriggerGitPush) {
		t.Fatalf("run after push of a new namespaced branch has reasons %v", tr.Reasons)
	}
	git(t, work, "push", bare, "main")
	if tr := rec.next(t); !reasonsAre(tr, TriggerGitPush) {
		t.Fatalf("run after second push has reasons %v", tr.Reasons)
	}
}

// TestTriggersDuringARunCoalesce: five triggers arriving during one run make exactly
// one follow-up run that lists them all.
func TestTriggersDuringARunCoalesce(t *testing.T) {
	rec := newRecorder()
	rec.block = true
	r := start(t, Options{Site: siteName(t), Reconcile: rec.reconcile})
	if tr := rec.next(t); !reasonsAre(tr, TriggerStart) {
		t.Fatalf("first run reasons %v", tr.Reasons)
	}
	for _, reason := range []string{TriggerWebhook, TriggerGitPush, TriggerPoll, TriggerWebhook, TriggerRequested} {
		r.d.queue.Add(reason)
	}
	rec.hold <- struct{}{} // finish the first run
	if tr := rec.next(t); !reasonsAre(tr, TriggerWebhook, TriggerGitPush, TriggerPoll, TriggerRequested) {
		t.Fatalf("follow-up run reasons %v", tr.Reasons)
	}
	rec.hold <- struct{}{}
	r.d.queue.Add("probe")
	if tr := rec.next(t); !reasonsAre(tr, "probe") {
		t.Fatalf("third run reasons %v, want [probe]: the triggers did not coalesce", tr.Reasons)
	}
	rec.hold <- struct{}{}
	if n := rec.count(); n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
}

// TestOnlyTheLeaseHolderReconciles: two daemons started at once on one apiserver; one
// holds the Lease and reconciles, the other stays idle and not ready; when the holder
// stops it releases the Lease and the other takes over.
func TestOnlyTheLeaseHolderReconciles(t *testing.T) {
	site := siteName(t)
	recA, recB := newRecorder(), newRecorder()
	a := start(t, Options{Site: site, Reconcile: recA.reconcile, Lease: LeaseOptions{Identity: "daemon-a"}})
	b := start(t, Options{Site: site, Reconcile: recB.reconcile, Lease: LeaseOptions{Identity: "daemon-b"}})

	var leader, standby *running
	var leaderRec, standbyRec *recorder
	eventually(t, "one daemon ready", func() bool {
		ca, _ := a.get(t, "/readyz")
		cb, _ := b.get(t, "/readyz")
		switch {
		case ca == 200 && cb != 200:
			leader, standby, leaderRec, standbyRec = a, b, recA, recB
		case cb == 200 && ca != 200:
			leader, standby, leaderRec, standbyRec = b, a, recB, recA
		case ca == 200 && cb == 200:
			t.Fatal("both daemons are ready")
		}
		return leader != nil
	})
	code, why := standby.get(t, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(why, "Lease") {
		t.Fatalf("standby readyz = %d %q", code, why)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(context.Background(), "mk8s-"+site, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder(lease) != leader.d.Identity() {
		t.Fatalf("Lease held by %q, want %q", holder(lease), leader.d.Identity())
	}
	// Trigger both: only the holder runs.
	leader.d.queue.Add("probe")
	standby.d.queue.Add("probe")
	if tr := leaderRec.next(t); !reasonsAre(tr, TriggerStart) {
		t.Fatalf("leader first run %v", tr.Reasons)
	}
	if tr := leaderRec.next(t); !reasonsAre(tr, "probe") {
		t.Fatalf("leader second run %v", tr.Reasons)
	}
	if n := standbyRec.count(); n != 0 {
		t.Fatalf("the standby reconciled %d times", n)
	}
	if got := counter(t, standby.d, "mk8s_leader", nil); got != 0 {
		t.Fatalf("standby mk8s_leader = %v", got)
	}

	// The holder stops, releases the Lease; the standby takes over (the probe queued
	// while it stood by is folded into its start run).
	leader.stop()
	tr := standbyRec.next(t)
	if tr.Reasons[0] != "probe" && tr.Reasons[0] != TriggerStart {
		t.Fatalf("standby first run %v", tr.Reasons)
	}
	standby.waitReady(t)
	lease, err = cs.CoordinationV1().Leases("kube-system").Get(context.Background(), "mk8s-"+site, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder(lease) != standby.d.Identity() {
		t.Fatalf("Lease held by %q after failover, want %q", holder(lease), standby.d.Identity())
	}
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestSuspendAndResume: with spec.suspend the daemon records Suspended and skips
// triggers; resume reconciles again at once.
func TestSuspendAndResume(t *testing.T) {
	site := siteName(t)
	rec := newRecorder()
	rec.out = func(Trigger) (Outcome, error) { return Outcome{Revision: "main@sha1:aaaa"}, nil }
	r := start(t, Options{Site: site, Reconcile: rec.reconcile})
	rec.next(t)
	r.waitReady(t)
	c := statusClient(t)
	ctx := context.Background()

	if _, err := c.SetSuspend(ctx, site, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ready=False Suspended", func() bool {
		s, err := c.Get(ctx, site)
		return err == nil && s.Status.Condition(status.ConditionReady).Reason == status.ReasonSuspended
	})
	before := counter(t, r.d, "mk8s_reconcile_total", map[string]string{"result": resultSuspended})
	r.d.queue.Add("probe")
	eventually(t, "the probe handled as suspended", func() bool {
		return counter(t, r.d, "mk8s_reconcile_total", map[string]string{"result": resultSuspended}) > before
	})
	if n := rec.count(); n != 1 {
		t.Fatalf("%d reconciles while suspended, want only the first", n)
	}
	if got := counter(t, r.d, "mk8s_suspended", nil); got != 1 {
		t.Fatalf("mk8s_suspended = %v", got)
	}

	if _, err := c.SetSuspend(ctx, site, false); err != nil {
		t.Fatal(err)
	}
	if tr := rec.next(t); !reasonsAre(tr, TriggerResume) {
		t.Fatalf("run after resume reasons %v", tr.Reasons)
	}
	eventually(t, "Ready=True after resume", func() bool {
		s, err := c.Get(ctx, site)
		return err == nil && s.IsReady() && s.Status.LastAppliedRevision == "main@sha1:aaaa"
	})
}

// TestStatusEventsAndMetricsOfOutcomes: success then a refused revision are recorded in
// the Site (conditions, revisions, nodes, history), in Events carrying the revision,
// and in /metrics; a request through RequestReconcile is acknowledged.
func TestStatusEventsAndMetricsOfOutcomes(t *testing.T) {
	site := siteName(t)
	rec := newRecorder()
	rec.out = func(tr Trigger) (Outcome, error) {
		if tr.LastAppliedRevision == "" {
			tr.Progress("main@sha1:1111", "Applying revision main@sha1:1111")
			return Outcome{Revision: "main@sha1:1111",
				Objects:   change.Set{{Subject: "ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config", Action: change.Created}},
				Hosts:     change.Set{{Host: "node-1", Subject: "File /etc/x", Action: change.Configured}},
				Nodes:     []status.NodeResult{{Name: "node-1", Converged: true}},
				Inventory: []status.InventoryEntry{{ID: "metalk8s-monitoring_metalk8s-prometheus-config__ConfigMap", V: "v1"}},
			}, nil
		}
		return Outcome{Revision: "main@sha1:2222", Reason: status.ReasonVerificationFailed}, errors.New("commit 2222 is not signed by a trusted key")
	}
	r := start(t, Options{Site: site, Reconcile: rec.reconcile, Source: &status.SourceRef{URL: "file:///srv/site.git", Ref: "main"}})
	rec.next(t)
	r.waitReady(t)
	c := statusClient(t)
	ctx := context.Background()

	s, err := c.Get(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsReady() || s.Status.LastAppliedRevision != "main@sha1:1111" || len(s.Status.Nodes) != 1 || s.Status.Inventory == nil {
		t.Fatalf("after success: %+v", s.Status)
	}
	if got := counter(t, r.d, "mk8s_last_applied_revision_info", map[string]string{"revision": "main@sha1:1111"}); got != 1 {
		t.Fatalf("last applied info = %v", got)
	}

	token, err := RequestReconcile(ctx, env.Config, site)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err = WaitForReconcile(wctx, env.Config, site, token)
	if err != nil {
		t.Fatal(err)
	}
	if tr := rec.next(t); !strings.Contains(strings.Join(tr.Reasons, ","), TriggerRequested) || tr.RequestedAt != token {
		t.Fatalf("requested run: reasons %v token %q", tr.Reasons, tr.RequestedAt)
	}
	if s.IsReady() || s.Status.Condition(status.ConditionStalled) == nil || s.Status.LastAppliedRevision != "main@sha1:1111" ||
		s.Status.LastAttemptedRevision != "main@sha1:2222" || len(s.Status.History) != 2 {
		t.Fatalf("after a refused revision: %+v", s.Status)
	}

	events, err := c.ListEvents(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	var sawOK, sawRefused bool
	for _, e := range events {
		switch {
		case e.Reason == status.ReasonSucceeded && e.Annotations[status.RevisionAnnotation] == "main@sha1:1111" && strings.Contains(e.Message, "main@sha1:1111"):
			sawOK = true
		case e.Reason == status.ReasonVerificationFailed && e.Type == "Warning" && e.Annotations[status.RevisionAnnotation] == "main@sha1:2222" && strings.Contains(e.Message, "main@sha1:2222"):
			sawRefused = true
		}
	}
	if !sawOK || !sawRefused {
		t.Fatalf("events %+v", events)
	}
	_, body := r.get(t, "/metrics")
	for _, want := range []string{
		`mk8s_reconcile_total{reason="ReconciliationSucceeded",result="success"} 1`,
		`mk8s_reconcile_total{reason="VerificationFailed",result="failure"} 1`,
		`mk8s_last_applied_revision_info{revision="main@sha1:1111"} 1`,
		`mk8s_host_resources_total{action="configured",host="node-1"} 1`,
		`mk8s_objects_total{action="created"} 1`,
		`mk8s_reconcile_duration_seconds_count 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
}

// TestShutdownInterruptsAndNextStartCompletes: a reconcile still running when the
// shutdown grace ends is cancelled and recorded as interrupted; the Lease is released;
// the next daemon completes it.
func TestShutdownInterruptsAndNextStartCompletes(t *testing.T) {
	site := siteName(t)
	rec := newRecorder()
	rec.block = true
	rec.out = nil
	first := func(ctx context.Context, tr Trigger) (Outcome, error) {
		tr.Progress("main@sha1:3333", "")
		return rec.reconcile(ctx, tr)
	}
	r := start(t, Options{Site: site, Reconcile: first, ShutdownGrace: 100 * time.Millisecond})
	rec.next(t) // running and blocked
	r.stop()
	c := statusClient(t)
	s, err := c.Get(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if cnd := s.Status.Condition(status.ConditionReconciling); cnd == nil || cnd.Reason != status.ReasonInterrupted {
		t.Fatalf("after shutdown: %+v", s.Status.Conditions)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(context.Background(), "mk8s-"+site, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder(lease) != "" {
		t.Fatalf("Lease still held by %q after shutdown", holder(lease))
	}

	rec2 := newRecorder()
	rec2.out = func(Trigger) (Outcome, error) { return Outcome{Revision: "main@sha1:3333"}, nil }
	r2 := start(t, Options{Site: site, Reconcile: rec2.reconcile})
	rec2.next(t)
	r2.waitReady(t)
	s, err = c.Get(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsReady() || s.Status.LastAppliedRevision != "main@sha1:3333" || s.Status.Condition(status.ConditionReconciling) != nil {
		t.Fatalf("after restart: %+v", s.Status)
	}
}

// TestPollIntervalTriggers: with a poll interval, reconciles follow one another
// without any other trigger, each counted from the end of the previous one.
func TestPollIntervalTriggers(t *testing.T) {
	rec := newRecorder()
	start(t, Options{Site: siteName(t), Reconcile: rec.reconcile, PollInterval: 50 * time.Millisecond, PollJitter: 0.5})
	if tr := rec.next(t); !reasonsAre(tr, TriggerStart) {
		t.Fatalf("first run reasons %v", tr.Reasons)
	}
	for range 3 {
		if tr := rec.next(t); !reasonsAre(tr, TriggerPoll) {
			t.Fatalf("run reasons %v, want [poll]", tr.Reasons)
		}
	}
}

// TestShutdownLetsARunningReconcileFinish: within the grace period the running
// reconcile completes and is recorded before the daemon returns.
func TestShutdownLetsARunningReconcileFinish(t *testing.T) {
	site := siteName(t)
	rec := newRecorder()
	rec.block = true
	rec.out = func(Trigger) (Outcome, error) { return Outcome{Revision: "main@sha1:4444"}, nil }
	r := start(t, Options{Site: site, Reconcile: rec.reconcile, ShutdownGrace: time.Minute})
	rec.next(t)
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("the daemon stopped before its reconcile finished")
	case rec.hold <- struct{}{}: // the reconcile is still running and now finishes
	}
	<-stopped
	s, err := statusClient(t).Get(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsReady() || s.Status.LastAppliedRevision != "main@sha1:4444" {
		t.Fatalf("after a graceful stop: %+v", s.Status)
	}
}

// TestCertificatesInStatusMetricsAndRenewal: the certificates a reconcile reports are
// exported as expiry metrics and summarized in the Site's status; a recorded renewal
// time that has come tells the next run to converge the hosts (Trigger.RenewalDue);
// a restarted daemon that has not reached the hosts yet still exports the next expiry
// and the CAs from the status.
func TestCertificatesInStatusMetricsAndRenewal(t *testing.T) {
	site := siteName(t)
	now := time.Now().UTC().Truncate(time.Second)
	certs := []pki.Certificate{
		{Node: "node-1", Path: "/etc/kubernetes/pki/ca.crt", CA: true, NotAfter: now.Add(3650 * 24 * time.Hour)},
		{Node: "node-1", Path: "/etc/kubernetes/pki/apiserver.crt", NotAfter: now.Add(24 * time.Hour), RenewAt: now.Add(-time.Minute)},
		{Node: "node-2", Path: "/etc/kubernetes/kubelet.conf", NotAfter: now.Add(300 * 24 * time.Hour), RenewAt: now.Add(200 * 24 * time.Hour)},
	}
	rec := newRecorder()
	rec.out = func(tr Trigger) (Outcome, error) {
		if tr.LastAppliedRevision == "" {
			tr.Progress("main@sha1:1111", "")
			return Outcome{Revision: "main@sha1:1111", Certificates: certs}, nil
		}
		// The pipeline's no-op: the hosts are not reached, certificates stay unknown.
		return Outcome{Revision: "main@sha1:1111", NoOp: true}, nil
	}
	r := start(t, Options{Site: site, Reconcile: rec.reconcile})
	if tr := rec.next(t); tr.RenewalDue {
		t.Fatal("renewal due before anything was recorded")
	}
	r.waitReady(t)
	c := statusClient(t)
	ctx := context.Background()
	var s *status.Site
	eventually(t, "the first reconcile recorded", func() bool {
		var err error
		s, err = c.Get(ctx, site)
		return err == nil && s.IsReady()
	})
	cs := s.Status.Certificates
	if cs == nil || cs.Count != 3 || cs.NextExpiry == nil || cs.NextExpiry.Path != "/etc/kubernetes/pki/apiserver.crt" || cs.NextExpiry.Node != "node-1" ||
		cs.NextRenewal == nil || !cs.NextRenewal.Time.Equal(now.Add(-time.Minute)) ||
		len(cs.Authorities) != 1 || cs.Authorities[0].Path != "/etc/kubernetes/pki/ca.crt" {
		t.Fatalf("status.certificates = %+v", cs)
	}
	for _, ct := range certs {
		if got := counter(t, r.d, "mk8s_certificate_expiry_timestamp_seconds", map[string]string{"node": ct.Node, "path": ct.Path}); got != float64(ct.NotAfter.Unix()) {
			t.Errorf("expiry of %s %s = %v, want %v", ct.Node, ct.Path, got, ct.NotAfter.Unix())
		}
	}

	// The renewal recorded is due: the next run is told so.
	token, err := RequestReconcile(ctx, env.Config, site)
	if err != nil {
		t.Fatal(err)
	}
	if tr := rec.next(t); !tr.RenewalDue || tr.RequestedAt != token {
		t.Fatalf("second run: RenewalDue %v, requestedAt %q", tr.RenewalDue, tr.RequestedAt)
	}
	r.stop()

	// A new daemon whose first run is a no-op exports what the status recorded.
	rec2 := newRecorder()
	rec2.out = func(Trigger) (Outcome, error) { return Outcome{Revision: "main@sha1:1111", NoOp: true}, nil }
	r2 := start(t, Options{Site: site, Reconcile: rec2.reconcile})
	rec2.next(t)
	r2.waitReady(t)
	for _, ct := range []pki.Certificate{certs[0], certs[1]} {
		if got := counter(t, r2.d, "mk8s_certificate_expiry_timestamp_seconds", map[string]string{"node": ct.Node, "path": ct.Path}); got != float64(ct.NotAfter.Unix()) {
			t.Errorf("after restart, expiry of %s %s = %v, want %v", ct.Node, ct.Path, got, ct.NotAfter.Unix())
		}
	}
	if s, err := c.Get(ctx, site); err != nil || s.Status.Certificates == nil || s.Status.Certificates.Count != 3 {
		t.Fatalf("a no-op run must keep the recorded certificates: %+v %v", s, err)
	}
}
