package resource

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// Directory is a directory with an owner, group and mode. Its content is not managed.
type Directory struct {
	Path         string
	Mode         fs.FileMode
	Owner, Group string
}

// ID implements Resource.
func (d *Directory) ID() string { return "Directory " + d.Path }

// Probe implements Resource.
func (d *Directory) Probe() string { return statProbe(d.Path) }

// StatPaths implements Batched.
func (d *Directory) StatPaths() []string { return []string{d.Path} }

// SumPaths implements Batched.
func (d *Directory) SumPaths() []string { return nil }

// Decide implements Resource.
func (d *Directory) Decide(_ string, c *Context) Step {
	st := parseStat(c.fileFacts(d.Path))
	own := or(d.Owner, "root") + ":" + or(d.Group, "root")
	p := Q(d.Path)
	// Five digits: GNU chmod keeps a directory's setuid/setgid bits unless the mode says
	// so with an extra leading zero.
	fix := fmt.Sprintf("chown %s %s\nchmod %05o %s", Q(own), p, d.Mode.Perm(), p)
	if st.absent {
		create := fmt.Sprintf("mkdir -p -m %04o %s", d.Mode.Perm(), p)
		if own != "root:root" {
			create += fmt.Sprintf("\nchown %s %s", Q(own), p)
		}
		return Step{Action: change.Created, Message: fmt.Sprintf("%s %s", modeString(d.Mode), own), Script: create}
	}
	if st.kind != "directory" {
		return Step{Action: change.Failed, Message: fmt.Sprintf("%s is a %s, not a directory; refusing to replace it", d.Path, st.kind)}
	}
	var msgs []string
	if st.mode != modeString(d.Mode) {
		msgs = append(msgs, fmt.Sprintf("mode %s -> %s", st.mode, modeString(d.Mode)))
	}
	if st.owner+":"+st.group != own {
		msgs = append(msgs, fmt.Sprintf("owner %s:%s -> %s", st.owner, st.group, own))
	}
	if len(msgs) == 0 {
		return Step{Action: change.Unchanged}
	}
	return Step{Action: change.Configured, Message: strings.Join(msgs, ", "), Script: fix}
}

// Symlink is a symbolic link to a fixed target.
type Symlink struct {
	Path, Target string
}

// ID implements Resource.
func (l *Symlink) ID() string { return "Symlink " + l.Path }

// Probe implements Resource.
func (l *Symlink) Probe() string {
	p := Q(l.Path)
	return fmt.Sprintf("if [ -L %s ]; then printf 'link|%%s\\n' \"$(readlink %s)\"; else %s; fi", p, p, statProbe(l.Path))
}

// Decide implements Resource.
func (l *Symlink) Decide(facts string, c *Context) Step {
	tmp := l.Path + ".mk8s-tmp"
	// ln then rename: the link is replaced atomically, never missing.
	script := fmt.Sprintf("mkdir -p \"$(dirname %s)\"\nln -sfn %s %s\nmv -Tf %s %s", Q(l.Path), Q(l.Target), Q(tmp), Q(tmp), Q(l.Path))
	if target, ok := strings.CutPrefix(facts, "link|"); ok {
		if target == l.Target {
			return Step{Action: change.Unchanged}
		}
		c.Changed[l.Path] = true
		return Step{Action: change.Configured, Message: fmt.Sprintf("target %s -> %s", target, l.Target), Script: script}
	}
	st := parseStat(facts)
	if st.absent {
		c.Changed[l.Path] = true
		return Step{Action: change.Created, Message: "-> " + l.Target, Script: script}
	}
	return Step{Action: change.Failed, Message: fmt.Sprintf("%s is a %s, not a symlink; refusing to replace it", l.Path, st.kind)}
}
