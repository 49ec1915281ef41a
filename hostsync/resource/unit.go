package resource

import (
	"fmt"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// SystemdUnit is the state of one systemd unit: enabled and active, reloaded when its
// unit file or a drop-in changed, restarted only when one of the files it depends on
// changed. The files themselves are File resources placed before the unit.
type SystemdUnit struct {
	Name string
	// UnitFiles are the unit file and drop-ins mk8s writes for this unit: a change
	// needs `systemctl daemon-reload` and a restart.
	UnitFiles []string
	// DependsOn are configuration files the running unit reads: a change restarts it.
	DependsOn []string
	Enabled   bool
	Active    bool
}

// ID implements Resource.
func (u *SystemdUnit) ID() string { return "SystemdUnit " + u.Name }

// Probe implements Resource.
func (u *SystemdUnit) Probe() string {
	n := Q(u.Name)
	return fmt.Sprintf("[ -d /run/systemd/system ] && printf 'unit|%%s|%%s\\n' \"$(systemctl is-enabled %s)\" \"$(systemctl is-active %s)\"", n, n)
}

// Decide implements Resource.
func (u *SystemdUnit) Decide(facts string, c *Context) Step {
	if !c.Host.Systemd {
		return Step{Action: change.Skipped, Message: "systemd is not running on this host: its unit files are written, its state is not managed"}
	}
	p := strings.Split(strings.TrimPrefix(facts, "unit|"), "|")
	for len(p) < 2 {
		p = append(p, "")
	}
	enabled, active := p[0], p[1]
	var changed []string
	reload := false
	for _, f := range u.UnitFiles {
		if c.Changed[f] {
			reload = true
			changed = append(changed, f)
		}
	}
	for _, f := range u.DependsOn {
		if c.Changed[f] {
			changed = append(changed, f)
		}
	}
	var msgs, script []string
	if reload && !c.reloaded {
		c.reloaded = true
		msgs = append(msgs, "daemon-reload")
		script = append(script, "systemctl daemon-reload")
	}
	if u.Enabled && !slices.Contains([]string{"enabled", "static", "alias", "enabled-runtime", "indirect", "generated"}, enabled) {
		msgs = append(msgs, "enable")
		script = append(script, "systemctl enable "+Q(u.Name))
	}
	switch {
	case u.Active && active != "active":
		msgs = append(msgs, "start (was "+or(active, "unknown")+")")
		script = append(script, "systemctl start "+Q(u.Name))
	case u.Active && len(changed) > 0:
		msgs = append(msgs, "restart ("+strings.Join(changed, ", ")+" changed)")
		script = append(script, "systemctl restart "+Q(u.Name))
	}
	if len(script) == 0 {
		return Step{Action: change.Unchanged}
	}
	return Step{Action: change.Configured, Message: strings.Join(msgs, ", "), Script: strings.Join(script, "\n")}
}
