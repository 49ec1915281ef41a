package review

import (
	"context"
	"errors"
	"io/fs"
	"slices"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// openArchives opens the Solution archives either revision imports, each path once.
// Those it cannot read (not on this machine, not readable by this user, or no reader)
// are returned as skipped entries, one per archive: the review then compares neither
// revision's objects of Solutions (comparing one side's would show them created or
// deleted), and says so, rather than fail on a machine that does not have the ISOs.
// Those it read and refused are returned by path, in refused: the reconciler would
// refuse a revision importing them.
func openArchives(ctx context.Context, open solution.OpenFunc, sites ...*schema.Site) (map[string]*solution.Archive, change.Set, map[string]error, error) {
	var paths []string
	for _, s := range sites {
		if s.Solutions != nil {
			paths = append(paths, s.Solutions.Archives...)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	archives := map[string]*solution.Archive{}
	refused := map[string]error{}
	var unread change.Set
	for _, path := range paths {
		why := "no archive reader in this review"
		if open != nil {
			a, err := open(ctx, path)
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			if err == nil && a != nil {
				archives[path] = a
				continue
			}
			if err != nil && !unreadable(err) {
				refused[path] = err
				continue
			}
			if err != nil {
				why = err.Error()
			}
		}
		unread.Add(skipped(path, why))
	}
	return archives, unread, refused, nil
}

func skipped(path, why string) change.Entry {
	return change.Entry{Subject: "SolutionArchive/" + path, Action: change.Skipped,
		Message: "cannot be read here (" + why + "): the objects of Solutions (metalk8s-solutions ConfigMap, CRDs, operators) are not compared"}
}

// unreadable tells an archive this machine cannot read (missing, permission denied, an
// error that is not a refusal of solution.Open) from one it read and refused.
func unreadable(err error) bool {
	var ae *solution.ArchiveError
	return !errors.As(err, &ae) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

// refuseArchives reports the refused archives To imports as diagnostics of To, as the
// reconciler would refuse it; those only From imports cannot be compared, and are
// skipped. It returns whether To is refused.
func refuseArchives(res *Result, toSite *schema.Site, refused map[string]error) (change.Set, bool) {
	var unread change.Set
	toRefused := map[string]error{}
	for path, err := range refused {
		if toSite.Solutions != nil && slices.Contains(toSite.Solutions.Archives, path) {
			toRefused[path] = err
			continue
		}
		unread.Add(skipped(path, err.Error()))
	}
	diags := reconciler.ArchiveDiagnostics(toSite.Solutions, toRefused)
	res.Diagnostics.To = append(res.Diagnostics.To, diags...)
	return unread, len(diags) > 0
}
