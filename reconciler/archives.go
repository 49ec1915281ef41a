package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// archiveConcurrency bounds the archives opened at once: each is read whole to digest it.
const archiveConcurrency = 4

// openArchives opens every Solution archive solutions.yaml lists, keyed by its path as
// written there. An archive that cannot be opened (missing, unreadable, invalid) is a
// diagnostic `solutions.yaml:<line>: archives[<i>]: <path>: <what is wrong>`, and the
// error refuses the revision: nothing may be touched for a site whose Solutions cannot
// all be deployed.
func openArchives(ctx context.Context, site *schema.Site, open solution.OpenFunc) (map[string]*solution.Archive, diag.List, error) {
	sc := site.Solutions
	if sc == nil || len(sc.Archives) == 0 {
		return nil, nil, nil
	}
	if open == nil {
		return nil, nil, fmt.Errorf("%s:%d: archives: the site imports %d Solution archive(s) and this reconciler was given no way to open them (reconciler.Options.OpenArchive); nothing was changed",
			sc.Source.File, sc.Source.LineOf("archives"), len(sc.Archives))
	}
	type opened struct {
		a   *solution.Archive
		err error
	}
	results := map[string]*opened{}
	for _, path := range sc.Archives {
		results[path] = &opened{}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(archiveConcurrency)
	for path, r := range results {
		g.Go(func() error {
			// Each result has its own slot: no lock needed.
			r.a, r.err = open(gctx, path)
			if r.err == nil && r.a == nil {
				r.err = fmt.Errorf("the archive reader returned nothing")
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	archives := map[string]*solution.Archive{}
	failed := map[string]error{}
	for path, r := range results {
		if r.err != nil {
			failed[path] = r.err
			continue
		}
		archives[path] = r.a
	}
	if diags := ArchiveDiagnostics(sc, failed); len(diags) > 0 {
		return nil, diags, fmt.Errorf("Solution archives cannot be opened; nothing was changed:\n%w", diags.Err())
	}
	return archives, nil, nil
}

// ArchiveDiagnostics are the diagnostics of the archives of solutions.yaml that could
// not be opened (failed, by path): `solutions.yaml:<line>: archives[<i>]: <path>: <what
// is wrong>`, one per entry of archives naming such a path. A reconcile refuses a
// revision that has any; so does a review of it (reconciler/review).
func ArchiveDiagnostics(sc *schema.SolutionsConfig, failed map[string]error) diag.List {
	var diags diag.List
	if sc == nil {
		return diags
	}
	for i, path := range sc.Archives {
		err, ok := failed[path]
		if !ok {
			continue
		}
		field := fmt.Sprintf("archives[%d]", i)
		diags.Errorf(sc.Source.File, sc.Source.LineOf(field), field, "a valid Solution ISO the reconciler can read on the bootstrap node",
			"%s", namePath(path, err))
	}
	return diags
}

// namePath says what is wrong with the archive at path as `<path>: <what is wrong>`,
// naming the path once: the reader's error may already name it (an *fs.PathError,
// "solution archive <path>: …").
func namePath(path string, err error) string {
	msg := err.Error()
	if pe, ok := err.(*fs.PathError); ok && pe.Path == path {
		msg = pe.Err.Error()
	}
	msg = strings.TrimPrefix(msg, "solution archive ")
	if strings.HasPrefix(msg, path) {
		return msg
	}
	return path + ": " + msg
}
