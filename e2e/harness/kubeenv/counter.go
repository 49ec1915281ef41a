package kubeenv

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the HTTP requests a rest.Config makes, by verb, so a test can
// prove that a reconcile wrote nothing. Dry-run requests (dryRun=All) are counted
// apart from real writes.
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// Wrap returns a copy of cfg whose transport counts into c.
func (c *RequestCounter) Wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	prev := out.WrapTransport
	out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.add(req)
			return rt.RoundTrip(req)
		})
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *RequestCounter) add(req *http.Request) {
	key := req.Method
	if req.URL.Query().Get("dryRun") != "" {
		key += "(dry-run)"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[key]++
}

// Counts returns a copy of the counts by method ("GET", "PATCH", "PATCH(dry-run)", …).
func (c *RequestCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Writes is the number of requests that could change the cluster: every method but
// GET, HEAD and OPTIONS, and not dry-run.
func (c *RequestCounter) Writes() int {
	n := 0
	for k, v := range c.Counts() {
		if k == http.MethodGet || k == http.MethodHead || k == http.MethodOptions || strings.HasSuffix(k, "(dry-run)") {
			continue
		}
		n += v
	}
	return n
}

// DryRuns is the number of dry-run requests.
func (c *RequestCounter) DryRuns() int {
	n := 0
	for k, v := range c.Counts() {
		if strings.HasSuffix(k, "(dry-run)") {
			n += v
		}
	}
	return n
}

// Reset forgets every count.
func (c *RequestCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

// String prints the counts sorted by key, for failure messages.
func (c *RequestCounter) String() string {
	m := c.Counts()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Itoa(m[k]))
	}
	return b.String()
}
