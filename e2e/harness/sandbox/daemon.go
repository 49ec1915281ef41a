package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// Daemon is one `mk8s run` child process.
type Daemon struct {
	Cmd    *exec.Cmd
	PID    int
	Listen string // 127.0.0.1:port of /healthz, /readyz, /metrics, /webhook
	// Args are the arguments mk8s was started with, for the transcript.
	Args []string
	Log  string // file holding its stderr and stdout

	secret []byte
	done   chan struct{}
	once   sync.Once
	err    error
}

// DaemonOptions tune StartDaemon.
type DaemonOptions struct {
	// Extra arguments after the sandbox's own.
	Extra []string
	// NoWatch disables the local repository watch (webhook or requests only).
	NoWatch bool
	// ObjectsOnly runs the daemon without the host half.
	ObjectsOnly bool
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// DaemonArgs are the arguments of `mk8s run` in this sandbox, listening on listen.
func (s *Sandbox) DaemonArgs(listen string, o DaemonOptions) []string {
	args := []string{"run", "--config", s.Config, "--kubeconfig", s.Kube.Kubeconfig, "--listen", listen,
		"--webhook-secret-file", s.WebhookSecret, "--shutdown-grace", "5s"}
	if o.ObjectsOnly {
		args = append(args, "--objects-only")
	} else {
		// The hosts are reached from inside the lab's controller namespace; the apiserver
		// stays on the main namespace's loopback. Lab hosts have no package manager.
		args = append(args, "--ssh-netns", s.Lab.CtlNS, "--packages", "probe-only", "--host-concurrency", "4")
	}
	if o.NoWatch {
		args = append(args, "--no-watch")
	}
	return append(append(args, o.Extra...), "-v")
}

// StartDaemon starts `mk8s run` as a child process in its own process group and waits
// until /healthz answers. Close stops it if the caller does not.
func (s *Sandbox) StartDaemon(ctx context.Context, o DaemonOptions) (*Daemon, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	secret, err := os.ReadFile(s.WebhookSecret)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Listen: listen, Args: s.DaemonArgs(listen, o), secret: bytes.TrimSpace(secret), done: make(chan struct{}),
		Log: filepath.Join(s.Dir, fmt.Sprintf("daemon-%d.log", len(s.daemons)+1))}
	logf, err := os.Create(d.Log)
	if err != nil {
		return nil, err
	}
	d.Cmd = exec.Command(s.mk8s, d.Args...)
	d.Cmd.Env = append(os.Environ(), "HOME="+s.home)
	d.Cmd.Stdout, d.Cmd.Stderr = logf, logf
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	d.PID = d.Cmd.Process.Pid
	s.daemons = append(s.daemons, d)
	go func() {
		d.err = d.Cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, err := d.get(ctx, "/healthz"); err == nil && code == http.StatusOK {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("mk8s run exited (%v): %s", d.err, d.Tail(20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mk8s run: /healthz did not answer within 30s: %s", d.Tail(20))
		}
	}
}

func (d *Daemon) get(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.Listen+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Webhook posts a push event signed with the sandbox's secret (or with secret, when
// not nil) and returns the HTTP status.
func (d *Daemon) Webhook(ctx context.Context, body []byte, secret []byte) (int, error) {
	if secret == nil {
		secret = d.secret
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.Listen+"/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Running reports whether the process is still alive.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the daemon's PID and reaps it.
func (d *Daemon) Kill() error {
	if !d.Running() {
		return nil
	}
	if err := syscall.Kill(d.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	<-d.done
	return nil
}

// Stop sends SIGTERM to the daemon's PID, and SIGKILL after grace.
func (d *Daemon) Stop(grace time.Duration) error {
	if !d.Running() {
		return nil
	}
	_ = syscall.Kill(d.PID, syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
		return d.Kill()
	}
}

// Tail is the last n lines of the daemon's log.
func (d *Daemon) Tail(n int) string {
	b, _ := os.ReadFile(d.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RSS is the daemon's resident set size in bytes (VmRSS of /proc/PID/status).
func (d *Daemon) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.PID))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// Site reads the Site status object (nil, nil while it does not exist yet).
func (s *Sandbox) Site(ctx context.Context) (*status.Site, error) {
	c, err := status.NewClient(s.Kube.Config)
	if err != nil {
		return nil, err
	}
	site, err := c.Get(ctx, "default")
	if err != nil && strings.Contains(err.Error(), "not found") {
		return nil, nil
	}
	return site, err
}

// WaitSite polls the Site until cond holds, or fails after timeout with the last state.
func (s *Sandbox) WaitSite(ctx context.Context, timeout time.Duration, what string, cond func(*status.Site) bool) (*status.Site, error) {
	deadline := time.Now().Add(timeout)
	var last *status.Site
	var lastErr error
	for {
		site, err := s.Site(ctx)
		if err == nil && site != nil && cond(site) {
			return site, nil
		}
		if site != nil {
			last = site
		}
		lastErr = err
		if time.Now().After(deadline) {
			return last, fmt.Errorf("waiting %s for %s: last status %s (error %v)", timeout, what, describe(last), lastErr)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WaitApplied waits until the Site is Ready with commit as its last applied revision.
func (s *Sandbox) WaitApplied(ctx context.Context, timeout time.Duration, commit string) (*status.Site, error) {
	rev := Revision(commit)
	return s.WaitSite(ctx, timeout, "revision "+rev+" applied and Ready", func(st *status.Site) bool {
		return st.Status.LastAppliedRevision == rev && st.IsReady()
	})
}

func describe(s *status.Site) string {
	if s == nil {
		return "(no Site yet)"
	}
	var conds []string
	for _, c := range s.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("applied=%s attempted=%s conditions=[%s]", s.Status.LastAppliedRevision, s.Status.LastAttemptedRevision,
		strings.Join(conds, "; "))
}

// Describe is a one-line summary of a Site, for failure messages.
func Describe(s *status.Site) string { return describe(s) }
