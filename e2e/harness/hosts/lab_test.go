package hosts

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the hosts harness needs root")
	}
}

// TestLabHostsAreIsolatedAndCleanedUp starts two hosts, checks each is its own machine
// (hostname, address, private /etc), restarts one, and checks Close leaves nothing.
func TestLabHostsAreIsolatedAndCleanedUp(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := New(ctx, Options{Hosts: 2, SudoUser: "mk8sop"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	for _, h := range l.Hosts {
		out, err := l.Run(ctx, h, "hostname; ip -o -4 addr show eth0; echo x > /etc/only-"+h.Name+"; cat /proc/1/comm; sudo -n -u mk8sop true && echo sudo-ok")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, h.Name+"\n") || !strings.Contains(out, h.IP+"/24") || !strings.Contains(out, "sshd") {
			t.Fatalf("%s: %q", h.Name, out)
		}
	}
	if out, _ := l.Run(ctx, l.Hosts[1], "ls /etc/only-h1 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Fatalf("h2 sees h1's file: %q", out)
	}
	if _, err := os.Stat("/etc/only-h1"); err == nil {
		t.Fatal("the machine sees h1's file")
	}
	// Down and up again; the disk survives.
	h := l.Hosts[0]
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, h, "true"); err == nil {
		t.Fatal("stopped host still answers")
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Run(ctx, h, "cat /etc/only-h1"); err != nil || out != "x\n" {
		t.Fatalf("after restart: %q %v", out, err)
	}
	// The main namespace cannot reach the lab.
	if out, err := exec.Command("ip", "route", "get", h.IP).CombinedOutput(); err == nil && !strings.Contains(string(out), "unreachable") {
		t.Fatalf("main namespace routes %s: %s", h.IP, out)
	}
	var pids []int
	for _, h := range l.Hosts {
		pids = append(pids, h.launcher.Process.Pid)
	}
	dir, id := l.Dir, l.ID
	closed = true
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), id) {
		t.Fatalf("namespaces left: %s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("lab dir left: %v", err)
	}
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + itoa(p)); err == nil {
			t.Fatalf("process %d left", p)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestNspawnHostRunsSystemd boots a systemd-nspawn host and checks systemd is its PID 1.
func TestNspawnHostRunsSystemd(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Skip("systemd-nspawn not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h, err := l.AddNspawn(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.Run(ctx, h, "cat /proc/1/comm; hostname; systemctl is-system-running --wait || true")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "systemd\ns1\n") {
		t.Fatalf("%q", out)
	}
}
