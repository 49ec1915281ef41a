package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestVerifySignature(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"ref":"refs/heads/main"}`)
	good := Sign(secret, body)
	if err := verifySignature(secret, body, good); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	for name, h := range map[string]string{
		"missing":      "",
		"sha1 form":    "sha1=" + strings.TrimPrefix(good, "sha256="),
		"not hex":      "sha256=" + strings.Repeat("z", 64),
		"short":        good[:20],
		"other key":    Sign([]byte("other"), body),
		"other body":   Sign(secret, []byte("{}")),
		"upper SHA256": "SHA256=" + strings.TrimPrefix(good, "sha256="),
	} {
		if err := verifySignature(secret, body, h); err == nil {
			t.Errorf("%s: accepted %q", name, h)
		}
	}
}

func TestWebhookHandlerRefusesWithoutQueueing(t *testing.T) {
	d := &Daemon{opts: Options{WebhookMaxBody: 64}, queue: newQueue(), metrics: newMetrics()}
	d.opts.defaults()
	d.log = d.opts.Logger
	h := d.webhookHandler([]byte("k"))
	body := `{"a":1}`
	for _, tc := range []struct {
		method, body, sig string
		want              int
	}{
		{http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{http.MethodPost, body, "", http.StatusUnauthorized},
		{http.MethodPost, body, Sign([]byte("x"), []byte(body)), http.StatusUnauthorized},
		{http.MethodPost, strings.Repeat("a", 65), Sign([]byte("k"), []byte(strings.Repeat("a", 65))), http.StatusRequestEntityTooLarge},
	} {
		req := httptest.NewRequest(tc.method, "/webhook", strings.NewReader(tc.body))
		if tc.sig != "" {
			req.Header.Set(SignatureHeader, tc.sig)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code != tc.want {
			t.Errorf("%s %q: %d, want %d", tc.method, tc.sig, rr.Code, tc.want)
		}
	}
	if r := d.queue.Take(); len(r) != 0 {
		t.Fatalf("refused requests queued %v", r)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	req.Header.Set(SignatureHeader, Sign([]byte("k"), []byte(body)))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusAccepted {
		t.Fatalf("good request: %d", rr.Code)
	}
	if r := d.queue.Take(); len(r) != 1 || r[0] != TriggerWebhook {
		t.Fatalf("good request queued %v", r)
	}
}

func TestQueueCoalesces(t *testing.T) {
	q := newQueue()
	for _, r := range []string{"a", "b", "a", "c"} {
		q.Add(r)
	}
	<-q.C()
	if got := q.Take(); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("Take = %v", got)
	}
	select {
	case <-q.C():
		t.Fatal("a second run pending after one Take")
	default:
	}
}
