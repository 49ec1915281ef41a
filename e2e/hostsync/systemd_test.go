package hostsynce2e_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

const (
	demoUnit    = "/etc/systemd/system/mk8s-demo.service"
	demoDropIn  = "/etc/systemd/system/mk8s-demo.service.d/10-mk8s.conf"
	demoConfig  = "/etc/mk8s-demo/config"
	demoOther   = "/etc/mk8s-demo/unrelated"
	demoService = "mk8s-demo.service"
)

// demoState is the host state of a unit mk8s writes: unit file, drop-in, a config file it
// depends on, and an unrelated file.
type demoState struct{ dropIn, config, other string }

func (d *demoState) render(*schema.Site, string) ([]resource.Resource, error) {
	f := func(p, c string) *resource.File { return &resource.File{Path: p, Mode: 0o644, Content: []byte(c)} }
	return []resource.Resource{
		f(demoUnit, "[Unit]\nDescription=mk8s demo\n[Service]\nExecStart=/bin/sh -c 'exec sleep infinity'\n[Install]\nWantedBy=multi-user.target\n"),
		f(demoDropIn, "[Service]\nEnvironment=DEMO="+d.dropIn+"\n"),
		f(demoConfig, d.config+"\n"),
		f(demoOther, d.other+"\n"),
		&resource.SystemdUnit{Name: demoService, UnitFiles: []string{demoUnit, demoDropIn}, DependsOn: []string{demoConfig}, Enabled: true, Active: true},
	}, nil
}

// unitState returns `enabled|active|InvocationID|Environment`.
func unitState(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host) []string {
	t.Helper()
	out, err := l.Run(ctx, h, "printf '%s|%s|%s|%s' \"$(systemctl is-enabled "+demoService+")\" \"$(systemctl is-active "+demoService+")\" "+
		"\"$(systemctl show -p InvocationID --value "+demoService+")\" \"$(systemctl show -p Environment --value "+demoService+")\"")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(out, "|")
}

// waitActive polls until the unit is active with a non-empty invocation id.
func waitActive(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := unitState(t, ctx, l, h)
		if st[1] == "active" && st[2] != "" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("unit not active: %v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func unitEntry(t *testing.T, res change.Set) change.Entry {
	for _, e := range res {
		if e.Subject == "SystemdUnit "+demoService {
			return e
		}
	}
	t.Fatalf("no unit entry in %v", res)
	return change.Entry{}
}

// On a host with a real systemd: a unit written by mk8s is enabled and active; changing
// its drop-in reloads and restarts it; changing a file it depends on restarts it;
// changing an unrelated file does not.
func TestSystemdUnitReloadAndRestartOnlyWhenItsFilesChange(t *testing.T) {
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Skip("systemd-nspawn not installed")
	}
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{})
	h, err := l.AddNspawn(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	d := &demoState{dropIn: "one", config: "a", other: "x"}
	po := planOpts(l)
	po.Render = d.render
	_, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if e := unitEntry(t, res); e.Action != change.Configured || !strings.Contains(e.Message, "enable") || !strings.Contains(e.Message, "start") {
		t.Fatalf("first run: %v", e)
	}
	st := waitActive(t, ctx, l, h)
	if st[0] != "enabled" || st[3] != "DEMO=one" {
		t.Fatalf("unit state: %v", st)
	}
	first := st[2]

	// An unrelated file: written, no restart.
	d.other = "y"
	_, res, err = converge(t, ctx, site, po, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := unitEntry(t, res); e.Action != change.Unchanged {
		t.Fatalf("unrelated change touched the unit: %v", e)
	}
	if c := changed(res); len(c) != 1 || c[0].Subject != "File "+demoOther {
		t.Fatalf("unrelated change: %v", c)
	}
	if st := waitActive(t, ctx, l, h); st[2] != first {
		t.Fatalf("restarted by an unrelated change: %v", st)
	}

	// The drop-in: daemon-reload and restart, the new environment is live.
	d.dropIn = "two"
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if e := unitEntry(t, p.Entries()); e.Action != change.Configured || !strings.Contains(e.Message, "daemon-reload") || !strings.Contains(e.Message, "restart") {
		t.Fatalf("planned: %v", e)
	}
	if _, err := hostsync.Apply(ctx, p, hostsync.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st = waitActive(t, ctx, l, h)
	if st[2] == first || st[3] != "DEMO=two" {
		t.Fatalf("drop-in change: not reloaded and restarted: %v (was %s)", st, first)
	}
	second := st[2]

	// The config it depends on: restart without a reload.
	d.config = "b"
	_, res, err = converge(t, ctx, site, po, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := unitEntry(t, res); !strings.Contains(e.Message, "restart ("+demoConfig+" changed)") || strings.Contains(e.Message, "daemon-reload") {
		t.Fatalf("config change: %v", e)
	}
	if st := waitActive(t, ctx, l, h); st[2] == second {
		t.Fatalf("config change did not restart: %v", st)
	}

	// And a converged host is a no-op.
	_, res, err = converge(t, ctx, site, po, hostsync.ApplyOptions{})
	if err != nil || len(changed(res)) != 0 {
		t.Fatalf("no-op: %v %v", err, changed(res))
	}
}
