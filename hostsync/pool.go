package hostsync

import (
	"context"
	"sync"

	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/schema"
)

// Pool keeps one SSH connection per host for a whole reconcile (plan, then apply).
type Pool struct {
	opts  transport.DialOptions
	mu    sync.Mutex
	conns map[string]*transport.Conn
}

// NewPool returns an empty pool that dials with opts.
func NewPool(opts transport.DialOptions) *Pool {
	return &Pool{opts: opts, conns: map[string]*transport.Conn{}}
}

// Target is the transport target of a node.
func Target(n *schema.Node) transport.Target {
	return transport.Target{Node: n.Name, Host: n.SSH.Host, Port: n.SSH.Port, User: n.SSH.User,
		KeyPath: n.SSH.KeyPath, Sudo: n.SSH.Sudo, HostKey: n.SSH.HostKey}
}

// Get returns the pooled connection of the node, dialing it the first time.
func (p *Pool) Get(ctx context.Context, n *schema.Node) (*transport.Conn, error) {
	t := Target(n)
	key := t.Node + "\x00" + t.Addr() + "\x00" + t.User
	p.mu.Lock()
	c, ok := p.conns[key]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := transport.Dial(ctx, t, p.opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.conns[key]; ok {
		c.Close()
		return prev, nil
	}
	p.conns[key] = c
	return c, nil
}

// Forget closes and drops the node's connection (after a transport error), so the next
// Get dials again.
func (p *Pool) Forget(n *schema.Node) {
	t := Target(n)
	key := t.Node + "\x00" + t.Addr() + "\x00" + t.User
	p.mu.Lock()
	c, ok := p.conns[key]
	delete(p.conns, key)
	p.mu.Unlock()
	if ok {
		c.Close()
	}
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.conns {
		c.Close()
		delete(p.conns, k)
	}
	return nil
}
