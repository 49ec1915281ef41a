package transport_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync/transport"
)

// listenInNetns opens a loopback listener inside the network namespace ns: the socket
// keeps that namespace whatever thread accepts on it.
func listenInNetns(t *testing.T, ns string) net.Listener {
	t.Helper()
	type res struct {
		l   net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, err}
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ch <- res{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.l
}

// NetnsDial reaches a server that exists only inside the named namespace; the same
// address dialed from the test's own namespace does not reach it.
func TestNetnsDialConnectsInsideTheNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := hosts.EnsureGuardRoute(ctx); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "mk8s-nsdial-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del: %v: %s", err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	l := listenInNetns(t, ns)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("inside " + ns + "\n"))
			c.Close()
		}
	}()

	c, err := transport.NetnsDial(ns)(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "inside "+ns+"\n" {
		t.Fatalf("read %q, %v; want the namespace's greeting", line, err)
	}

	// From the main namespace the same address is someone else (or no one).
	if c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", l.Addr().String()); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line == "inside "+ns+"\n" {
			t.Fatal("a plain dial reached the namespace's server")
		}
	}

	if _, err := transport.NetnsDial("mk8s-no-such-ns-"+hex.EncodeToString(b))(ctx, "tcp", l.Addr().String()); err == nil {
		t.Fatal("dialing through a missing namespace succeeded")
	}
}
