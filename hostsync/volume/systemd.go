package volume

import (
	"fmt"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// SparseUnitPath is the template unit that attaches a sparse volume's file to a loop
// device at boot, as MetalK8s' metalk8s-sparse-volume@.service does: loop devices do
// not survive a reboot, the file does. The instance is the Volume's UID.
const SparseUnitPath = "/etc/systemd/system/metalk8s-sparse-volume@.service"

// SparseUnit is the unit instance of a sparse volume.
func (s Spec) SparseUnit() string { return "metalk8s-sparse-volume@" + s.UID + ".service" }

// sparseUnit attaches only when the file has no loop device yet (a second one would be
// a second writer of the filesystem), scanning its partitions (a Block volume's); `$$` is a literal `$` for the shell, not a
// systemd variable.
const sparseUnit = `[Unit]
Description=MetalK8s sparse volume %i attached to a loop device
RequiresMountsFor=` + SparseDir + `
ConditionPathExists=` + SparseDir + `/%i
DefaultDependencies=no
Before=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'f=` + SparseDir + `/%i; [ -n "$$(losetup -n -O NAME -j "$$f")" ] || losetup --find --partscan "$$f"'
ExecStop=/bin/sh -c 'for d in $$(losetup -n -O NAME -j ` + SparseDir + `/%i); do losetup -d "$$d"; done'

[Install]
WantedBy=local-fs.target
`

// onSystemd decides its resource only on hosts whose PID 1 is systemd: elsewhere (the
// namespace hosts of the lab, containers) there is no boot to prepare for, and the
// loop device is attached directly.
type onSystemd struct{ r resource.Resource }

func (o onSystemd) ID() string    { return o.r.ID() }
func (o onSystemd) Probe() string { return o.r.Probe() }

func (o onSystemd) Decide(facts string, c *resource.Context) resource.Step {
	if !c.Host.Systemd {
		return resource.Step{Action: change.Skipped, Message: "systemd is not running on this host: the loop device is attached directly"}
	}
	return o.r.Decide(facts, c)
}

// batchedOnSystemd keeps a File's batched probe (its Probe is empty).
type batchedOnSystemd struct {
	onSystemd
	b resource.Batched
}

func (o batchedOnSystemd) StatPaths() []string { return o.b.StatPaths() }
func (o batchedOnSystemd) SumPaths() []string  { return o.b.SumPaths() }

func bootResources(s Spec) []resource.Resource {
	f := &resource.File{Path: SparseUnitPath, Content: []byte(sparseUnit), Mode: 0o644}
	u := &resource.SystemdUnit{Name: s.SparseUnit(), UnitFiles: []string{SparseUnitPath}, Enabled: true, Active: true}
	return []resource.Resource{batchedOnSystemd{onSystemd{f}, f}, onSystemd{u}}
}

// DisableUnit stops and disables a released sparse volume's unit (its ExecStop
// detaches the loop device).
type DisableUnit struct{ Spec Spec }

// ID implements resource.Resource.
func (d *DisableUnit) ID() string { return "SystemdUnit " + d.Spec.SparseUnit() }

// Probe implements resource.Resource.
func (d *DisableUnit) Probe() string {
	n := resource.Q(d.Spec.SparseUnit())
	return fmt.Sprintf("[ -d /run/systemd/system ] && printf '%%s|%%s\\n' \"$(systemctl is-enabled %s)\" \"$(systemctl is-active %s)\"", n, n)
}

// Decide implements resource.Resource.
func (d *DisableUnit) Decide(facts string, c *resource.Context) resource.Step {
	if !c.Host.Systemd {
		return resource.Step{Action: change.Skipped, Message: "systemd is not running on this host"}
	}
	enabled, active, _ := strings.Cut(strings.TrimSpace(facts), "|")
	if (enabled == "disabled" || enabled == "" || enabled == "not-found") && active != "active" {
		return resource.Step{Action: change.Unchanged}
	}
	return resource.Step{Action: change.Deleted, Message: "disable --now", Script: "systemctl disable --now " + resource.Q(d.Spec.SparseUnit())}
}
