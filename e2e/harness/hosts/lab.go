package hosts

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/metalk8s/mk8s/hostsync/transport"
)

// Options of a lab.
type Options struct {
	// Hosts is the number of namespace sshd hosts.
	Hosts int
	// Subnet is X in 10.213.X.0/24; 0 allocates a free one.
	Subnet int
	// Dir holds the lab's state (keys, overlay upper dirs, logs); a new temporary
	// directory when empty. It must not be under /etc, /var, /root, /opt, /usr/local or /srv
	// (the overlays' lower dirs).
	Dir string
	// SudoUser, when set, is created on every namespace host with passwordless sudo and
	// the lab's client key, for tests of non-root SSH users.
	SudoUser string
}

// Lab is a set of hosts behind one controller namespace.
type Lab struct {
	ID     string // short random id, prefix of every namespace name
	CtlNS  string // controller namespace: the only place lab addresses are dialed from
	Subnet int
	Dir    string
	// KeyPath is the client private key authorized for root (and SudoUser) on every host.
	KeyPath  string
	SudoUser string
	Hosts    []*Host

	release  func()
	ownsDir  bool
	mu       sync.Mutex
	nextAddr int
}

// Host is one lab host.
type Host struct {
	Name string // also its hostname
	NS   string // network namespace
	IP   string
	// HostKey is the sshd's ed25519 key in authorized_keys form, to pin.
	HostKey string
	Nspawn  bool

	lab      *Lab
	dir      string
	launcher *exec.Cmd
	waited   chan struct{}
}

// Addr is ip:22.
func (h *Host) Addr() string { return net.JoinHostPort(h.IP, "22") }

// Dir is the host's state directory (upper/ holds what it wrote).
func (h *Host) Dir() string { return h.dir }

// New starts a lab with opts.Hosts namespace hosts, ready to accept SSH.
func New(ctx context.Context, opts Options) (l *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the hosts harness needs root")
	}
	// The guard comes first, before any namespace exists.
	if err := EnsureGuardRoute(ctx); err != nil {
		return nil, err
	}
	l = &Lab{ID: randomID(), Dir: opts.Dir, SudoUser: opts.SudoUser, nextAddr: 10}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if l.Dir == "" {
		if l.Dir, err = os.MkdirTemp("", "mk8s-lab-"); err != nil {
			return l, err
		}
		l.ownsDir = true
	}
	if l.Subnet, l.release, err = allocSubnet(opts.Subnet); err != nil {
		return l, err
	}
	l.CtlNS = "mk8s-" + l.ID + "-ctl"
	for _, a := range [][]string{
		{"netns", "add", l.CtlNS},
		{"-n", l.CtlNS, "link", "set", "lo", "up"},
		{"-n", l.CtlNS, "link", "add", "br0", "type", "bridge"},
		{"-n", l.CtlNS, "addr", "add", fmt.Sprintf("10.213.%d.1/24", l.Subnet), "dev", "br0"},
		{"-n", l.CtlNS, "link", "set", "br0", "up"},
	} {
		if err := ip(ctx, a...); err != nil {
			return l, err
		}
	}
	if l.KeyPath, err = writeKey(filepath.Join(l.Dir, "client_key"), "mk8s-lab-client"); err != nil {
		return l, err
	}
	for i := 1; i <= opts.Hosts; i++ {
		if _, err := l.addHost(ctx, fmt.Sprintf("h%d", i), false); err != nil {
			return l, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.Hosts))
	for i, h := range l.Hosts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.Start(ctx) }()
	}
	wg.Wait()
	return l, errors.Join(errs...)
}

// writeKey writes a new ed25519 private key (OpenSSH format) and its .pub, and returns
// the path.
func writeKey(path, comment string) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return "", err
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + comment + "\n"
	return path, os.WriteFile(path+".pub", []byte(pub), 0o644)
}

// addHost creates the host's network namespace, veth and state directory.
func (l *Lab) addHost(ctx context.Context, name string, nspawn bool) (*Host, error) {
	l.mu.Lock()
	n := l.nextAddr
	l.nextAddr++
	l.mu.Unlock()
	if n > 250 {
		return nil, errors.New("lab is full")
	}
	h := &Host{Name: name, NS: "mk8s-" + l.ID + "-" + name, IP: fmt.Sprintf("10.213.%d.%d", l.Subnet, n),
		Nspawn: nspawn, lab: l, dir: filepath.Join(l.Dir, "hosts", name)}
	l.mu.Lock()
	l.Hosts = append(l.Hosts, h)
	l.mu.Unlock()
	veth := fmt.Sprintf("v%s%d", l.ID, n)
	for _, a := range [][]string{
		{"netns", "add", h.NS},
		{"link", "add", veth, "netns", l.CtlNS, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", l.CtlNS, "link", "set", veth, "master", "br0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	} {
		if err := ip(ctx, a...); err != nil {
			return h, err
		}
	}
	if err := h.prepare(); err != nil {
		return h, fmt.Errorf("preparing %s: %w", name, err)
	}
	return h, nil
}

// Dial opens a TCP connection to a lab address from inside the controller namespace. It
// refuses any address outside the lab range.
func (l *Lab) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	_, lab, _ := net.ParseCIDR(LabRange)
	if ip := net.ParseIP(host); ip == nil || !lab.Contains(ip) {
		return nil, fmt.Errorf("lab dial: %s is not a lab address (%s)", addr, LabRange)
	}
	return DialInNamespace(ctx, l.CtlNS, network, addr)
}

// Host returns the host with that name.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Conn opens a root SSH connection to a host with its pinned key, for tests to inspect it.
func (l *Lab) Conn(ctx context.Context, h *Host) (*transport.Conn, error) {
	return transport.Dial(ctx, transport.Target{Node: h.Name, Host: h.IP, User: "root", KeyPath: l.KeyPath, HostKey: h.HostKey},
		transport.DialOptions{Dial: l.Dial})
}

// Run runs a script as root on a host over SSH and returns its stdout; a non-zero exit
// is an error carrying stderr.
func (l *Lab) Run(ctx context.Context, h *Host, script string) (string, error) {
	c, err := l.Conn(ctx, h)
	if err != nil {
		return "", err
	}
	defer c.Close()
	res, err := c.Run(ctx, []byte(script))
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return string(res.Stdout), fmt.Errorf("%s: exit %d: %s", h.Name, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout), nil
}

// WriteFile writes data to path on a host, over SSH, creating its directory: a file of
// the machine the host should see at the same path, where the host's view differs
// (its private /tmp, its copy-on-write /var and /srv).
func (l *Lab) WriteFile(ctx context.Context, h *Host, path string, data []byte, mode os.FileMode) error {
	q := transport.Quote(path)
	script := fmt.Sprintf("set -e\nmkdir -p \"$(dirname %[1]s)\"\nbase64 -d > %[1]s.mk8s-tmp <<'MK8S_EOF'\n%[2]s\nMK8S_EOF\nchmod %#[3]o %[1]s.mk8s-tmp\nmv %[1]s.mk8s-tmp %[1]s\n",
		q, base64.StdEncoding.EncodeToString(data), mode.Perm())
	_, err := l.Run(ctx, h, script)
	return err
}

// WaitSSH waits until the host accepts TCP connections on port 22.
func (l *Lab) WaitSSH(ctx context.Context, h *Host, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := l.Dial(dctx, "tcp", h.Addr())
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: sshd not reachable at %s after %s: %w (log: %s)", h.Name, h.Addr(), timeout, err, h.log())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *Host) log() string {
	b, _ := os.ReadFile(h.dir + ".log")
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// Close stops every host by PID, deletes the namespaces, releases the subnet and removes
// the lab directory (when the lab created it).
func (l *Lab) Close() error {
	var errs []error
	ctx := context.Background()
	for _, h := range l.Hosts {
		errs = append(errs, h.Stop(), h.detachLoops(ctx))
		if err := ip(ctx, "netns", "del", h.NS); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	if l.CtlNS != "" {
		if err := ip(ctx, "netns", "del", l.CtlNS); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	if l.release != nil {
		l.release()
	}
	if l.ownsDir && l.Dir != "" {
		errs = append(errs, os.RemoveAll(l.Dir))
	}
	return errors.Join(errs...)
}

// Running reports whether the host's processes are up.
func (h *Host) Running() bool {
	if h.launcher == nil {
		return false
	}
	select {
	case <-h.waited:
		return false
	default:
		return true
	}
}

// Stop stops the host: the namespace's PID 1 (sshd, or systemd under nspawn) is
// signalled by PID, and the launcher is reaped. Its disk (upper dirs) survives, like a
// powered-off machine's.
func (h *Host) Stop() error {
	if !h.Running() {
		return nil
	}
	pid := h.launcher.Process.Pid
	if h.Nspawn {
		// An orderly halt of the container; nspawn is the launcher itself.
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-h.waited:
			return nil
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	} else {
		// The launcher (unshare) forked the namespace's PID 1: killing it ends the
		// whole PID namespace, and unshare exits.
		for _, c := range childPIDs(pid) {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
		select {
		case <-h.waited:
			return nil
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-h.waited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: launcher %d did not exit", h.Name, pid)
	}
}

func (h *Host) startLauncher(cmd *exec.Cmd) error {
	logf, err := os.OpenFile(h.dir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr, cmd.Stdin = logf, logf, nil
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	h.launcher, h.waited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(h.waited)
	}()
	return nil
}

// Start (re)starts a stopped host and waits until its sshd accepts connections.
func (h *Host) Start(ctx context.Context) error {
	if h.Running() {
		return nil
	}
	var cmd *exec.Cmd
	if h.Nspawn {
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", nspawnInit,
			"nspawn-init", h.Name, h.dir, "/run/netns/"+h.NS)
	} else {
		cmd = exec.Command("ip", "netns", "exec", h.NS, "unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
			"--propagation", "private", "/bin/sh", "-c", hostInit, "host-init", h.Name, h.dir, h.IP, h.lab.SudoUser)
	}
	if err := h.startLauncher(cmd); err != nil {
		return fmt.Errorf("%s: starting: %w", h.Name, err)
	}
	timeout := 20 * time.Second
	if h.Nspawn {
		timeout = 60 * time.Second
	}
	return h.lab.WaitSSH(ctx, h, timeout)
}
