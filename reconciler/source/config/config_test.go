package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseValidConfigResolvesPathsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "allowed_signers", "ops@example.invalid ssh-ed25519 AAAA\n")
	write(t, dir, "id", "key")
	write(t, dir, "known_hosts", "")
	p := write(t, dir, "reconciler.yaml", `source:
  url: git@git.example.invalid:site.git
  ssh:
    identityFile: id
    knownHostsFile: known_hosts
trust:
  allowedSignersFile: allowed_signers
stateDir: state
`)
	cfg, diags := Load(p)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if cfg.Source.Ref != "main" || cfg.Trust.Mode != "range" || cfg.PollInterval != time.Minute {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Source.SSH.IdentityFile != filepath.Join(dir, "id") || cfg.StateDir != filepath.Join(dir, "state") {
		t.Fatalf("paths not resolved against the config dir: %+v", cfg)
	}
	if URLKind(cfg.Source.URL) != KindSSH || cfg.Digest == "" {
		t.Fatalf("kind %s digest %q", URLKind(cfg.Source.URL), cfg.Digest)
	}
	// The digest follows the trusted keys, not only the file.
	d1 := cfg.Digest
	write(t, dir, "allowed_signers", "ops@example.invalid ssh-ed25519 BBBB\n")
	cfg, _ = Load(p)
	if cfg.Digest == d1 {
		t.Fatal("changing a trust file must change the digest")
	}
}

// Every problem is reported as file:LINE: field: what is wrong; what is allowed.
func TestParseErrorsUseDiagFormat(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "source:\n  url: /srv/site.git\n  branch: main\ntrust:\n  allowedSignersFile: /etc/hostname\n",
			[]string{":3: source.branch: field not allowed; the fields allowed here are url, ref, ssh, https"}},
		{"bad mode", "source:\n  url: /srv/site.git\ntrust:\n  allowedSignersFile: /etc/hostname\n  mode: all\n",
			[]string{`:5: trust.mode: "all" is not valid; "range" (verify every new commit) or "head"`}},
		{"missing url", "source:\n  ref: main\ntrust:\n  allowedSignersFile: /etc/hostname\n",
			[]string{": source.url: is required; "}},
		{"no trust", "source:\n  url: /srv/site.git\ntrust:\n  mode: head\n",
			[]string{":3: trust: no trusted key: every commit must be signed by a key this file trusts; trust.openpgpKeyFiles"}},
		{"ssh without pins", "source:\n  url: ssh://git@h/site.git\ntrust:\n  allowedSignersFile: /etc/hostname\n",
			[]string{":2: source.ssh: an SSH URL needs an identity and pinned host keys; source.ssh.identityFile and source.ssh.knownHostsFile"}},
		{"missing key file", "source:\n  url: /srv/site.git\ntrust:\n  openpgpKeyFiles:\n    - /nonexistent/key.asc\n",
			[]string{":5: trust.openpgpKeyFiles[0]: cannot read /nonexistent/key.asc"}},
		{"bad interval", "source:\n  url: /srv/site.git\ntrust:\n  allowedSignersFile: /etc/hostname\npollInterval: soon\n",
			[]string{`:5: pollInterval: "soon" is not valid; a duration such as 30s or 5m`}},
		{"token and basic", "source:\n  url: https://h/site.git\n  https:\n    username: u\n    passwordFile: /etc/hostname\n    tokenFile: /etc/hostname\ntrust:\n  allowedSignersFile: /etc/hostname\n",
			[]string{":6: source.https.tokenFile: token and basic auth are both set"}},
		{"not yaml", "source: [\n", []string{"reconciler.yaml:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, dir, "reconciler.yaml", c.yaml)
			cfg, diags := Load(p)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("want errors, got %+v", cfg)
			}
			got := diags.Err().Error()
			for _, w := range c.want {
				if !strings.Contains(got, p+w) && !strings.Contains(got, w) {
					t.Errorf("errors:\n%s\nwant %q", got, p+w)
				}
			}
			if !strings.HasPrefix(got, p+":") {
				t.Errorf("errors must start with the file: %s", got)
			}
		})
	}
}

func TestURLKind(t *testing.T) {
	for u, want := range map[string]Kind{
		"ssh://git@h:2222/site.git":   KindSSH,
		"git@h:site.git":              KindSSH,
		"h:path/site.git":             KindSSH,
		"https://h/site.git":          KindHTTPS,
		"http://h/site.git":           KindHTTP,
		"git://127.0.0.1/site.git":    KindGit,
		"/srv/site.git":               KindLocal,
		"file:///srv/site.git":        KindLocal,
		"iso:///m/site.iso#/repo.git": KindISO,
	} {
		if got := URLKind(u); got != want {
			t.Errorf("URLKind(%q) = %s, want %s", u, got, want)
		}
	}
}

// git@host:/abs/path is git's scp-like SSH form, and a file:// URL is already absolute:
// neither may be joined to the configuration directory.
func TestURLFormsKeptAsWritten(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "allowed_signers", "ops@example.invalid ssh-ed25519 AAAA\n")
	write(t, dir, "id", "key")
	write(t, dir, "known_hosts", "")
	for _, c := range []struct {
		url, ssh string
		kind     Kind
	}{
		{"git@git.example.invalid:/srv/git/site.git", "  ssh:\n    identityFile: id\n    knownHostsFile: known_hosts\n", KindSSH},
		{"ssh://git@git.example.invalid:2222/srv/site.git", "  ssh:\n    identityFile: id\n    knownHostsFile: known_hosts\n", KindSSH},
		{"file:///srv/git/site.git", "", KindLocal},
		{"/srv/git/site.git", "", KindLocal},
	} {
		p := write(t, dir, "reconciler.yaml", "source:\n  url: "+c.url+"\n"+c.ssh+"trust:\n  allowedSignersFile: allowed_signers\n")
		cfg, diags := Load(p)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.url, diags.Err())
		}
		if cfg.Source.URL != c.url || URLKind(cfg.Source.URL) != c.kind {
			t.Fatalf("url %q became %q (%s), want it kept (%s)", c.url, cfg.Source.URL, URLKind(cfg.Source.URL), c.kind)
		}
	}
}

// secrets.ageIdentityFile names the reconciler's age identity, resolved against the
// configuration's directory; a missing file or a stray field is a diagnostic.
func TestParseSecretsAgeIdentityFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "allowed_signers", "ops@example.invalid ssh-ed25519 AAAA\n")
	write(t, dir, "age.key", "AGE-SECRET-KEY-1…\n")
	base := "source:\n  url: /srv/site.git\ntrust:\n  allowedSignersFile: allowed_signers\n"
	cfg, diags := Load(write(t, dir, "ok.yaml", base+"secrets:\n  ageIdentityFile: age.key\n"))
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if cfg.Secrets == nil || cfg.Secrets.AgeIdentityFile != filepath.Join(dir, "age.key") {
		t.Fatalf("secrets: %+v", cfg.Secrets)
	}
	if cfg, _ := Load(write(t, dir, "none.yaml", base)); cfg == nil || cfg.Secrets != nil {
		t.Fatalf("no secrets section: %+v", cfg)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"absent file": {base + "secrets:\n  ageIdentityFile: nope.key\n", ":6: secrets.ageIdentityFile: cannot read " + filepath.Join(dir, "nope.key")},
		"stray field": {base + "secrets:\n  ageKey: x\n", ":6: secrets.ageKey: field not allowed; the fields allowed here are ageIdentityFile"},
	} {
		_, diags := Load(write(t, dir, "bad.yaml", tc.yaml))
		if !strings.Contains(diags.Err().Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", name, diags.Err(), tc.want)
		}
	}
}
