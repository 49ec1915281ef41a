package daemon

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// SignatureHeader is the GitHub/Gitea/Gogs push webhook signature header:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
const SignatureHeader = "X-Hub-Signature-256"

// readSecret reads the webhook secret; a trailing newline (echo > file) is not part of it.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read webhook secret: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("webhook secret file %s is empty", path)
	}
	return b, nil
}

// Sign returns the X-Hub-Signature-256 value of body under secret (for clients and tests).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// verifySignature checks header against body in constant time.
func verifySignature(secret, body []byte, header string) error {
	if header == "" {
		return errors.New("missing " + SignatureHeader + " header")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return errors.New(SignatureHeader + " is not of the form sha256=<hex>")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errors.New(SignatureHeader + " is not of the form sha256=<hex>")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature does not match")
	}
	return nil
}

// webhookHandler serves the push webhook: POST with a valid signature queues one
// reconcile (202); a missing or wrong signature is 401 and queues nothing; a body over
// the limit is 413. GitHub's "ping" event is acknowledged without a reconcile.
func (d *Daemon) webhookHandler(secret []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, msg := d.handleWebhook(secret, w, r)
		d.metrics.webhooks.WithLabelValues(strconv.Itoa(code)).Inc()
		http.Error(w, msg, code)
	})
}

func (d *Daemon) handleWebhook(secret []byte, w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, "POST only"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.opts.WebhookMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", d.opts.WebhookMaxBody)
		}
		return http.StatusBadRequest, "cannot read body"
	}
	if err := verifySignature(secret, body, r.Header.Get(SignatureHeader)); err != nil {
		d.log.Warn("webhook refused", "remote", r.RemoteAddr, "reason", err.Error())
		return http.StatusUnauthorized, "invalid signature: " + err.Error()
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "" {
		event = r.Header.Get("X-Gitea-Event")
	}
	if event == "ping" {
		return http.StatusOK, "pong"
	}
	d.log.Info("webhook accepted", "remote", r.RemoteAddr, "event", event)
	d.queue.Add(TriggerWebhook)
	return http.StatusAccepted, "reconcile queued"
}
