package resource

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// Sysctl is one kernel parameter: persisted by a drop-in file (a File resource, named in
// DropIn) and set live. Like MetalK8s, it refuses when a sysctl.d file applied after the
// drop-in sets the key to another value, because that file would win at boot.
type Sysctl struct {
	Key, Value string
	DropIn     string // e.g. /etc/sysctl.d/60-metalk8s.conf
}

// ID implements Resource.
func (s *Sysctl) ID() string { return "Sysctl " + s.Key }

func (s *Sysctl) procPath() string { return "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/") }

// sysctlDirs are the directories systemd-sysctl reads, highest precedence first.
var sysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// Probe implements Resource: the live value, then every `file:key = value` line.
func (s *Sysctl) Probe() string {
	re := "^[[:space:]]*" + strings.ReplaceAll(s.Key, ".", "[./]") + "[[:space:]]*="
	var globs []string
	for _, d := range sysctlDirs {
		globs = append(globs, d+"/*.conf")
	}
	globs = append(globs, "/etc/sysctl.conf")
	return fmt.Sprintf("printf 'live|%%s\\n' \"$(cat %s 2>/dev/null || echo '@absent')\"\ngrep -sH -E %s %s", Q(s.procPath()), Q(re), strings.Join(globs, " "))
}

// Decide implements Resource.
func (s *Sysctl) Decide(facts string, c *Context) Step {
	lines := strings.Split(facts, "\n")
	live := strings.TrimPrefix(lines[0], "live|")
	// Effective order: files by basename, /etc shadowing the same name elsewhere,
	// /etc/sysctl.conf last (it is 99-sysctl.conf on most distributions).
	type setting struct{ file, value string }
	byName := map[string]setting{}
	for _, l := range lines[1:] {
		file, kv, ok := strings.Cut(l, ":")
		if !ok || file == s.DropIn {
			continue
		}
		_, v, _ := strings.Cut(kv, "=")
		name := path.Base(file)
		if file == "/etc/sysctl.conf" {
			name = "99-sysctl.conf~"
		}
		if prev, ok := byName[name]; ok && dirRank(prev.file) <= dirRank(file) {
			continue
		}
		byName[name] = setting{file, strings.TrimSpace(v)}
	}
	var conflicts []string
	own := path.Base(s.DropIn)
	for name, st := range byName {
		if name > own && st.value != s.Value {
			conflicts = append(conflicts, fmt.Sprintf("%s sets %s", st.file, st.value))
		}
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return Step{Action: change.Failed, Message: fmt.Sprintf("%s=%s from %s would be overridden at boot: %s; remove or renumber that file",
			s.Key, s.Value, s.DropIn, strings.Join(conflicts, "; "))}
	}
	switch {
	case live == "@absent" || live == "":
		return Step{Action: change.Skipped, Message: fmt.Sprintf("%s does not exist on this host (module not loaded?); persisted in %s", s.procPath(), s.DropIn)}
	case strings.Join(strings.Fields(live), " ") == s.Value:
		return Step{Action: change.Unchanged}
	}
	return Step{Action: change.Configured, Message: fmt.Sprintf("live %s -> %s", live, s.Value),
		Script: fmt.Sprintf("printf '%%s\\n' %s > %s", Q(s.Value), Q(s.procPath()))}
}

func dirRank(file string) int {
	for i, d := range sysctlDirs {
		if strings.HasPrefix(file, d+"/") {
			return i
		}
	}
	return len(sysctlDirs)
}

// KernelModule is a kernel module that must be loaded. Persistence across boots is a
// File resource in /etc/modules-load.d; this resource loads it now when the host can.
type KernelModule struct {
	Name    string
	Persist string // the modules-load.d file that persists it, for messages
}

// ID implements Resource.
func (m *KernelModule) ID() string { return "KernelModule " + m.Name }

// Probe implements Resource.
func (m *KernelModule) Probe() string {
	return fmt.Sprintf("[ -d %s ] && echo loaded", Q("/sys/module/"+m.Name))
}

// Decide implements Resource.
func (m *KernelModule) Decide(facts string, c *Context) Step {
	if facts == "loaded" {
		return Step{Action: change.Unchanged}
	}
	if !c.Host.CanModload {
		return Step{Action: change.Skipped, Message: fmt.Sprintf("not loaded, and this host cannot load modules (no modprobe or no /lib/modules/%s); persisted in %s for the next boot", c.Host.Kernel, m.Persist)}
	}
	return Step{Action: change.Configured, Message: "load", Script: "modprobe " + Q(m.Name)}
}
