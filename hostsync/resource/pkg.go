package resource

import (
	"fmt"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// Package is a package installed at a pinned version from the repositories mk8s
// configures, and held there (apt-mark hold, dnf/yum versionlock).
type Package struct {
	Name    string
	Version string // upstream version; the live version matches it or starts with "<Version>-"
	Hold    bool
}

// ID implements Resource.
func (p *Package) ID() string { return "Package " + p.Name }

// Probe implements Resource: prints `family|version|held`. The hold is read only for
// installed packages (dpkg keeps it in the package's status; rpm in versionlock.list).
func (p *Package) Probe() string {
	n := Q(p.Name)
	return fmt.Sprintf(`if [ -e /etc/redhat-release ] && command -v rpm >/dev/null 2>&1; then
  v=$(rpm -q --qf '%%{VERSION}-%%{RELEASE}' %s) || v=
  h=; [ -n "$v" ] && cat /etc/dnf/plugins/versionlock.list /etc/yum/pluginconf.d/versionlock.list 2>/dev/null | grep -q %s && h=held
  echo "rpm|$v|$h"
elif command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='${db:Status-Want} ${db:Status-Status} ${Version}\n' %s | sed -n 's/^\([a-z]*\) installed \(.*\)/\1 \2/p' | {
    read -r want v || true; h=; [ "$want" = hold ] && h=held; echo "deb|$v|$h"; }
else echo "none||"; fi`, n, Q("^[0-9]*:*"+p.Name+"-"), n)
}

func (p *Package) matches(v string) bool {
	return v == p.Version || strings.HasPrefix(v, p.Version+"-")
}

// Decide implements Resource.
func (p *Package) Decide(facts string, c *Context) Step {
	f := strings.Split(facts, "|")
	for len(f) < 3 {
		f = append(f, "")
	}
	family, live, held := f[0], f[1], f[2] == "held"
	if p.matches(live) && (held || !p.Hold) {
		return Step{Action: change.Unchanged}
	}
	what := "install " + p.Name + " " + p.Version
	if live != "" && p.matches(live) {
		what = "hold " + p.Name + " at " + live
	} else if live != "" {
		what += " (installed: " + live + ")"
	}
	if c.Packages == PackagesProbeOnly {
		return Step{Action: change.Skipped, Message: "would " + what + "; package changes are disabled (probe only)"}
	}
	n := Q(p.Name)
	var script string
	switch family {
	case "deb":
		script = fmt.Sprintf("apt-mark unhold %s >/dev/null 2>&1 || true\nDEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades %s", n, Q(p.Name+"="+p.Version+"*"))
		if p.Hold {
			script += "\napt-mark hold " + n
		}
	case "rpm":
		tool := or(c.Host.RPMTool, "dnf")
		// Only from the repositories mk8s configures (metalk8s-*), as MetalK8s does.
		script = fmt.Sprintf("%s versionlock delete %s >/dev/null 2>&1 || true\n%s install -y --disablerepo=%s --enablerepo=%s %s",
			tool, n, tool, Q("*"), Q("metalk8s-*"), Q(p.Name+"-"+p.Version))
		if p.Hold {
			script += fmt.Sprintf("\n%s versionlock add %s", tool, n)
		}
	default:
		return Step{Action: change.Failed, Message: "no supported package manager (dnf, yum or apt) on this host"}
	}
	act := change.Created
	if live != "" {
		act = change.Configured
	}
	return Step{Action: act, Message: what, Script: script}
}
