package resource

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// File is a regular file whose whole content, owner, group and mode mk8s manages.
type File struct {
	Path    string
	Content []byte
	Mode    fs.FileMode
	Owner   string // root when empty
	Group   string // root when empty
	// Secret files never show their content in a diff.
	Secret bool
	// Describe, when set, renders content for diffs: a certificate's subject, SANs and
	// dates instead of its PEM.
	Describe func([]byte) []byte
}

// ID implements Resource.
func (f *File) ID() string { return "File " + f.Path }

// DesiredFile implements Desired.
func (f *File) DesiredFile() (string, []byte) { return f.Path, f.Content }

func (f *File) owner() string { return or(f.Owner, "root") + ":" + or(f.Group, "root") }

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// statProbe prints `kind|mode|owner|group` (or `absent`) for a path, without following a
// final symlink.
func statProbe(p string) string {
	return fmt.Sprintf("stat -c '%%F|%%a|%%U|%%G' %s || echo absent", Q(p))
}

// Probe implements Resource: one stat, and a checksum for regular files.
func (f *File) Probe() string {
	q := Q(f.Path)
	return statProbe(f.Path) + fmt.Sprintf("\n[ -f %s ] && [ ! -L %s ] && sha256sum < %s", q, q, q)
}

type stat struct {
	kind, mode, owner, group string
	absent                   bool
}

func parseStat(line string) stat {
	if line == "absent" || line == "" {
		return stat{absent: true}
	}
	p := strings.Split(line, "|")
	for len(p) < 4 {
		p = append(p, "")
	}
	return stat{kind: p[0], mode: p[1], owner: p[2], group: p[3]}
}

func modeString(m fs.FileMode) string { return fmt.Sprintf("%o", m.Perm()) }

// StatPaths implements Batched.
func (f *File) StatPaths() []string { return []string{f.Path} }

// SumPaths implements Batched.
func (f *File) SumPaths() []string { return []string{f.Path} }

// Decide implements Resource.
func (f *File) Decide(_ string, c *Context) Step {
	return f.decide(c.fileFacts(f.Path), c, f.Content)
}

func (f *File) decide(facts string, c *Context, content []byte) Step {
	lines := strings.SplitN(facts, "\n", 2)
	st := parseStat(lines[0])
	want := SHA256(content)
	if st.absent {
		c.Changed[f.Path] = true
		return Step{Action: change.Created, Diff: f.diff(nil, content, true),
			Message: fmt.Sprintf("%s %s", modeString(f.Mode), f.owner()), Script: f.writeScript(content, "")}
	}
	if !strings.HasPrefix(st.kind, "regular") {
		return Step{Action: change.Failed, Message: fmt.Sprintf("%s is a %s, not a regular file; refusing to replace it", f.Path, st.kind)}
	}
	live := ""
	if len(lines) > 1 {
		live, _, _ = strings.Cut(lines[1], " ")
	}
	if live != want {
		c.Changed[f.Path] = true
		msg := "content differs from the desired state"
		switch rec, ok := c.Applied[f.Path]; {
		case ok && rec == live:
			msg = "new desired content"
		case ok:
			msg = "drift: edited on the host since mk8s wrote it; restoring"
		}
		s := Step{Action: change.Configured, Message: msg, Script: f.writeScript(content, live)}
		if old, ok := c.Old[f.Path]; ok && SHA256(old) == live {
			s.Diff = f.diff(old, content, false)
		} else if !f.Secret {
			s.NeedOld = []string{f.Path}
		} else {
			s.Diff = f.diff(nil, content, false)
		}
		return s
	}
	var msgs []string
	var script []string
	if st.mode != modeString(f.Mode) {
		msgs = append(msgs, fmt.Sprintf("mode %s -> %s", st.mode, modeString(f.Mode)))
		script = append(script, fmt.Sprintf("chmod %04o %s", f.Mode.Perm(), Q(f.Path)))
	}
	if st.owner+":"+st.group != f.owner() {
		msgs = append(msgs, fmt.Sprintf("owner %s:%s -> %s", st.owner, st.group, f.owner()))
		script = append(script, fmt.Sprintf("chown %s %s", Q(f.owner()), Q(f.Path)))
	}
	if len(msgs) == 0 {
		return Step{Action: change.Unchanged}
	}
	c.Changed[f.Path] = true
	return Step{Action: change.Configured, Message: strings.Join(msgs, ", "), Script: strings.Join(script, "\n")}
}

// writeScript writes content atomically: a temp file in the same directory, created
// with its final mode (umask) and owner, fsync, rename. The live checksum is compared
// first, so apply never overwrites a file that changed after the plan was made (live is
// "" when the plan saw no file). It uses shell builtins wherever it can (printf, test,
// umask), because process creation dominates the cost of a convergence; the parent
// directories are fsynced once, at the end of the apply script.
func (f *File) writeScript(content []byte, live string) string {
	dir, p := Q(path.Dir(f.Path)), Q(f.Path)
	var b strings.Builder
	fmt.Fprintf(&b, "[ -d %s ] || mkdir -p %s\n", dir, dir)
	if live == "" {
		fmt.Fprintf(&b, "if [ -e %s ] || [ -L %s ]; then echo %s >&2; exit 1; fi\n", p, p,
			Q(f.Path+" appeared on the host after the plan was made; not overwriting"))
	} else {
		fmt.Fprintf(&b, "set -- $(sha256sum < %s)\n[ \"$1\" = %s ] || { echo %s >&2; exit 1; }\n", p, live,
			Q(f.Path+" changed on the host after the plan was made; not overwriting"))
	}
	fmt.Fprintf(&b, "t=%s.$$\ntrap 'rm -f \"$t\"' EXIT\n", Q(path.Dir(f.Path)+"/.mk8s-"+SHA256([]byte(f.Path))[:12]))
	perm := f.Mode.Perm()
	simple := perm&0o111 == 0 // no exec bit: the umask alone gives the mode
	if simple {
		fmt.Fprintf(&b, "umask %04o\n", 0o777^perm)
	}
	if bytes.IndexByte(content, 0) < 0 {
		fmt.Fprintf(&b, "printf '%%s' %s > \"$t\"\n", Q(string(content)))
	} else {
		b.WriteString("base64 -d > \"$t\" <<'MK8S_EOF'\n")
		enc := base64.StdEncoding.EncodeToString(content)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\nMK8S_EOF\n")
	}
	if f.owner() != "root:root" {
		fmt.Fprintf(&b, "chown %s \"$t\"\n", Q(f.owner()))
	}
	if !simple {
		fmt.Fprintf(&b, "chmod %04o \"$t\"\n", perm)
	}
	fmt.Fprintf(&b, "sync \"$t\"\nmv -f \"$t\" %s\ntrap - EXIT\necho %s", p, Q(syncMarker+path.Dir(f.Path)))
	return b.String()
}

// secretLine matches lines whose value must not appear in a diff even in files not
// marked secret (a token or password pasted into a config).
var secretLine = regexp.MustCompile(`(?i)^(\s*[-\w."]*(password|passwd|secret|token|private[-_]?key|client-key-data)[-\w."]*\s*[:=]\s*).+$`)

func redact(s string) string {
	lines := strings.Split(s, "\n")
	inKey := false
	for i, l := range lines {
		switch {
		case strings.Contains(l, "-----BEGIN") && strings.Contains(l, "PRIVATE KEY"):
			inKey = true
		case inKey && strings.Contains(l, "-----END"):
			inKey = false
			lines[i] = "(redacted)"
		case inKey:
			lines[i] = "(redacted)"
		default:
			lines[i] = secretLine.ReplaceAllString(l, "${1}(redacted)")
		}
	}
	return strings.Join(lines, "\n")
}

func (f *File) diff(old, new []byte, created bool) string {
	return f.labeledDiff(old, new, created, f.Path+" (live)", f.Path+" (desired)")
}

// ContentDiff is the diff from old to the file's Content, with a plan's rules: secret
// files show checksums only, Describe renders both sides, secret-looking lines are
// redacted; created diffs from /dev/null. from and to label the two sides: an offline
// comparison of two revisions diffs two desired states, not the live file.
func (f *File) ContentDiff(old []byte, created bool, from, to string) string {
	return f.labeledDiff(old, f.Content, created, from, to)
}

func (f *File) labeledDiff(old, new []byte, created bool, from, to string) string {
	if f.Secret {
		if created {
			return fmt.Sprintf("(secret content not shown: sha256 %s)", SHA256(new))
		}
		return fmt.Sprintf("(secret content not shown: sha256 %s -> %s)", SHA256(old), SHA256(new))
	}
	if f.Describe != nil {
		old, new = f.Describe(old), f.Describe(new)
	}
	if created {
		from = "/dev/null"
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(redact(string(old))), B: difflib.SplitLines(redact(string(new))),
		FromFile: from, ToFile: to, Context: 3,
	})
	return d
}
