package hostsync

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// solutionsSite is compareSite importing two archives, declared in solutions.yaml at
// lines 5 and 6.
func solutionsSite() *schema.Site {
	s := compareSite()
	s.Solutions = &schema.SolutionsConfig{
		Source:   schema.Source{File: "solutions.yaml", Line: 1, Fields: map[string]int{"archives": 4, "archives[0]": 5, "archives[1]": 6}},
		Archives: []string{"/srv/iso/a-1.0.0.iso", "/srv/iso/b-1.0.0.iso"},
	}
	return s
}

// noDial fails every connection: these plans must fail before any host is contacted.
func noDial(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no host is dialed in this test")
}

func TestPlanWithArchivesNeedsOpenArchive(t *testing.T) {
	_, err := Plan(context.Background(), solutionsSite(), PlanOptions{Dial: noDial})
	if err == nil || !strings.HasPrefix(err.Error(), "solutions.yaml:5: archives[0]: /srv/iso/a-1.0.0.iso: the site imports 2 Solution archive(s), but this plan cannot open archives") {
		t.Fatalf("Plan() error = %v", err)
	}
}

func TestPlanRefusesAnArchiveThatCannotBeOpened(t *testing.T) {
	open := func(_ context.Context, path string) (*solution.Archive, error) {
		if strings.HasPrefix(path, "/srv/iso/b") {
			return nil, errors.New("manifest.yaml: missing")
		}
		return &solution.Archive{Path: path, Name: "a", Version: "1.0.0"}, nil
	}
	_, err := Plan(context.Background(), solutionsSite(), PlanOptions{Dial: noDial, OpenArchive: open})
	if err == nil || err.Error() != "solutions.yaml:6: archives[1]: /srv/iso/b-1.0.0.iso: manifest.yaml: missing" {
		t.Fatalf("Plan() error = %v", err)
	}
}

func TestPlanRefusesTwoArchivesOfOneVersion(t *testing.T) {
	open := func(_ context.Context, path string) (*solution.Archive, error) {
		return &solution.Archive{Path: path, Name: "a", Version: "1.0.0"}, nil
	}
	_, err := Plan(context.Background(), solutionsSite(), PlanOptions{Dial: noDial, OpenArchive: open})
	if err == nil || err.Error() != "solutions.yaml:6: archives[1]: /srv/iso/b-1.0.0.iso: Solution a-1.0.0 is also archives[0] (/srv/iso/a-1.0.0.iso): one archive per name and version" {
		t.Fatalf("Plan() error = %v", err)
	}
}

// Archives are the bootstrap node's business: a plan of other nodes neither opens them
// nor needs to.
func TestPlanWithoutTheBootstrapNodeOpensNoArchive(t *testing.T) {
	opened := 0
	open := func(context.Context, string) (*solution.Archive, error) {
		opened++
		return nil, errors.New("unexpected")
	}
	p, err := Plan(context.Background(), solutionsSite(), PlanOptions{Dial: noDial, OpenArchive: open, Nodes: []string{"node-3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if opened != 0 {
		t.Fatalf("opened %d archives", opened)
	}
}
