package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/hostsync/transport"
)

// defaultTimeout bounds one request when Options.Timeout is zero: long enough for a
// member add to go through raft on a loaded host, short enough that a dead endpoint does
// not stall a reconcile.
const defaultTimeout = 5 * time.Second

// maxBody caps how much of a response is read. A member list is a few hundred bytes per
// member; the cap only protects against something that is not etcd answering.
const maxBody = 4 << 20

// Options configures a Client.
type Options struct {
	// Dial opens the TCP connection; nil means a net.Dialer.
	Dial transport.DialFunc
	// TLS carries the client certificate and the etcd CA as RootCAs. It is required for
	// https endpoints: etcd runs with --client-cert-auth, and falling back to the system
	// roots would only ever fail later with a less clear error.
	TLS *tls.Config
	// Timeout bounds each request (connect, TLS handshake, response); 5 s when zero.
	Timeout time.Duration
}

// Client talks to etcd endpoints. It is safe for concurrent use. It keeps idle
// connections for reuse; call CloseIdleConnections when done with it.
type Client struct {
	http    *http.Client
	tls     bool
	timeout time.Duration
}

// New returns a Client. It does not connect.
func New(opts Options) *Client {
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr := &http.Transport{
		// Never a proxy from the environment: the connection must go through Dial
		// (possibly inside a network namespace), straight to the member.
		Proxy:               nil,
		DialContext:         dial,
		TLSHandshakeTimeout: 0, // bounded by the per-request context instead
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	if opts.TLS != nil {
		// Clone so that the Client keeps the config it was built with even if the caller
		// changes theirs later (tls.Config must not be modified once in use).
		tr.TLSClientConfig = opts.TLS.Clone()
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Client{http: &http.Client{Transport: tr}, tls: opts.TLS != nil, timeout: timeout}
}

// CloseIdleConnections closes the connections kept for reuse. The Client stays usable;
// later requests open new connections.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
}

// Member is one etcd cluster member. A member that was added but has not started yet
// has an empty Name and no ClientURLs.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// APIError is an error etcd returned: the gateway's {"error","code","message"} body,
// where Code is the gRPC status code (9 FailedPrecondition for "Peer URLs already
// exists", for instance).
type APIError struct {
	Endpoint string
	Op       string // "member list", "member add"
	Status   int    // HTTP status
	Code     int    // gRPC status code from the body; 0 when the body had none
	Message  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("etcd %s: %s: %s (HTTP %d, code %d)", e.Endpoint, e.Op, e.Message, e.Status, e.Code)
}

// MemberList returns the members as the endpoint knows them. etcd serves it from the
// member's local state, so it answers even when the cluster has no quorum.
func (c *Client) MemberList(ctx context.Context, endpoint string) ([]Member, error) {
	var resp struct {
		Members []wireMember `json:"members"`
	}
	if err := c.post(ctx, endpoint, "member list", "/v3/cluster/member/list", struct{}{}, &resp); err != nil {
		return nil, err
	}
	return fromWire(resp.Members), nil
}

// MemberAdd adds a voting member with the given peer URLs and returns it (ID set, Name
// empty until it starts) and the member list etcd returns with it. It must run before the
// new member starts with --initial-cluster-state=existing.
func (c *Client) MemberAdd(ctx context.Context, endpoint string, peerURLs []string) (Member, []Member, error) {
	if len(peerURLs) == 0 {
		return Member{}, nil, fmt.Errorf("etcd %s: member add: no peer URLs", endpoint)
	}
	req := struct {
		PeerURLs []string `json:"peerURLs"`
	}{peerURLs}
	var resp struct {
		Member  *wireMember  `json:"member"`
		Members []wireMember `json:"members"`
	}
	if err := c.post(ctx, endpoint, "member add", "/v3/cluster/member/add", req, &resp); err != nil {
		return Member{}, nil, err
	}
	if resp.Member == nil || resp.Member.ID == 0 {
		return Member{}, nil, fmt.Errorf("etcd %s: member add: response has no member ID", endpoint)
	}
	return fromWire([]wireMember{*resp.Member})[0], fromWire(resp.Members), nil
}

// Health asks the endpoint's /health. etcd answers {"health":"true"} only when the
// member has a leader, no alarm and can serve a quorum read; otherwise the error carries
// etcd's reason ("RAFT NO LEADER", "RANGE ERROR:…") and names the endpoint. Right
// after quorum is lost, etcd (3.5) holds /health while its quorum read waits, so the
// first checks can end at Options.Timeout instead of with a reason.
func (c *Client) Health(ctx context.Context, endpoint string) error {
	if err := c.health(ctx, endpoint); err != nil {
		return fmt.Errorf("etcd %s: %w", endpoint, err)
	}
	return nil
}

// WaitHealthy polls Health every interval (1 s when not positive) until the endpoint is
// healthy or ctx is done. The error names the endpoint and the last failure, which is
// what an operator needs to see when a converged member never joins.
func (c *Client) WaitHealthy(ctx context.Context, endpoint string, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		err := c.health(ctx, endpoint)
		if err == nil {
			return nil
		}
		// A check cut short by ctx only says the wait ended; the check before it says
		// why the member was not healthy, so keep that one when there is one.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd %s: not healthy: %w (last check: %w)", endpoint, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func (c *Client) health(ctx context.Context, endpoint string) error {
	u, err := c.url(endpoint, "/health")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	status, body, err := c.do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	// etcd answers 503 with the same JSON when unhealthy, so the body decides, and the
	// status only matters when the body is not etcd's.
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Health == "" {
		return fmt.Errorf("health: unexpected response (HTTP %d): %s", status, snippet(body))
	}
	if h.Health != "true" {
		reason := h.Reason
		if reason == "" {
			reason = "no reason given"
		}
		return fmt.Errorf("unhealthy: %s", reason)
	}
	return nil
}

// post sends one gateway call and decodes a 2xx body into out.
func (c *Client) post(ctx context.Context, endpoint, op, path string, in, out any) error {
	u, err := c.url(endpoint, path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("etcd %s: %s: encode request: %w", endpoint, op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("etcd %s: %s: %w", endpoint, op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	status, body, err := c.do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %s: %w", endpoint, op, err)
	}
	if status < 200 || status > 299 {
		return apiError(endpoint, op, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("etcd %s: %s: decode response: %w", endpoint, op, err)
	}
	return nil
}

// do runs req and returns the status and the (capped) body.
func (c *Client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, explainTLS(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read response: %w", explainTLS(err))
	}
	return resp.StatusCode, body, nil
}

// explainTLS adds what to do to the TLS alerts an etcd with --client-cert-auth sends,
// because "remote error: tls: certificate required" alone does not say which side is
// misconfigured.
func explainTLS(err error) error {
	// Over TCP, crypto/tls reports an alert from the peer as a *net.OpError with Op
	// "remote error" wrapping an unexported type (tls.AlertError is only for QUIC), so
	// the alert is recognised by its text, which crypto/tls takes from the RFC names.
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		return err
	}
	switch msg := op.Err.Error(); {
	case strings.Contains(msg, "certificate required"):
		return fmt.Errorf("%w (etcd requires a client certificate: set Options.TLS.Certificates)", err)
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return fmt.Errorf("%w (etcd rejected the client certificate: is it signed by the etcd CA?)", err)
	}
	return err
}

func apiError(endpoint, op string, status int, body []byte) error {
	var e struct {
		Error   string `json:"error"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		msg = e.Message
		if msg == "" {
			msg = e.Error
		}
	}
	if msg == "" {
		msg = "unexpected response: " + snippet(body)
	}
	return &APIError{Endpoint: endpoint, Op: op, Status: status, Code: e.Code, Message: msg}
}

// url checks the endpoint and joins path to it.
func (c *Client) url(endpoint, path string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("etcd endpoint %q: %w", endpoint, err)
	}
	switch {
	case u.Host == "":
		return "", fmt.Errorf("etcd endpoint %q: no host", endpoint)
	case u.Scheme == "https" && !c.tls:
		return "", fmt.Errorf("etcd endpoint %q: https needs Options.TLS (client certificate and etcd CA)", endpoint)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("etcd endpoint %q: scheme must be https or http", endpoint)
	}
	return strings.TrimRight(endpoint, "/") + path, nil
}

func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return strconv.Quote(s)
}

// wireMember is a member as the gateway encodes it: proto field names, uint64 as a JSON
// string (proto3 JSON mapping), and zero values omitted.
type wireMember struct {
	ID         uint64ish `json:"ID"`
	Name       string    `json:"name"`
	PeerURLs   []string  `json:"peerURLs"`
	ClientURLs []string  `json:"clientURLs"`
	IsLearner  bool      `json:"isLearner"`
}

func fromWire(ws []wireMember) []Member {
	ms := make([]Member, 0, len(ws))
	for _, w := range ws {
		ms = append(ms, Member{ID: uint64(w.ID), Name: w.Name, PeerURLs: w.PeerURLs, ClientURLs: w.ClientURLs, IsLearner: w.IsLearner})
	}
	return ms
}

// uint64ish accepts a uint64 as a JSON string (what etcd 3.5's gateway sends, since
// proto3 JSON encodes 64-bit integers as strings) or as a number (what other encoders
// may send). Both are parsed from the raw digits, never through float64, so IDs above
// 2^53 stay exact.
type uint64ish uint64

func (u *uint64ish) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("member ID %s: %w", b, err)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("member ID %s: %w", b, err)
	}
	*u = uint64ish(v)
	return nil
}
