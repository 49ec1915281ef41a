package main

import (
	"context"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// recordingHosts is a HostReconciler that records the site it was given.
type recordingHosts struct{ got *schema.Site }

func (r *recordingHosts) Plan(_ context.Context, s *schema.Site) (change.Set, error) {
	r.got = s
	return nil, nil
}

func (r *recordingHosts) Apply(_ context.Context, s *schema.Site) (change.Set, error) {
	r.got = s
	return nil, nil
}

// --ssh-key makes every node use that key, without touching the loaded site (which the
// object half renders: the Node annotations keep what the repository says).
func TestSSHKeyOverridesEveryNodeWithoutTouchingTheSite(t *testing.T) {
	site := &schema.Site{Nodes: []schema.Node{
		{Name: "a", SSH: schema.SSH{Host: "10.213.1.1", KeyPath: "/etc/metalk8s/pki/salt-bootstrap"}},
		{Name: "b", SSH: schema.SSH{Host: "10.213.1.2", KeyPath: "/root/.ssh/other"}},
	}}
	rec := &recordingHosts{}
	o := &identityOverride{next: rec, keyPath: "/etc/mk8s/ssh/id_ed25519"}
	for _, call := range []func(context.Context, *schema.Site) (change.Set, error){o.Plan, o.Apply} {
		rec.got = nil
		if _, err := call(context.Background(), site); err != nil {
			t.Fatal(err)
		}
		for _, n := range rec.got.Nodes {
			if n.SSH.KeyPath != "/etc/mk8s/ssh/id_ed25519" {
				t.Errorf("node %s: key %s, want the override", n.Name, n.SSH.KeyPath)
			}
		}
		if site.Nodes[0].SSH.KeyPath != "/etc/metalk8s/pki/salt-bootstrap" || site.Nodes[1].SSH.KeyPath != "/root/.ssh/other" {
			t.Fatalf("the loaded site was modified: %+v", site.Nodes)
		}
	}
}

func TestHostFlagsRefuseBadValues(t *testing.T) {
	for _, c := range []struct {
		f    hostFlags
		want string
	}{
		{hostFlags{concurrency: 0, packages: "install"}, "--host-concurrency"},
		{hostFlags{concurrency: 2, packages: "yes"}, "--packages"},
	} {
		if _, err := c.f.reconciler(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %s", c.f, err, c.want)
		}
	}
	if _, err := (&hostFlags{concurrency: 2, packages: "probe-only", netns: "lab", sshKey: "/k"}).reconciler(); err != nil {
		t.Errorf("valid flags refused: %v", err)
	}
}
