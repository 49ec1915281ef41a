package hostsync

import (
	"time"
)

// Backoff is the per-host retry state across reconciles. The caller persists it (it is
// plain JSON) and hands it back to the next Plan and Apply: a host that failed is not
// tried again before NextAttempt, and the delay doubles with each consecutive failure.
type Backoff struct {
	Hosts map[string]HostBackoff `json:"hosts,omitempty"`
}

// HostBackoff is the retry state of one host.
type HostBackoff struct {
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"nextAttempt"`
	LastError   string    `json:"lastError,omitempty"`
}

// Delays of the backoff: 10 s after the first failure, doubling, at most 5 min.
const (
	BackoffBase = 10 * time.Second
	BackoffMax  = 5 * time.Minute
)

func (b *Backoff) deferred(node string, now time.Time) (HostBackoff, bool) {
	if b == nil {
		return HostBackoff{}, false
	}
	h, ok := b.Hosts[node]
	return h, ok && now.Before(h.NextAttempt)
}

func (b *Backoff) fail(node string, now time.Time, msg string) {
	if b == nil {
		return
	}
	if b.Hosts == nil {
		b.Hosts = map[string]HostBackoff{}
	}
	h := b.Hosts[node]
	h.Failures++
	d := BackoffBase << min(h.Failures-1, 10)
	if d > BackoffMax {
		d = BackoffMax
	}
	h.NextAttempt, h.LastError = now.Add(d), msg
	b.Hosts[node] = h
}

func (b *Backoff) succeed(node string) {
	if b != nil {
		delete(b.Hosts, node)
	}
}
