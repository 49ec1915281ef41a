package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// Options of Start.
type Options struct {
	// Hosts is the number of lab hosts: at least len(InitialNodes); the rest are spares.
	Hosts int
	// MK8s is the mk8s binary the daemons and commands run.
	MK8s string
	// Log receives one line per step; nil discards.
	Log io.Writer
	// PollInterval of the reconciler config; 1h when empty, so that only pushes, the
	// webhook and requests trigger reconciles.
	PollInterval string
}

// Sandbox is one running loop environment.
type Sandbox struct {
	Kube *kubeenv.Env
	Lab  *hosts.Lab
	// Dir holds everything below; removed by Close.
	Dir string
	// Bare is the bootstrap node's bare repository: the reconciler's source.
	Bare string
	// Work is the operator's working clone of the site, on branch main.
	Work string
	// SigningKey is the private SSH key that signs the site's commits; Principal is the
	// identity the allowed_signers file trusts it for.
	SigningKey, Principal string
	// Config is the reconciler configuration; WebhookSecret the file of the webhook's
	// HMAC secret.
	Config, WebhookSecret string
	// Nodes maps the site's node names to lab hosts.
	Nodes map[string]*hosts.Host

	mk8s    string
	log     io.Writer
	home    string
	daemons []*Daemon
	// disks are the loop devices standing in for the nodes' disks (Volumes on raw
	// devices), detached by Close.
	disks []string
}

// repoRoot is the module root (site-example lives there).
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the sandbox package")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Start builds the sandbox. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (s *Sandbox, err error) {
	if opts.Hosts < len(InitialNodes) {
		opts.Hosts = len(InitialNodes)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.PollInterval == "" {
		opts.PollInterval = "1h"
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mk8s-sandbox-")
	if err != nil {
		return nil, err
	}
	s = &Sandbox{Dir: dir, mk8s: opts.MK8s, log: opts.Log, home: filepath.Join(dir, "home"), Nodes: map[string]*hosts.Host{}}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		return s, err
	}
	s.logf("starting a real kube-apiserver and etcd")
	if s.Kube, err = kubeenv.Start(ctx, kubeenv.StartOptions{}); err != nil {
		return s, err
	}
	s.logf("starting %d SSH hosts in network namespaces (lab range 10.213.0.0/16, guard route in place)", opts.Hosts)
	if s.Lab, err = hosts.New(ctx, hosts.Options{Hosts: opts.Hosts, Dir: filepath.Join(dir, "lab")}); err != nil {
		return s, err
	}
	for i, n := range InitialNodes {
		s.Nodes[n] = s.Lab.Hosts[i]
	}
	// The bootstrap node mounts the Solution archives the site imports (with the
	// kernel's iso9660, or fuseiso where the kernel has none: hosts.ISO9660).
	how, err := s.Lab.ISO9660(ctx, s.Nodes["bootstrap"])
	if err != nil {
		return s, err
	}
	s.logf("the bootstrap node mounts ISO images with the %s iso9660 driver", how)
	s.logf("making the site signing key and the reconciler config")
	s.SigningKey, s.Principal = filepath.Join(dir, "keys", "site-signing"), "ops@demo.mk8s.invalid"
	if err := os.MkdirAll(filepath.Dir(s.SigningKey), 0o700); err != nil {
		return s, err
	}
	if _, err := s.run(ctx, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", s.Principal, "-f", s.SigningKey); err != nil {
		return s, err
	}
	s.Work, s.Bare = filepath.Join(dir, "site"), filepath.Join(dir, "bootstrap", "site.git")
	if err := writeSite(filepath.Join(root, "site-example"), s.Work, s.Lab, s.disk); err != nil {
		return s, fmt.Errorf("writing the sandbox site: %w", err)
	}
	if err := s.writeConfig(opts.PollInterval); err != nil {
		return s, err
	}
	s.logf("seeding the bare repository %s with a signed first commit", s.Bare)
	if _, err := s.Git(ctx, "init", "-q", "-b", "main"); err != nil {
		return s, err
	}
	// So that `git log --show-signature` / %G? verify against the same trust as the
	// reconciler (the clone's own setting; the reconciler reads its config file).
	if _, err := s.Git(ctx, "config", "gpg.ssh.allowedSignersFile", filepath.Join(s.Dir, "etc", "allowed_signers")); err != nil {
		return s, err
	}
	if _, err := s.run(ctx, "", "git", "init", "-q", "--bare", "-b", "main", s.Bare); err != nil {
		return s, err
	}
	if _, err := s.Commit(ctx, true, "Site from site-example, on the sandbox hosts"); err != nil {
		return s, err
	}
	if _, err := s.Push(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// disk attaches a loop device of the machine, backed by a 10 GiB sparse file of the
// sandbox, to stand in for a node's disk: the hosts share the machine's /dev.
func (s *Sandbox) disk(node, devicePath string) (string, error) {
	img := filepath.Join(s.Dir, "disks", node+"-"+filepath.Base(devicePath)+".img")
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return "", err
	}
	if err := os.Truncate(img, 10<<30); err != nil {
		return "", err
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		return "", fmt.Errorf("losetup --find --show %s: %w", img, err)
	}
	dev := strings.TrimSpace(string(out))
	s.disks = append(s.disks, dev)
	s.logf("%s's disk %s is %s here (a loop device of a sparse file)", node, devicePath, dev)
	return dev, nil
}

func (s *Sandbox) writeConfig(poll string) error {
	cdir := filepath.Join(s.Dir, "etc")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	pub, err := os.ReadFile(s.SigningKey + ".pub")
	if err != nil {
		return err
	}
	signers := fmt.Sprintf("%s namespaces=\"git\" %s\n", s.Principal, strings.TrimSpace(string(pub)))
	if err := os.WriteFile(filepath.Join(cdir, "allowed_signers"), []byte(signers), 0o644); err != nil {
		return err
	}
	s.WebhookSecret = filepath.Join(cdir, "webhook-secret")
	if err := os.WriteFile(s.WebhookSecret, []byte("sandbox-webhook-secret\n"), 0o600); err != nil {
		return err
	}
	s.Config = filepath.Join(cdir, "reconciler.yaml")
	cfg := fmt.Sprintf(`source:
  url: %q
  ref: main
trust:
  allowedSignersFile: allowed_signers
  mode: range
pollInterval: %s
stateDir: %q
`, s.Bare, poll, filepath.Join(s.Dir, "state"))
	return os.WriteFile(s.Config, []byte(cfg), 0o644)
}

func (s *Sandbox) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "  · "+format+"\n", a...)
}

// env is a clean environment for git: no user or system configuration.
func (s *Sandbox) env() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C",
		"HOME=" + s.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Site Operator", "GIT_COMMITTER_NAME=Site Operator",
		"GIT_AUTHOR_EMAIL=" + s.Principal, "GIT_COMMITTER_EMAIL=" + s.Principal}
}

func (s *Sandbox) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, s.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Git runs git in the working clone.
func (s *Sandbox) Git(ctx context.Context, args ...string) (string, error) {
	return s.run(ctx, s.Work, "git", args...)
}

// WriteFile writes a file of the working clone (path relative to it).
func (s *Sandbox) WriteFile(rel, content string) error {
	p := filepath.Join(s.Work, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// ReadFile reads a file of the working clone.
func (s *Sandbox) ReadFile(rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Work, rel))
	return string(b), err
}

// Commit stages everything and commits, signed with the sandbox key when signed is set
// (explicitly unsigned otherwise), and returns the commit hash.
func (s *Sandbox) Commit(ctx context.Context, signed bool, msg string) (string, error) {
	if _, err := s.Git(ctx, "add", "-A"); err != nil {
		return "", err
	}
	args := []string{"-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", msg}
	if signed {
		args = []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + s.SigningKey + ".pub", "commit", "-q", "-S", "--allow-empty", "-m", msg}
	}
	if _, err := s.Git(ctx, args...); err != nil {
		return "", err
	}
	return s.Head(ctx)
}

// Head is the working clone's HEAD commit.
func (s *Sandbox) Head(ctx context.Context) (string, error) {
	out, err := s.Git(ctx, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// Push pushes main to the bootstrap node's bare repository and returns the pushed commit.
func (s *Sandbox) Push(ctx context.Context) (string, error) {
	if _, err := s.Git(ctx, "push", "-q", s.Bare, "main"); err != nil {
		return "", err
	}
	return s.Head(ctx)
}

// PushCommand is the push as a user types it (for the demo's transcript).
func (s *Sandbox) PushCommand() string { return "git push " + s.Bare + " main" }

// Revision is the name the reconciler gives a commit of main.
func Revision(commit string) string { return "main@sha1:" + commit }

// MK8s runs the mk8s binary with KUBECONFIG naming the sandbox cluster and returns
// its combined output and exit error.
func (s *Sandbox) MK8s(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.mk8s, args...)
	cmd.Env = append(os.Environ(), "HOME="+s.home, "KUBECONFIG="+s.Kube.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Close stops every daemon by PID, the lab hosts and the control plane, and removes
// the sandbox directory (namespaces included).
func (s *Sandbox) Close() error {
	var errs []error
	for _, d := range s.daemons {
		errs = append(errs, d.Stop(10*time.Second))
	}
	if s.Lab != nil {
		errs = append(errs, s.Lab.Close())
	}
	if s.Kube != nil {
		errs = append(errs, s.Kube.Stop())
	}
	for _, d := range s.disks {
		if b, err := exec.Command("losetup", "--detach", d).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("losetup --detach %s: %w: %s", d, err, b))
		}
	}
	errs = append(errs, os.RemoveAll(s.Dir))
	return errors.Join(errs...)
}
