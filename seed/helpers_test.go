package seed

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	// git must not read the machine's or the user's configuration.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// gnupgHome makes a short GNUPGHOME (the agent socket path must fit in 108 bytes) and
// stops its agent and removes it at cleanup.
func gnupgHome(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("/tmp", "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = runErr([]string{"GNUPGHOME=" + home}, "gpgconf", "--kill", "gpg-agent")
		_ = os.RemoveAll(home)
	})
	return home
}

// pgpKey is an OpenPGP key made by real gpg.
type pgpKey struct {
	private, public string // armored files
	fingerprint     string
}

func newPGPKey(t *testing.T, uid string) pgpKey {
	t.Helper()
	home := gnupgHome(t)
	env := []string{"GNUPGHOME=" + home}
	run(t, env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", uid, "ed25519", "sign", "never")
	out := run(t, env, "gpg", "--batch", "--list-secret-keys", "--with-colons")
	var fpr string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatalf("no fingerprint in gpg output:\n%s", out)
	}
	dir := t.TempDir()
	k := pgpKey{private: filepath.Join(dir, "signer.asc"), public: filepath.Join(dir, "signer.pub.asc"), fingerprint: fpr}
	priv := run(t, env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor",
		"--export-secret-keys", fpr)
	pub := run(t, env, "gpg", "--batch", "--armor", "--export", fpr)
	if err := os.WriteFile(k.private, []byte(priv), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.public, []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// verifyPGP runs real `git verify-commit` in a fresh GNUPGHOME that holds only the public
// key, trusted, and returns git's %G? and %GF for the commit.
func verifyPGP(t *testing.T, gitDir, rev string, k pgpKey) (status, fpr string) {
	t.Helper()
	home := gnupgHome(t)
	env := []string{"GNUPGHOME=" + home}
	run(t, env, "gpg", "--batch", "--import", k.public)
	cmd := exec.Command("gpg", "--batch", "--import-ownertrust")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(k.fingerprint + ":6:\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import ownertrust: %v\n%s", err, out)
	}
	run(t, env, "git", "--git-dir", gitDir, "verify-commit", rev)
	out := run(t, env, "git", "--git-dir", gitDir, "log", "-1", "--format=%G? %GF", rev)
	f := strings.Fields(out)
	if len(f) != 2 {
		t.Fatalf("git log %%G?: %q", out)
	}
	return f[0], f[1]
}

// sshKey is an OpenSSH key made by real ssh-keygen.
type sshKey struct {
	private, public string // files
	publicLine      string
}

func newSSHKey(t *testing.T, comment string) sshKey {
	t.Helper()
	dir := t.TempDir()
	k := sshKey{private: filepath.Join(dir, "signer"), public: filepath.Join(dir, "signer.pub")}
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", k.private)
	b, err := os.ReadFile(k.public)
	if err != nil {
		t.Fatal(err)
	}
	k.publicLine = strings.TrimSpace(string(b))
	return k
}

// verifySSH runs real `git verify-commit` with an allowed_signers file naming only k.
func verifySSH(t *testing.T, gitDir, rev string, k sshKey) (string, error) {
	t.Helper()
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, []byte("signer@example.invalid namespaces=\"git\" "+k.publicLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return runErr(nil, "git", "--git-dir", gitDir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", rev)
}

// snapshot records every path under dir with its mode, size, mtime and content hash, to
// prove that a refused seed changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// flagOptions are the options of a seed from flags in the lab range.
func flagOptions(dir, key string) Options {
	return Options{
		Dir: dir,
		Network: Network{
			ControlPlaneCIDRs:  []string{"10.213.1.0/24"},
			WorkloadPlaneCIDRs: []string{"10.213.2.0/24"},
			Archives:           []string{"/srv/scality/metalk8s-2.10.0.iso"},
		},
		Node: Node{Name: "bootstrap", SSHHost: "10.213.1.11",
			SSHHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN7ZW4mVvUxrNMAxeamI1vKIYUDUIE6kpSotZhVDPzsB root@bootstrap"},
		PlatformVersion: "2.10.0",
		SigningKey:      key,
		AuthorName:      "Site Signer",
		AuthorEmail:     "signer@example.invalid",
		// After the keys' creation: a signature older than its key is not valid.
		Time: time.Now().UTC().Truncate(time.Second),
	}
}
