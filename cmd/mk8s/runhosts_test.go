package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/daemon"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
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

// Reconcile makes it a VolumeReconciler too.
func (r *recordingHosts) Reconcile(_ context.Context, s *schema.Site) (change.Set, error) {
	r.got = s
	return nil, nil
}

// --ssh-key makes every node use that key, for the host half and the Volumes phase, without touching the loaded site (which the
// object half renders: the Node annotations keep what the repository says).
func TestSSHKeyOverridesEveryNodeWithoutTouchingTheSite(t *testing.T) {
	site := &schema.Site{Nodes: []schema.Node{
		{Name: "a", SSH: schema.SSH{Host: "10.213.1.1", KeyPath: "/etc/metalk8s/pki/salt-bootstrap"}},
		{Name: "b", SSH: schema.SSH{Host: "10.213.1.2", KeyPath: "/root/.ssh/other"}},
	}}
	rec := &recordingHosts{}
	o := &hostsWithIdentity{identityOverride{"/etc/mk8s/ssh/id_ed25519"}, rec}
	v := &volumesWithIdentity{identityOverride{"/etc/mk8s/ssh/id_ed25519"}, rec}
	for _, call := range []func(context.Context, *schema.Site) (change.Set, error){o.Plan, o.Apply, v.Plan, v.Reconcile} {
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

// certHosts is a HostReconciler reporting certificates, counting its applies.
type certHosts struct {
	applies int
	certs   []pki.Certificate
}

func (c *certHosts) Plan(context.Context, *schema.Site) (change.Set, error) { return nil, nil }

func (c *certHosts) Apply(context.Context, *schema.Site) (change.Set, error) {
	c.applies++
	return nil, nil
}

func (c *certHosts) Certificates() []pki.Certificate { return c.certs }

// Certificates age without commits: the daemon's pipeline is a no-op on the revision
// already applied, unless the renewal the status scheduled is due, in which case it
// converges the hosts at that revision and says why. The certificates reach the
// Outcome through --ssh-key's wrapper too.
func TestPipelineConvergesHostsWhenARenewalIsDue(t *testing.T) {
	env := kubeenv.StartT(t)
	_, cfgPath, _ := seedForRun(t, t.TempDir())
	cfg, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src, err := source.New(cfg, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := &certHosts{certs: []pki.Certificate{{Node: "bootstrap", Path: "/etc/kubernetes/pki/apiserver.crt", NotAfter: time.Now().Add(time.Hour)}}}
	var stderr strings.Builder
	p := &sitePipeline{src: src, ref: cfg.Source.Ref, kube: env.Config, site: "default",
		hosts: &hostsWithIdentity{identityOverride{"/k"}, hosts}, log: &globals{stderr: &stderr}}
	ctx := context.Background()

	out, err := p.reconcile(ctx, daemon.Trigger{})
	if err != nil || out.NoOp || hosts.applies != 1 || len(out.Certificates) != 1 {
		t.Fatalf("first reconcile: %+v %v (applies %d)\n%s", out, err, hosts.applies, stderr.String())
	}
	applied := out.Revision
	if out, err = p.reconcile(ctx, daemon.Trigger{LastAppliedRevision: applied}); err != nil || !out.NoOp || hosts.applies != 1 {
		t.Fatalf("same revision, no renewal due: %+v %v (applies %d)", out, err, hosts.applies)
	}
	out, err = p.reconcile(ctx, daemon.Trigger{LastAppliedRevision: applied, RenewalDue: true})
	if err != nil || out.NoOp || hosts.applies != 2 || out.Revision != applied || !strings.Contains(out.Note, "certificate renewal") {
		t.Fatalf("same revision, renewal due: %+v %v (applies %d)", out, err, hosts.applies)
	}
	// Without hosts (--objects-only) there is nothing to renew: still a no-op.
	p.hosts = nil
	if out, err = p.reconcile(ctx, daemon.Trigger{LastAppliedRevision: applied, RenewalDue: true}); err != nil || !out.NoOp {
		t.Fatalf("objects only, renewal due: %+v %v", out, err)
	}
}
