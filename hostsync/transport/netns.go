package transport

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetnsDial returns a DialFunc that opens its connections from inside the named network
// namespace (/run/netns/NAME, as `ip netns add` makes them). It exists for labs: a
// reconciler that must reach the apiserver on the main namespace's loopback and the lab
// hosts only from inside the lab's namespace. Only the dialing goroutine's locked OS
// thread enters the namespace, and that thread is never unlocked, so the runtime retires
// it with the goroutine and nothing else ever runs in the wrong namespace. The socket
// keeps the namespace it was created in, so the returned connection is used from any
// goroutine.
func NetnsDial(name string) DialFunc {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join("/run/netns", name)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			f, err := os.Open(path)
			if err != nil {
				ch <- result{nil, fmt.Errorf("network namespace %s: %w", name, err)}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("entering network namespace %s: %w", name, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		select {
		case r := <-ch:
			return r.c, r.err
		case <-ctx.Done():
			// The dial honours ctx too; collect and close a late connection.
			go func() {
				if r := <-ch; r.c != nil {
					r.c.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
}
