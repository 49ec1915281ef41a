package review

import (
	"context"
	"slices"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// openArchives opens the Solution archives either revision imports, each path once.
// Those it cannot read are returned as skipped entries, one per archive: the review
// then compares neither revision's objects of Solutions (comparing one side's would
// show them created or deleted), and says so, rather than fail on a machine that does
// not have the ISOs.
func openArchives(ctx context.Context, open solution.OpenFunc, sites ...*schema.Site) (map[string]*solution.Archive, change.Set, error) {
	var paths []string
	for _, s := range sites {
		if s.Solutions != nil {
			paths = append(paths, s.Solutions.Archives...)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	archives := map[string]*solution.Archive{}
	var unread change.Set
	for _, path := range paths {
		why := "no archive reader in this review"
		if open != nil {
			a, err := open(ctx, path)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			if err == nil && a != nil {
				archives[path] = a
				continue
			}
			if err != nil {
				why = err.Error()
			}
		}
		unread.Add(change.Entry{Subject: "SolutionArchive/" + path, Action: change.Skipped,
			Message: "cannot be read here (" + why + "): the objects of Solutions (metalk8s-solutions ConfigMap, CRDs, operators) are not compared"})
	}
	return archives, unread, nil
}
