// Package source is the first stage of a reconcile: it fetches the configured branch of
// the site repository into a local bare mirror (go-git; ssh, https, git, a local bare
// repository, or a bare repository inside an ISO image), verifies that every new commit is
// signed by a trusted key and that the new head descends from the last applied revision,
// and hands the verified tree to the loader as an fs.FS read straight from git objects.
//
// The API is small:
//
//	src, _ := source.New(cfg, source.Options{})
//	rev, err := src.Sync(ctx, source.SyncOptions{})   // fetch + verify; *verify.RefusedError when refused
//	site, diags := schema.Load(ctx, rev.FS)           // when rev.Changed
//	...
//	src.MarkApplied(ctx, rev)                         // after a successful apply
//
// The package owns the mirror and the state directory (state.json: the last applied
// revision, the config digest it was applied with, rollbacks the operator allowed). It
// must not load, render or apply anything. A refused revision changes nothing that
// matters: the applied revision and its ref stay as they were.
package source
