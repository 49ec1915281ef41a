package isomount

import (
	"fmt"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// RemoveFile removes a file mk8s wrote and no longer renders: the registry include of
// an archive that left the site. Only a file the host's record lists (mk8s wrote it) is
// removed, edited or not, as mk8s restores its files' content on every reconcile; any
// other file at that path is left in place and reported.
type RemoveFile struct {
	Path string
	// Why says, in the plan, why the file goes.
	Why string
}

// ID implements resource.Resource.
func (r *RemoveFile) ID() string { return "File " + r.Path }

// Probe implements resource.Resource: the plan's batched stat and checksum.
func (r *RemoveFile) Probe() string { return "" }

// StatPaths implements resource.Batched.
func (r *RemoveFile) StatPaths() []string { return []string{r.Path} }

// SumPaths implements resource.Batched.
func (r *RemoveFile) SumPaths() []string { return []string{r.Path} }

// Decide implements resource.Resource.
func (r *RemoveFile) Decide(_ string, c *resource.Context) resource.Step {
	st, ok := c.Stat[r.Path]
	if !ok {
		return resource.Step{Action: change.Unchanged}
	}
	if !strings.HasPrefix(st, "regular") {
		return resource.Step{Action: change.Skipped, Message: fmt.Sprintf("%s is not a regular file: not mk8s' to remove, left in place", r.Path)}
	}
	if _, ok := c.Applied[r.Path]; !ok {
		return resource.Step{Action: change.Skipped, Message: fmt.Sprintf("not in the host's record of the files mk8s wrote: left in place (%s)", r.Why)}
	}
	live := c.Sum[r.Path]
	// The host's record is rewritten without it.
	c.Changed[r.Path] = true
	p := q(r.Path)
	return resource.Step{Action: change.Deleted, Message: r.Why,
		Script: fmt.Sprintf("set -- $(sha256sum < %s)\n[ \"$1\" = %s ] || %s\nrm -f %s",
			p, q(live), fail(r.Path+" changed on the host after the plan was made; not removing it"), p)}
}
