package config

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	cueyaml "cuelang.org/go/encoding/yaml"

	"github.com/metalk8s/mk8s/schema/diag"
)

// DefaultPath is where the reconciler looks for its configuration.
const DefaultPath = "/etc/mk8s/reconciler.yaml"

// DefaultStateDir is the state directory when the configuration sets none (schema.cue's
// default, for the commands that run without a configuration).
const DefaultStateDir = "/var/lib/mk8s/source"

//go:embed schema.cue
var schemaCUE string

// Config is the validated reconciler configuration. Relative file paths are resolved
// against the directory of the configuration file.
type Config struct {
	// File is the path the configuration was read from.
	File         string        `json:"-"`
	Source       Source        `json:"source"`
	Trust        Trust         `json:"trust"`
	PollInterval time.Duration `json:"-"`
	StateDir     string        `json:"stateDir"`
	// Secrets, when set, names the age identity that decrypts the site's encrypted
	// credentials.
	Secrets *Secrets `json:"secrets,omitempty"`
	// Digest covers the configuration and the content of every trust file: a change of
	// either means a revision must be verified again.
	Digest string `json:"-"`
}

// Source says where the site repository is and how to reach it.
type Source struct {
	URL   string `json:"url"`
	Ref   string `json:"ref"`
	SSH   *SSH   `json:"ssh,omitempty"`
	HTTPS *HTTPS `json:"https,omitempty"`
}

// SSH is the identity and the pinned host keys for ssh:// and scp-like URLs.
type SSH struct {
	IdentityFile   string `json:"identityFile"`
	KnownHostsFile string `json:"knownHostsFile"`
}

// HTTPS is basic (username + passwordFile) or token (tokenFile) auth and an optional CA.
type HTTPS struct {
	Username     string `json:"username,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	TokenFile    string `json:"tokenFile,omitempty"`
	CAFile       string `json:"caFile,omitempty"`
}

// Secrets says where the reconciler's age identity is (an AGE-SECRET-KEY-1… file, mode
// 0600). Only its path is read here; reconciler/secrets loads it. Its content is not in
// the Digest: a digest of a private key has no business in the source state.
type Secrets struct {
	AgeIdentityFile string `json:"ageIdentityFile"`
}

// Trust names the trusted keys and the verification mode.
type Trust struct {
	OpenPGPKeyFiles    []string `json:"openpgpKeyFiles,omitempty"`
	AllowedSignersFile string   `json:"allowedSignersFile,omitempty"`
	// Mode is "range" (every new commit) or "head".
	Mode string `json:"mode"`
	// Anchor, when set, is the commit whose history is trusted without verification when
	// nothing has been applied yet.
	Anchor string `json:"anchor,omitempty"`
}

type raw struct {
	Source       Source   `json:"source"`
	Trust        Trust    `json:"trust"`
	PollInterval string   `json:"pollInterval"`
	StateDir     string   `json:"stateDir"`
	Secrets      *Secrets `json:"secrets"`
}

// Load reads and validates the configuration at path. On any problem the returned list
// holds errors and the Config is nil.
func Load(path string) (*Config, diag.List) {
	data, err := os.ReadFile(path)
	if err != nil {
		var l diag.List
		l.Errorf(path, 0, "", "", "cannot read the reconciler configuration: %v", err)
		return nil, l
	}
	return Parse(path, data)
}

// Parse validates data as the configuration read from path.
func Parse(path string, data []byte) (*Config, diag.List) {
	var l diag.List
	ctx := cuecontext.New()
	schema := ctx.CompileString(schemaCUE, cue.Filename("reconciler-schema.cue")).LookupPath(cue.ParsePath("#Config"))
	if err := schema.Err(); err != nil {
		l.Errorf(path, 0, "", "", "internal: reconciler schema: %v", err)
		return nil, l
	}
	file, err := cueyaml.Extract(path, data)
	if err != nil {
		l.Errorf(path, yamlErrorLine(err), "", "valid YAML", "%v", firstLineOf(err.Error()))
		return nil, l
	}
	doc := ctx.BuildFile(file)
	if err := doc.Err(); err != nil {
		l.Errorf(path, 0, "", "valid YAML", "%v", err)
		return nil, l
	}
	v := schema.Unify(doc)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, toDiag(path, doc, err)
	}
	var r raw
	if err := v.Decode(&r); err != nil {
		l.Errorf(path, 0, "", "", "decode: %v", err)
		return nil, l
	}
	line := func(field string) int { return lineOf(doc, field) }
	cfg := &Config{File: path, Source: r.Source, Trust: r.Trust, StateDir: r.StateDir, Secrets: r.Secrets}
	cfg.PollInterval, err = time.ParseDuration(r.PollInterval)
	if err != nil || cfg.PollInterval < time.Second {
		l.Errorf(path, line("pollInterval"), "pollInterval", "a duration of at least 1s, like 30s or 5m", "%q is too short or not a duration", r.PollInterval)
	}
	if len(cfg.Trust.OpenPGPKeyFiles) == 0 && cfg.Trust.AllowedSignersFile == "" {
		l.Errorf(path, line("trust"), "trust", "trust.openpgpKeyFiles (armored public keys) and/or trust.allowedSignersFile",
			"no trusted key: every commit must be signed by a key this file trusts")
	}
	kind := URLKind(cfg.Source.URL)
	switch {
	case kind == KindSSH && cfg.Source.SSH == nil:
		l.Errorf(path, line("source.url"), "source.ssh", "source.ssh.identityFile and source.ssh.knownHostsFile",
			"an SSH URL needs an identity and pinned host keys")
	case kind != KindSSH && cfg.Source.SSH != nil:
		l.Errorf(path, line("source.ssh"), "source.ssh", "only with ssh:// or user@host:path URLs", "is set but the URL %q is not SSH", cfg.Source.URL)
	}
	if h := cfg.Source.HTTPS; h != nil {
		if kind != KindHTTPS {
			l.Errorf(path, line("source.https"), "source.https", "only with https:// URLs", "is set but the URL %q is not HTTPS", cfg.Source.URL)
		}
		if h.TokenFile != "" && (h.Username != "" || h.PasswordFile != "") {
			l.Errorf(path, line("source.https.tokenFile"), "source.https.tokenFile", "either tokenFile, or username with passwordFile",
				"token and basic auth are both set")
		}
		if (h.Username == "") != (h.PasswordFile == "") {
			l.Errorf(path, line("source.https"), "source.https", "username and passwordFile together", "basic auth needs both a username and a password file")
		}
	}
	if kind == KindHTTP {
		l.Errorf(path, line("source.url"), "source.url", "https://, ssh://, git://, a local path or iso://", "plain http:// is not accepted")
	}
	if kind == KindISO && !strings.Contains(cfg.Source.URL, "#") {
		l.Errorf(path, line("source.url"), "source.url", "iso:///path/to/file.iso#/repo.git", "an ISO URL must name the repository inside the image after #")
	}
	// Resolve and check every file the configuration names.
	base := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	files := map[string]*string{}
	if s := cfg.Source.SSH; s != nil {
		files["source.ssh.identityFile"] = &s.IdentityFile
		files["source.ssh.knownHostsFile"] = &s.KnownHostsFile
	}
	if h := cfg.Source.HTTPS; h != nil {
		files["source.https.passwordFile"] = &h.PasswordFile
		files["source.https.tokenFile"] = &h.TokenFile
		files["source.https.caFile"] = &h.CAFile
	}
	files["trust.allowedSignersFile"] = &cfg.Trust.AllowedSignersFile
	if cfg.Secrets != nil {
		files["secrets.ageIdentityFile"] = &cfg.Secrets.AgeIdentityFile
	}
	for i := range cfg.Trust.OpenPGPKeyFiles {
		files[fmt.Sprintf("trust.openpgpKeyFiles[%d]", i)] = &cfg.Trust.OpenPGPKeyFiles[i]
	}
	digest := sha256.New()
	digest.Write(data)
	for _, field := range sortedKeys(files) {
		p := files[field]
		if *p == "" {
			continue
		}
		*p = abs(*p)
		content, err := os.ReadFile(*p)
		if err != nil {
			l.Errorf(path, line(field), field, "a readable file", "cannot read %s: %v", *p, errors.Unwrap(err))
			continue
		}
		if strings.HasPrefix(field, "trust.") {
			fmt.Fprintf(digest, "\x00%s\x00", field)
			digest.Write(content)
		}
	}
	cfg.StateDir = abs(cfg.StateDir)
	if kind == KindLocal && !strings.HasPrefix(cfg.Source.URL, "file://") {
		cfg.Source.URL = abs(cfg.Source.URL)
	}
	if l.HasErrors() {
		return nil, l
	}
	cfg.Digest = hex.EncodeToString(digest.Sum(nil))
	return cfg, l
}

// lineOf returns the line of field in the document, 0 when absent. Paths use the
// diagnostic form: a.b[0].c.
func lineOf(doc cue.Value, field string) int {
	p := field
	for p != "" {
		v := doc.LookupPath(cue.ParsePath(p))
		if v.Exists() {
			return v.Pos().Line()
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// allowed says what each schema field accepts, in words.
var allowed = map[string]string{
	"source.url":                "ssh://user@host[:port]/path, user@host:path, https://..., git://..., a local bare repository path, or iso:///file.iso#/repo.git",
	"source.ref":                "a branch name such as main",
	"trust.mode":                `"range" (verify every new commit) or "head"`,
	"trust.anchor":              "a full 40-hex commit hash",
	"pollInterval":              "a duration such as 30s or 5m",
	"stateDir":                  "a directory path",
	"trust.openpgpKeyFiles":     "a list of armored OpenPGP public key files",
	"trust.allowedSignersFile":  "an OpenSSH allowed_signers file",
	"source.ssh.identityFile":   "a private key file",
	"source.ssh.knownHostsFile": "a known_hosts file",
	"secrets.ageIdentityFile":   "an age identity file (age-keygen), readable by its owner only",
}

// toDiag turns CUE errors into diagnostics at the line of the data they concern. A
// field refused by several branches of a disjunction gets one diagnostic naming the value.
func toDiag(path string, doc cue.Value, err error) diag.List {
	var l diag.List
	type item struct {
		line int
		msgs []string
	}
	byField := map[string]*item{}
	var order []string
	for _, e := range cueerrors.Errors(err) {
		field := diagPath(e.Path())
		line := 0
		for _, p := range cueerrors.Positions(e) {
			if p.Filename() == path {
				line = p.Line()
				break
			}
		}
		if line == 0 {
			line = lineOf(doc, field)
		}
		format, args := e.Msg()
		it := byField[field]
		if it == nil {
			it = &item{line: line}
			byField[field] = it
			order = append(order, field)
		}
		it.msgs = append(it.msgs, fmt.Sprintf(format, args...))
	}
	for _, field := range order {
		it := byField[field]
		msg := it.msgs[0]
		a := allowed[field]
		switch {
		case strings.Contains(msg, "not allowed"):
			a = "the fields allowed here are " + allowedFor(parentOf(field))
		case strings.Contains(msg, "required but not present"):
			msg = "is required"
		case len(it.msgs) > 1 || strings.Contains(msg, "conflicting values") || strings.Contains(msg, "out of bound"):
			v := doc.LookupPath(cue.ParsePath(field))
			msg = fmt.Sprintf("%v is not valid", v)
			if b, err := v.MarshalJSON(); err == nil {
				msg = string(b) + " is not valid"
			}
		}
		l.Errorf(path, it.line, field, a, "%s", msg)
	}
	return l.Sort()
}

func diagPath(sel []string) string {
	var b strings.Builder
	for _, s := range sel {
		if s == "#Config" {
			continue
		}
		if s != "" && s[0] >= '0' && s[0] <= '9' {
			fmt.Fprintf(&b, "[%s]", s)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func parentOf(field string) string {
	if i := strings.LastIndex(field, "."); i >= 0 {
		return field[:i]
	}
	return ""
}

// allowedFor lists the fields a struct of the schema accepts.
func allowedFor(parent string) string {
	switch parent {
	case "":
		return "source, trust, secrets, pollInterval, stateDir"
	case "source":
		return "url, ref, ssh, https"
	case "source.ssh":
		return "identityFile, knownHostsFile"
	case "source.https":
		return "username, passwordFile, tokenFile, caFile"
	case "trust":
		return "openpgpKeyFiles, allowedSignersFile, mode, anchor"
	case "secrets":
		return "ageIdentityFile"
	}
	return ""
}

func sortedKeys(m map[string]*string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func yamlErrorLine(err error) int {
	for _, p := range cueerrors.Positions(err) {
		if p.Line() > 0 {
			return p.Line()
		}
	}
	return 0
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
