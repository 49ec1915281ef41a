package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialFunc opens the TCP connection to a host. The e2e harness passes one that dials from
// inside a network namespace; the default is a net.Dialer.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Target says where and how to reach one host. It mirrors schema.SSH plus the node name
// used in every message.
type Target struct {
	Node    string
	Host    string
	Port    int    // 22 when zero
	User    string // root when empty
	KeyPath string
	Sudo    bool
	// HostKey is the pinned key in authorized_keys form ("ssh-ed25519 AAAA…").
	HostKey string
}

// Addr is host:port.
func (t Target) Addr() string {
	p := t.Port
	if p == 0 {
		p = 22
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(p))
}

// DialOptions tunes Dial.
type DialOptions struct {
	// Dial opens the TCP connection; nil means a plain net.Dialer.
	Dial DialFunc
	// TrustOnFirstUse accepts a host that has no pinned key and reports the key it
	// presented (Conn.PresentedKey), so the operator can pin it. It never overrides a
	// pinned key that does not match.
	TrustOnFirstUse bool
	// Timeout bounds the TCP connect plus the SSH handshake; 15 s when zero.
	Timeout time.Duration
	// KeepAlive is the interval of keepalive requests; 15 s when zero, negative disables.
	KeepAlive time.Duration
}

// HostKeyError is returned when the host presented a key other than the pinned one, or
// when no key is pinned and trust on first use was not requested. Nothing has been sent
// to the host beyond the key exchange.
type HostKeyError struct {
	Node, Addr string
	// Pinned and Presented are SHA256 fingerprints ("SHA256:…"); Pinned is empty when
	// the node has no pinned key.
	Pinned, Presented string
	// PresentedKey is the presented key in authorized_keys form, ready to pin.
	PresentedKey string
}

func (e *HostKeyError) Error() string {
	if e.Pinned == "" {
		return fmt.Sprintf("node %s (%s): no pinned host key (metalk8s.scality.com/ssh-host-key); the host presented %s; "+
			"refusing to connect: pin %q or pass the explicit trust-on-first-use option", e.Node, e.Addr, e.Presented, e.PresentedKey)
	}
	return fmt.Sprintf("node %s (%s): host key mismatch: pinned %s, presented %s; refusing to connect (nothing was sent)",
		e.Node, e.Addr, e.Pinned, e.Presented)
}

// Conn is one SSH connection to one host, reused for every command of a reconcile.
// Commands on one Conn may run concurrently (one SSH session each).
type Conn struct {
	target    Target
	client    *ssh.Client
	presented string
	stop      chan struct{}
	closeOnce sync.Once
}

// Dial connects and authenticates to the target, checking its host key.
func Dial(ctx context.Context, t Target, opts DialOptions) (*Conn, error) {
	if t.KeyPath == "" {
		return nil, fmt.Errorf("node %s: no ssh key path (metalk8s.scality.com/ssh-key-path)", t.Node)
	}
	pem, err := os.ReadFile(t.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("node %s: reading ssh key: %w", t.Node, err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("node %s: parsing ssh key %s: %w", t.Node, t.KeyPath, err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	user := t.User
	if user == "" {
		user = "root"
	}
	var pinned ssh.PublicKey
	if t.HostKey != "" {
		pinned, _, _, _, err = ssh.ParseAuthorizedKey([]byte(t.HostKey))
		if err != nil {
			return nil, fmt.Errorf("node %s: parsing pinned host key %q: %w", t.Node, t.HostKey, err)
		}
	}
	c := &Conn{target: t, stop: make(chan struct{})}
	cfg := &ssh.ClientConfig{
		User:    user,
		Auth:    []ssh.AuthMethod{ssh.PublicKeys(signer)},
		Timeout: timeout,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			c.presented = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
			if pinned == nil {
				if opts.TrustOnFirstUse {
					return nil
				}
				return &HostKeyError{Node: t.Node, Addr: t.Addr(), Presented: ssh.FingerprintSHA256(key), PresentedKey: c.presented}
			}
			if !bytes.Equal(pinned.Marshal(), key.Marshal()) {
				return &HostKeyError{Node: t.Node, Addr: t.Addr(), Pinned: ssh.FingerprintSHA256(pinned),
					Presented: ssh.FingerprintSHA256(key), PresentedKey: c.presented}
			}
			return nil
		},
	}
	if pinned != nil {
		// Ask for the pinned key's algorithm, so that a host with several keys presents
		// the one we can compare.
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(pinned.Type())
	}
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dial(dctx, "tcp", t.Addr())
	if err != nil {
		return nil, fmt.Errorf("node %s: connecting to %s: %w", t.Node, t.Addr(), err)
	}
	// Bound the handshake by the deadline too: a peer that accepts and then says nothing
	// must not hang the reconcile.
	if dl, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	cc, chans, reqs, err := ssh.NewClientConn(nc, t.Addr(), cfg)
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("node %s: ssh handshake with %s as %s: %w", t.Node, t.Addr(), user, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c.client = ssh.NewClient(cc, chans, reqs)
	ka := opts.KeepAlive
	if ka == 0 {
		ka = 15 * time.Second
	}
	if ka > 0 {
		go c.keepAlive(ka)
	}
	return c, nil
}

func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// keepAlive sends OpenSSH keepalive requests; a host that stops answering has its
// connection closed, which fails the running command instead of hanging it.
func (c *Conn) keepAlive(every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tk.C:
			done := make(chan error, 1)
			go func() {
				_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					c.Close()
					return
				}
			case <-time.After(3 * every):
				c.Close()
				return
			case <-c.stop:
				return
			}
		}
	}
}

// PresentedKey is the host key the host presented, in authorized_keys form.
func (c *Conn) PresentedKey() string { return c.presented }

// Target returns what the connection was dialed with.
func (c *Conn) Target() Target { return c.target }

// Close closes the connection.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		err = c.client.Close()
	})
	return err
}
