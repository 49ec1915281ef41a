package signing

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Signer is a key git can sign commits with.
type Signer interface {
	// Email is the committer email commits signed with this key carry.
	Email() string
	// gitArgs are the -c options that make git sign with this key.
	gitArgs() []string
	// env is what git (and gpg) need in their environment.
	env() []string
}

// GPGKey is an OpenPGP key in its own GNUPGHOME.
type GPGKey struct {
	Home          string
	Name          string
	Mail          string
	Fingerprint   string
	PublicKeyFile string
	// FakedTime, when set, is passed to every gpg run as --faked-system-time (signing in
	// the past, with a key that has expired since).
	FakedTime string
	program   string
}

// GPGOptions shapes a new OpenPGP key.
type GPGOptions struct {
	// Expire is gpg's expiry argument: "never" (default), "1d", "2030-01-01"...
	Expire string
	// FakedTime makes gpg believe it is this time (YYYYMMDDTHHMMSS), for the key creation
	// and every later signature with it.
	FakedTime string
}

// NewGPGKey generates an ed25519 signing key with gpg.
func NewGPGKey(t testing.TB, name, email string, opts GPGOptions) *GPGKey {
	t.Helper()
	if opts.Expire == "" {
		opts.Expire = "never"
	}
	home, err := os.MkdirTemp("/tmp", "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	k := &GPGKey{Home: home, Name: name, Mail: email, FakedTime: opts.FakedTime}
	t.Cleanup(func() {
		// The agent is per home directory; stop it before removing its socket dir.
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(cleanEnv(), "GNUPGHOME="+home)
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	// A wrapper so that git's signing runs gpg with the same faked time.
	k.program = filepath.Join(home, "gpg.sh")
	wrapper := "#!/bin/sh\nexec gpg " + k.fakedArg() + " \"$@\"\n"
	if err := os.WriteFile(k.program, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	k.gpg(t, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
		fmt.Sprintf("%s <%s>", name, email), "ed25519", "sign", opts.Expire)
	out := k.gpg(t, "--list-secret-keys", "--with-colons")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			k.Fingerprint = f[9]
			break
		}
	}
	if k.Fingerprint == "" {
		t.Fatalf("gpg: no fingerprint in %q", out)
	}
	k.PublicKeyFile = filepath.Join(home, "pub.asc")
	if err := os.WriteFile(k.PublicKeyFile, []byte(k.gpg(t, "--armor", "--export", k.Fingerprint)), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *GPGKey) fakedArg() string {
	if k.FakedTime == "" {
		return ""
	}
	return "--faked-system-time " + k.FakedTime
}

func (k *GPGKey) gpg(t testing.TB, args ...string) string {
	t.Helper()
	if k.FakedTime != "" {
		args = append([]string{"--faked-system-time", k.FakedTime}, args...)
	}
	cmd := exec.Command("gpg", args...)
	cmd.Env = append(cleanEnv(), "GNUPGHOME="+k.Home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// ExportSecret writes the armored secret key (no passphrase) to path.
func (k *GPGKey) ExportSecret(t testing.TB, path string) {
	t.Helper()
	out := k.gpg(t, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys", k.Fingerprint)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (k *GPGKey) Email() string { return k.Mail }
func (k *GPGKey) gitArgs() []string {
	return []string{"-c", "gpg.format=openpgp", "-c", "user.signingkey=" + k.Fingerprint, "-c", "gpg.program=" + k.program}
}
func (k *GPGKey) env() []string { return []string{"GNUPGHOME=" + k.Home} }

// SSHKey is an ed25519 key made by ssh-keygen.
type SSHKey struct {
	Private, Public string
	Mail            string
	// PublicLine is the "ssh-ed25519 AAAA... comment" line.
	PublicLine string
}

// NewSSHKey generates an SSH key in dir.
func NewSSHKey(t testing.TB, dir, name, email string) *SSHKey {
	t.Helper()
	priv := filepath.Join(dir, name)
	run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", priv)
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return &SSHKey{Private: priv, Public: priv + ".pub", Mail: email, PublicLine: strings.TrimSpace(string(pub))}
}

func (k *SSHKey) Email() string { return k.Mail }
func (k *SSHKey) gitArgs() []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + k.Public}
}
func (k *SSHKey) env() []string { return nil }

// AllowedSigner is the allowed_signers line trusting k for its email, with extra
// options (e.g. `namespaces="git",valid-before="20200101"`), or namespaces="git,mk8s-iso"
// when options is empty.
func (k *SSHKey) AllowedSigner(options string) string {
	if options == "" {
		options = `namespaces="git,mk8s-iso"`
	}
	return fmt.Sprintf("%s %s %s", k.Mail, options, k.PublicLine)
}

// cleanEnv is a minimal environment: no user git config, no pyenv shell init.
func cleanEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"}
}

func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := Run(dir, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Run runs a command with a clean environment plus env, in dir.
func Run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Revoke imports the revocation certificate gpg made with the key and rewrites
// PublicKeyFile with the revoked key, as an operator would publish it.
func (k *GPGKey) Revoke(t testing.TB) {
	t.Helper()
	rev, err := os.ReadFile(filepath.Join(k.Home, "openpgp-revocs.d", k.Fingerprint+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	// gpg guards the certificate against accidental import with a leading colon.
	cert := strings.Replace(string(rev), ":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----", 1)
	f := filepath.Join(k.Home, "revoke.asc")
	if err := os.WriteFile(f, []byte(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	k.gpg(t, "--batch", "--import", f)
	if err := os.WriteFile(k.PublicKeyFile, []byte(k.gpg(t, "--armor", "--export", k.Fingerprint)), 0o644); err != nil {
		t.Fatal(err)
	}
}
