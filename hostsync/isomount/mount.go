package isomount

import (
	"fmt"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// Mount is an imported archive mounted read-only at its mountpoint and persisted in
// /etc/fstab, as MetalK8s mounts it (iso9660, ro,nofail), with mk8s' mark.
type Mount struct {
	// Archive is the archive's id, <name>-<version>: the mountpoint is Root/<Archive>.
	Archive string
	// ISO is the archive's path on the node.
	ISO string
}

// ID implements resource.Resource.
func (m *Mount) ID() string { return "ISOMount " + Mountpoint(m.Archive) }

// Probe implements resource.Resource.
func (m *Mount) Probe() string { return probe(m.Archive, m.ISO) }

// Decide implements resource.Resource. The archive is mounted when its mountpoint is an
// empty directory (or missing) and nothing is mounted there; it is mounted again when
// the mount is mk8s' but of a file since replaced or moved. Anything else at the
// mountpoint, and an fstab entry of another device there, is refused.
func (m *Mount) Decide(raw string, _ *resource.Context) resource.Step {
	if err := Validate(m.Archive, m.ISO); err != nil {
		return failed(err.Error())
	}
	f := parse(raw)
	mp := Mountpoint(m.Archive)
	want := fstabLine(m.Archive, m.ISO)
	marked, foreign := f.split()

	// What /etc/fstab needs: nothing, or mk8s' entry written (added or replaced).
	var fstabFrom []string
	fstabOK := false
	switch {
	case len(foreign) > 1 || len(foreign) == 1 && len(marked) > 0:
		return failed(fmt.Sprintf("%s has %d entries for %s; refusing to add mk8s' for archive %s", FstabPath, len(f.fstab), mp, m.ISO))
	case len(foreign) == 1:
		e := foreign[0]
		if e.device != m.ISO || e.fstype != "iso9660" {
			return failed(fmt.Sprintf("%s already mounts %s (%s) at %s; refusing to mount archive %s there", FstabPath, e.device, e.fstype, mp, m.ISO))
		}
		// The same archive, persisted by someone else (MetalK8s' Salt): kept as it is,
		// and never removed by mk8s, whose mark it does not carry.
		fstabOK = true
	case len(marked) == 1 && slices.Equal(strings.Fields(marked[0].raw), strings.Fields(want)):
		fstabOK = true
	default:
		for _, e := range marked {
			fstabFrom = append(fstabFrom, e.raw)
		}
	}

	ours, others := f.owned(m.ISO, marked)
	var mount, remount bool
	switch {
	case len(others) > 0:
		return failed(fmt.Sprintf("%s is already mounted from %s, not from archive %s; refusing to mount over it (mk8s never unmounts what it did not mount)",
			mp, describe(others), m.ISO))
	case len(ours) > 1:
		return failed(fmt.Sprintf("%s is mounted %d times over itself; refusing to add another (unmount the extra ones)", mp, len(ours)))
	case len(ours) == 1 && !f.isFile(ours[0].backing, m.ISO):
		remount = true
	case len(ours) == 0:
		switch f.dir {
		case "link", "other":
			return failed(fmt.Sprintf("%s is not a directory; refusing to mount archive %s there", mp, m.ISO))
		case "full":
			return failed(fmt.Sprintf("%s is not a mountpoint and holds files; refusing to mount archive %s over them", mp, m.ISO))
		}
		if !f.iso {
			return failed(fmt.Sprintf("archive %s is not a file on the node", m.ISO))
		}
		mount = true
	}
	if fstabOK && !mount && !remount {
		return resource.Step{Action: change.Unchanged}
	}

	var script, msgs []string
	script = append(script, "[ -f "+q(m.ISO)+" ] || "+fail("archive "+m.ISO+" is not a file on the node"))
	diff := ""
	if !fstabOK {
		// Written first: a mount that fails leaves the marked entry, which the next plan
		// completes, or releases if the archive is gone from the site by then.
		script = append(script, checkEntries(mp, f.fstab), rewriteFstab(mp, want))
		diff = fstabDiff(fstabFrom, want)
		msgs = append(msgs, "persisted in "+FstabPath+" ("+fstabOptions+")")
	}
	if remount {
		script = append(script, checkMounted(mp, ours[0].backing), "umount "+q(mp))
		why := fmt.Sprintf("the mounted file is %s", ours[0].backing)
		if f.isFile(strings.TrimSuffix(ours[0].backing, " (deleted)"), m.ISO) {
			why = m.ISO + " was replaced since it was mounted"
		}
		msgs = append([]string{"mounted again from " + m.ISO + ": " + why}, msgs...)
	}
	if mount || remount {
		if mount {
			script = append(script, "[ -d "+q(mp)+" ] || mkdir -p "+q(mp),
				"! findmnt -n -M "+q(mp)+" >/dev/null || "+fail(mp+" was mounted after the plan was made; not mounting over it"),
				"[ -z \"$(ls -A "+q(mp)+")\" ] || "+fail(mp+" holds files since the plan was made; not mounting over them"))
			msgs = append([]string{"iso9660, read-only, from " + m.ISO}, msgs...)
		}
		script = append(script, "mount -t iso9660 -o ro "+q(m.ISO)+" "+q(mp))
	}
	action := change.Configured
	if mount && !fstabOK && len(fstabFrom) == 0 {
		action = change.Created
	}
	return resource.Step{Action: action, Message: strings.Join(msgs, ", "), Diff: diff, Script: strings.Join(script, "\n")}
}

// fstabDiff shows the fstab lines a step replaces.
func fstabDiff(from []string, to string) string {
	var b strings.Builder
	b.WriteString("--- " + FstabPath + " (live)\n+++ " + FstabPath + " (desired)\n")
	for _, l := range from {
		b.WriteString("-" + l + "\n")
	}
	if to != "" {
		b.WriteString("+" + to + "\n")
	}
	return b.String()
}

// checkEntries fails when the fstab entries of mp are no longer those the plan saw.
func checkEntries(mp string, seen []entry) string {
	var want []string
	for _, e := range seen {
		want = append(want, e.raw)
	}
	return "[ \"$(" + entriesFor(mp, "", false) + ")\" = " + q(strings.Join(want, "\n")) + " ] || " +
		fail(FstabPath+" entries for "+mp+" changed after the plan was made; not rewriting them")
}

// checkMounted fails unless the mounts at mp are still those of the loop devices of
// backing (mountsOf's lines, without their first "mnt=").
func checkMounted(mp, backing string) string {
	return "[ \"$(" + mountsOf(mp) + ")\" = " + q("mnt="+backing) + " ] || " +
		fail("the mounts at "+mp+" changed after the plan was made; not unmounting")
}
