package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

type fakeHosts struct{ applied, planned int }

func (f *fakeHosts) Plan(context.Context, *schema.Site) (change.Set, error) {
	f.planned++
	return change.Set{{Host: "bootstrap", Subject: "File /etc/x", Action: change.Configured}}, nil
}

func (f *fakeHosts) Apply(context.Context, *schema.Site) (change.Set, error) {
	f.applied++
	return change.Set{{Host: "bootstrap", Subject: "File /etc/x", Action: change.Configured}}, nil
}

// An invalid site stops the pipeline before anything: no host is touched and no
// cluster is needed.
func TestInvalidSiteTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte("apiVersion: metalk8s.scality.com/v1alpha3\nkind: BootstrapConfiguration\nnetworks: 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := &fakeHosts{}
	res, err := Reconcile(context.Background(), Options{Dir: dir, Hosts: hosts})
	if !errors.Is(err, ErrInvalidSite) {
		t.Fatalf("want ErrInvalidSite, got %v", err)
	}
	if hosts.applied != 0 || len(res.Diagnostics.Errors()) == 0 {
		t.Errorf("hosts applied %d times; diagnostics %v", hosts.applied, res.Diagnostics)
	}
}

// HostsOnly runs the host half alone (no cluster needed); the switches exclude each
// other; without a HostReconciler the hosts are reported skipped.
func TestHalves(t *testing.T) {
	site := filepath.Join("..", "site-example")
	hosts := &fakeHosts{}
	res, err := Reconcile(context.Background(), Options{Dir: site, Hosts: hosts, HostsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if hosts.applied != 1 || len(res.Hosts) != 1 || res.Objects != nil {
		t.Errorf("hosts-only: applied %d, result %+v", hosts.applied, res)
	}
	if _, err := Plan(context.Background(), Options{Dir: site, Hosts: hosts, HostsOnly: true}); err != nil || hosts.planned != 1 {
		t.Errorf("plan hosts-only: %v, planned %d", err, hosts.planned)
	}
	if _, err := Reconcile(context.Background(), Options{Dir: site, HostsOnly: true, ObjectsOnly: true}); err == nil {
		t.Error("both switches accepted")
	}
	if _, err := Reconcile(context.Background(), Options{Dir: site, ObjectsOnly: true}); err == nil {
		t.Error("objects without a cluster accepted")
	}
	res, _ = Plan(context.Background(), Options{Dir: site, HostsOnly: true})
	if len(res.Hosts) != 1 || res.Hosts[0].Action != change.Skipped {
		t.Errorf("no host reconciler: %v", res.Hosts)
	}
}

type unreachableHosts struct{}

func (unreachableHosts) Plan(context.Context, *schema.Site) (change.Set, error) {
	return change.Set{
		{Host: "bootstrap", Subject: "File /etc/x", Action: change.Configured},
		{Host: "worker-1", Subject: "Host 10.0.0.1:22", Action: change.Failed, Message: "dial: connection refused"},
	}, nil
}

func (unreachableHosts) Apply(context.Context, *schema.Site) (change.Set, error) {
	return nil, errors.New("not used")
}

// A host that could not be planned makes the plan fail (exit 1), as the reconcile it
// announces would, instead of passing for a plan with pending changes or none.
func TestPlanFailsWhenAHostCannotBePlanned(t *testing.T) {
	res, err := Plan(context.Background(), Options{Dir: filepath.Join("..", "site-example"), Hosts: unreachableHosts{}, HostsOnly: true})
	if err == nil || !strings.Contains(err.Error(), "worker-1") || strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("want an error naming worker-1 only, got %v", err)
	}
	if len(res.Hosts) != 2 {
		t.Errorf("the entries are still reported: %v", res.Hosts)
	}
}
