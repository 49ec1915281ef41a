package resource

import (
	"fmt"
	"path"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// PrivateKey is a private key generated on the host, where it stays: mk8s never reads
// it, only its public half (for the signer) and its mode. An existing key is never
// replaced.
type PrivateKey struct {
	Path string
	// Bits is the RSA key size.
	Bits int
}

// ID implements Resource.
func (k *PrivateKey) ID() string { return "PrivateKey " + k.Path }

// Probe implements Resource (batched).
func (k *PrivateKey) Probe() string { return "" }

// StatPaths implements Batched.
func (k *PrivateKey) StatPaths() []string { return []string{k.Path} }

// SumPaths implements Batched.
func (k *PrivateKey) SumPaths() []string { return nil }

// Decide implements Resource.
func (k *PrivateKey) Decide(_ string, c *Context) Step {
	// Only the stat line: a static pod that mounts the key has its checksum probed too.
	line, _, _ := strings.Cut(c.fileFacts(k.Path), "\n")
	st := parseStat(line)
	p := Q(k.Path)
	if st.absent {
		c.Changed[k.Path] = true
		return Step{Action: change.Created, Message: fmt.Sprintf("RSA %d, generated on the node, 600 root:root", k.Bits), Script: k.generateScript()}
	}
	if !strings.HasPrefix(st.kind, "regular") {
		return Step{Action: change.Failed, Message: fmt.Sprintf("%s is a %s, not a regular file; refusing to replace it", k.Path, st.kind)}
	}
	var msgs, script []string
	if st.mode != "600" {
		msgs = append(msgs, "mode "+st.mode+" -> 600")
		script = append(script, "chmod 0600 "+p)
	}
	if st.owner+":"+st.group != "root:root" {
		msgs = append(msgs, "owner "+st.owner+":"+st.group+" -> root:root")
		script = append(script, "chown root:root "+p)
	}
	if len(msgs) == 0 {
		return Step{Action: change.Unchanged}
	}
	c.Changed[k.Path] = true
	return Step{Action: change.Configured, Message: strings.Join(msgs, ", "), Script: strings.Join(script, "\n")}
}

func (k *PrivateKey) generateScript() string {
	dir, p := path.Dir(k.Path), Q(k.Path)
	var b strings.Builder
	// The key is born 0600 (umask 077), in the directory it lives in, and renamed into
	// place: no moment where another user could read it, no half-written key.
	fmt.Fprintf(&b, "umask 077\n[ -d %s ] || mkdir -p %s\n", Q(dir), Q(dir))
	fmt.Fprintf(&b, "if [ -e %s ] || [ -L %s ]; then echo %s >&2; exit 1; fi\n", p, p, Q(k.Path+" appeared on the host after the plan was made; not overwriting"))
	fmt.Fprintf(&b, "t=%s.$$\ntrap 'rm -f \"$t\"' EXIT\n", Q(dir+"/.mk8s-"+SHA256([]byte(k.Path))[:12]))
	fmt.Fprintf(&b, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%d -out \"$t\" 2>/dev/null || { echo %s >&2; exit 1; }\n",
		k.Bits, Q("openssl genpkey failed for "+k.Path))
	fmt.Fprintf(&b, "chown root:root \"$t\"\nsync \"$t\"\nmv -f \"$t\" %s\ntrap - EXIT\necho %s", p, Q(syncMarker+dir))
	return b.String()
}

// KeyDataPlaceholder stands in a Kubeconfig's content for the client key data the
// host substitutes from KeyPath (it matches pki.KeyDataPlaceholder).
const KeyDataPlaceholder = "@@MK8S_CLIENT_KEY_DATA@@"

// Kubeconfig is a kubeconfig whose client key, generated on the host at KeyPath, is
// embedded by the host when it writes the file: mk8s renders everything else (CA,
// certificate, server) and compares the live file with its key data masked; a separate
// check says whether the embedded key is still KeyPath's.
type Kubeconfig struct {
	Path, KeyPath string
	// Content holds KeyDataPlaceholder where the host puts the key.
	Content []byte
	// Describe renders content for diffs (the certificate it embeds, not base64).
	Describe func([]byte) []byte
}

// ID implements Resource.
func (k *Kubeconfig) ID() string { return "Kubeconfig " + k.Path }

// DesiredFile implements Desired: the masked form is what the record and the config
// digests of the pods that read it count.
func (k *Kubeconfig) DesiredFile() (string, []byte) { return k.Path, k.Content }

const maskKeySed = "s/^\\( *client-key-data:\\).*/\\1 " + KeyDataPlaceholder + "/"

// Probe implements Resource: stat, the masked checksum, and whether the embedded key is
// KeyPath's (compared on the host: the key never leaves it).
func (k *Kubeconfig) Probe() string {
	p, key := Q(k.Path), Q(k.KeyPath)
	return statProbe(k.Path) + fmt.Sprintf(`
if [ -f %[1]s ] && [ ! -L %[1]s ]; then
  sed %[3]s %[1]s | sha256sum
  if [ -f %[2]s ] && [ "$(sed -n 's/^ *client-key-data: *//p' %[1]s)" = "$(base64 -w0 < %[2]s)" ]; then echo key-embedded; else echo key-differs; fi
fi`, p, key, Q(maskKeySed))
}

// Decide implements Resource.
func (k *Kubeconfig) Decide(facts string, c *Context) Step {
	lines := strings.Split(strings.TrimSpace(facts), "\n")
	st := parseStat(lines[0])
	want := SHA256(k.Content)
	c.Desired[k.Path] = want
	if st.absent {
		c.Changed[k.Path] = true
		return Step{Action: change.Created, Diff: k.diff(nil), Message: "600 root:root, client key embedded from " + k.KeyPath, Script: k.writeScript("")}
	}
	if !strings.HasPrefix(st.kind, "regular") {
		return Step{Action: change.Failed, Message: fmt.Sprintf("%s is a %s, not a regular file; refusing to replace it", k.Path, st.kind)}
	}
	live, keyOK := "", false
	if len(lines) > 1 {
		live, _, _ = strings.Cut(lines[1], " ")
	}
	if len(lines) > 2 {
		keyOK = lines[2] == "key-embedded"
	}
	if live != want || !keyOK {
		c.Changed[k.Path] = true
		msg := "content differs from the desired state"
		switch rec, ok := c.Applied[k.Path]; {
		case live == want:
			msg = "the embedded client key is not " + k.KeyPath + "'s"
		case ok && rec == live:
			msg = "new desired content"
		case ok:
			msg = "drift: edited on the host since mk8s wrote it; restoring"
		}
		s := Step{Action: change.Configured, Message: msg, Script: k.writeScript(live)}
		if old, ok := c.Old[k.Path]; ok {
			s.Diff = k.diffFrom(old)
		} else if live != want {
			s.NeedOld = []string{k.Path}
		}
		return s
	}
	var msgs, script []string
	if st.mode != "600" {
		msgs, script = append(msgs, "mode "+st.mode+" -> 600"), append(script, "chmod 0600 "+Q(k.Path))
	}
	if st.owner+":"+st.group != "root:root" {
		msgs, script = append(msgs, "owner "+st.owner+":"+st.group+" -> root:root"), append(script, "chown root:root "+Q(k.Path))
	}
	if len(msgs) == 0 {
		return Step{Action: change.Unchanged}
	}
	c.Changed[k.Path] = true
	return Step{Action: change.Configured, Message: strings.Join(msgs, ", "), Script: strings.Join(script, "\n")}
}

func (k *Kubeconfig) diff(old []byte) string {
	f := File{Path: k.Path, Describe: k.Describe}
	return f.diff(old, k.Content, old == nil)
}

func (k *Kubeconfig) diffFrom(old []byte) string { return k.diff(old) }

// writeScript writes the file atomically with the key embedded from KeyPath; live is
// the masked checksum the plan saw ("" when there was no file), checked first so that a
// file changed after the plan is not overwritten.
func (k *Kubeconfig) writeScript(live string) string {
	dir, p, key := path.Dir(k.Path), Q(k.Path), Q(k.KeyPath)
	var b strings.Builder
	fmt.Fprintf(&b, "[ -f %s ] || { echo %s >&2; exit 1; }\n", key, Q("the client key "+k.KeyPath+" of "+k.Path+" is missing"))
	if live == "" {
		fmt.Fprintf(&b, "if [ -e %s ] || [ -L %s ]; then echo %s >&2; exit 1; fi\n", p, p, Q(k.Path+" appeared on the host after the plan was made; not overwriting"))
	} else {
		fmt.Fprintf(&b, "set -- $(sed %s %s | sha256sum)\n[ \"$1\" = %s ] || { echo %s >&2; exit 1; }\n", Q(maskKeySed), p, live,
			Q(k.Path+" changed on the host after the plan was made; not overwriting"))
	}
	fmt.Fprintf(&b, "t=%s.$$\ntrap 'rm -f \"$t\"' EXIT\numask 077\n", Q(dir+"/.mk8s-"+SHA256([]byte(k.Path))[:12]))
	fmt.Fprintf(&b, "kd=$(base64 -w0 < %s)\n", key)
	fmt.Fprintf(&b, "printf '%%s' %s | sed \"s|%s|$kd|\" > \"$t\"\n", Q(string(k.Content)), KeyDataPlaceholder)
	fmt.Fprintf(&b, "sync \"$t\"\nmv -f \"$t\" %s\ntrap - EXIT\necho %s", p, Q(syncMarker+dir))
	return b.String()
}

// Deferred is a step that can only be decided once an earlier step of the same host has
// run: a certificate whose key the host is about to generate. Apply re-plans the host
// after that step, so the deferred step becomes a real one (or unchanged).
type Deferred struct {
	Name    string
	Action  change.Action
	Message string
}

// ID implements Resource.
func (d *Deferred) ID() string { return d.Name }

// Probe implements Resource.
func (d *Deferred) Probe() string { return ":" }

// Decide implements Resource.
func (d *Deferred) Decide(_ string, c *Context) Step {
	return Step{Action: d.Action, Message: d.Message}
}

// Certificate is a certificate file; Reason says why it is (re-)issued, for the plan.
type Certificate struct {
	File
	Reason string
}

// ID implements Resource.
func (c *Certificate) ID() string { return "Certificate " + c.Path }

// Decide implements Resource.
func (c *Certificate) Decide(facts string, ctx *Context) Step {
	s := c.File.Decide(facts, ctx)
	if s.Action == change.Configured && c.Reason != "" && s.Script != "" && !strings.HasPrefix(s.Message, "mode") && !strings.HasPrefix(s.Message, "owner") {
		s.Message = "re-issued: " + c.Reason
	}
	return s
}
