package isomount

import (
	"fmt"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// Release undoes a Mount whose archive left the site: the ISO unmounted, mk8s' fstab
// entry removed, the mountpoint removed when empty. Only mk8s' own work is undone: a
// mountpoint where something else is mounted is refused.
type Release struct {
	// Archive is the archive's id; ISO the file mk8s' fstab entry names.
	Archive, ISO string
}

// ID implements resource.Resource.
func (r *Release) ID() string { return "ISOMount " + Mountpoint(r.Archive) }

// Probe implements resource.Resource.
func (r *Release) Probe() string { return probe(r.Archive, r.ISO) }

// Decide implements resource.Resource.
func (r *Release) Decide(raw string, _ *resource.Context) resource.Step {
	if err := Validate(r.Archive, r.ISO); err != nil {
		return failed(err.Error())
	}
	f := parse(raw)
	mp := Mountpoint(r.Archive)
	marked, _ := f.split()
	ours, others := f.owned(r.ISO, marked)
	switch {
	case len(others) > 0:
		return failed(fmt.Sprintf("refusing to release archive %s: %s is mounted from %s, not from the archive mk8s mounted there (mk8s never unmounts what it did not mount)",
			r.ISO, mp, describe(others)))
	case len(marked) == 0 && len(ours) == 0:
		return resource.Step{Action: change.Unchanged}
	}
	var script, msgs []string
	if len(ours) > 0 {
		// Checked again when the step runs: only the mounts the plan saw are undone.
		script = append(script, checkMounted(mp, mountList(ours)))
		for range ours {
			script = append(script, "umount "+q(mp))
		}
		msgs = append(msgs, "unmounted "+strings.TrimSuffix(ours[0].backing, " (deleted)"))
	}
	diff := ""
	if len(marked) > 0 {
		var from []string
		for _, e := range marked {
			from = append(from, e.raw)
		}
		script = append(script, checkEntries(mp, f.fstab), rewriteFstab(mp, ""))
		diff = fstabDiff(from, "")
		msgs = append(msgs, "its "+FstabPath+" entry removed")
	}
	// The mountpoint mk8s made goes once empty; rmdir leaves a directory that is not.
	script = append(script, "[ ! -d "+q(mp)+" ] || [ -L "+q(mp)+" ] || rmdir "+q(mp)+" 2>/dev/null || true")
	return resource.Step{Action: change.Deleted, Message: strings.Join(msgs, ", "), Diff: diff, Script: strings.Join(script, "\n")}
}

// mountList is what mountsOf prints for these mounts.
func mountList(ms []mounted) string {
	var b []string
	for _, m := range ms {
		b = append(b, m.backing)
	}
	return strings.Join(b, "\nmnt=")
}
