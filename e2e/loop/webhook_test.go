package loop

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
)

// With the local repository watch off, a push is applied only when the push webhook
// arrives with the right HMAC: a wrong signature is refused with 401 and triggers
// nothing; the right one triggers the reconcile of the pushed revision.
func TestWebhookWithRightHMACTriggersAndWrongIsRefused(t *testing.T) {
	ctx := testCtx(t)
	sb := startSandbox(t, ctx, 3)
	d := startDaemon(t, ctx, sb, sandbox.DaemonOptions{NoWatch: true, ObjectsOnly: true})
	first := head(t, ctx, sb)
	waitApplied(t, ctx, sb, first)

	edit(t, sb, "services/prometheus.yaml", func(s string) string { return sandbox.SetReplicas(s, 2) })
	second := commitPush(t, ctx, sb, true, "Prometheus: 2 replicas")
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, second))

	code, err := d.Webhook(ctx, body, []byte("not-the-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong HMAC: HTTP %d, want 401", code)
	}
	// The daemon says why it refused, and nothing was attempted.
	waitLogLine(t, ctx, d, "webhook refused", 0)
	site, err := sb.Site(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if site.Status.LastAttemptedRevision != sandbox.Revision(first) {
		t.Fatalf("a refused webhook triggered a reconcile: %s", sandbox.Describe(site))
	}

	code, err = d.Webhook(ctx, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code/100 != 2 {
		t.Fatalf("webhook with the right HMAC: HTTP %d, want 2xx", code)
	}
	site = waitApplied(t, ctx, sb, second)
	// One reconcile of the pushed revision, triggered by the webhook.
	var runs []string
	for _, h := range site.Status.History {
		if h.Revision == sandbox.Revision(second) {
			runs = append(runs, fmt.Sprintf("%s×%d", h.Trigger, h.Count))
		}
	}
	if len(runs) != 1 || !strings.HasPrefix(runs[0], "webhook") || !strings.HasSuffix(runs[0], "×1") {
		t.Errorf("history of %s: %v, want one reconcile triggered by the webhook", second, runs)
	}
}
