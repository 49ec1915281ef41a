package hosts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LabRange is the only range lab hosts use.
const LabRange = "10.213.0.0/16"

// EnsureGuardRoute adds `unreachable 10.213.0.0/16` in the main network namespace unless
// a route for exactly that prefix exists. It is never removed: other labs may rely on it.
func EnsureGuardRoute(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ip", "route", "show", "exact", LabRange).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip route show: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		if !strings.HasPrefix(s, "unreachable") {
			return fmt.Errorf("the main namespace routes %s somewhere (%q): refusing to start a lab", LabRange, s)
		}
		return nil
	}
	out, err = exec.CommandContext(ctx, "ip", "route", "add", "unreachable", LabRange).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "File exists") {
		return fmt.Errorf("adding the guard route: %v: %s", err, out)
	}
	return nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func randomID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const lockDir = "/run/mk8s-lab"

// allocSubnet reserves a free third octet of 10.213.X.0/24 with a lock file naming our
// PID (a lock whose PID is gone is taken over).
func allocSubnet(want int) (int, func(), error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return 0, nil, err
	}
	try := func(x int) (bool, error) {
		p := filepath.Join(lockDir, "subnet-"+strconv.Itoa(x))
		for range 2 {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err == nil {
				fmt.Fprintf(f, "%d\n", os.Getpid())
				f.Close()
				return true, nil
			}
			if !errors.Is(err, os.ErrExist) {
				return false, err
			}
			b, _ := os.ReadFile(p)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid > 0 && unix.Kill(pid, 0) == nil {
				return false, nil
			}
			os.Remove(p)
		}
		return false, nil
	}
	release := func(x int) func() {
		return func() { os.Remove(filepath.Join(lockDir, "subnet-"+strconv.Itoa(x))) }
	}
	if want > 0 {
		ok, err := try(want)
		if err != nil || !ok {
			return 0, nil, fmt.Errorf("subnet 10.213.%d.0/24 is in use by another lab (%v)", want, err)
		}
		return want, release(want), nil
	}
	start, _ := rand.Int(rand.Reader, big.NewInt(200))
	for i := range 250 {
		x := 2 + (int(start.Int64())+i)%250
		ok, err := try(x)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			return x, release(x), nil
		}
	}
	return 0, nil, errors.New("no free 10.213.X.0/24 subnet")
}

// DialInNamespace dials addr from inside the named network namespace: only the dialing
// goroutine's locked OS thread enters it, and that thread is never returned to the
// scheduler (it exits with the goroutine), so nothing else runs in the wrong namespace.
func DialInNamespace(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// childPIDs lists the direct children of a process, from every one of its threads.
func childPIDs(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
