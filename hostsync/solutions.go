package hostsync

import (
	"context"
	"fmt"
	"slices"

	"github.com/metalk8s/mk8s/hostsync/isomount"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// plansBootstrap says whether the plan covers the site's bootstrap node.
func plansBootstrap(site *schema.Site, nodes []string) bool {
	b := site.BootstrapNode()
	return b != nil && (len(nodes) == 0 || slices.Contains(nodes, b.Name))
}

// openArchives opens the Solution archives the site imports, in the order of
// solutions.yaml, as the bootstrap node needs them. An archive that cannot be opened, or
// a second archive of the same name and version, fails the plan naming solutions.yaml,
// the line and the archive: nothing is planned on any host.
func openArchives(ctx context.Context, site *schema.Site, open solution.OpenFunc) ([]roles.SolutionArchive, error) {
	sc := site.Solutions
	if sc == nil || len(sc.Archives) == 0 {
		return nil, nil
	}
	at := func(i int) string {
		field := fmt.Sprintf("archives[%d]", i)
		return fmt.Sprintf("%s:%d: %s", sc.Source.File, sc.Source.LineOf(field), field)
	}
	if open == nil {
		return nil, fmt.Errorf("%s: %s: the site imports %d Solution archive(s), but this plan cannot open archives (no OpenArchive): the bootstrap node's mounts and registry includes cannot be planned",
			at(0), sc.Archives[0], len(sc.Archives))
	}
	var out []roles.SolutionArchive
	first := map[string]int{}
	for i, path := range sc.Archives {
		a, err := open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", at(i), path, err)
		}
		if j, dup := first[a.ID()]; dup {
			return nil, fmt.Errorf("%s: %s: Solution %s is also archives[%d] (%s): one archive per name and version", at(i), path, a.ID(), j, sc.Archives[j])
		}
		first[a.ID()] = i
		out = append(out, roles.SolutionArchive{ID: a.ID(), ISO: path, RegistryInclude: a.RegistryInclude()})
	}
	return out, nil
}

// readImported reads, on the bootstrap node, the archives mk8s mounted there: those the
// site no longer imports are released. One more round trip, on that node only.
func (p *HostsPlan) readImported(ctx context.Context, h *HostPlan) ([]isomount.Imported, error) {
	hctx, cancel := hostContext(ctx, p.opts.HostTimeout)
	defer cancel()
	conn, err := p.connect(hctx, h)
	if err != nil {
		return nil, err
	}
	list, err := isomount.ReadImported(hctx, conn)
	if err != nil {
		p.pool.Forget(h.node)
		return nil, fmt.Errorf("node %s: %w", h.Node, err)
	}
	return list, nil
}
