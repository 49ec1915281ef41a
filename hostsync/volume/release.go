package volume

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// DetachLoop detaches every loop device of a released sparse volume's file.
type DetachLoop struct{ Spec Spec }

// ID implements resource.Resource.
func (l *DetachLoop) ID() string { return "LoopDevice " + l.Spec.SparsePath() }

// Probe implements resource.Resource.
func (l *DetachLoop) Probe() string { return loopsOf(l.Spec.SparsePath()) }

// Decide implements resource.Resource.
func (l *DetachLoop) Decide(facts string, _ *resource.Context) resource.Step {
	devs := strings.Fields(facts)
	if len(devs) == 0 {
		return resource.Step{Action: change.Unchanged}
	}
	p := l.Spec.SparsePath()
	// The devices are listed again when the step runs; a device still there afterwards
	// is in use (mounted): the file must then stay, so the step fails.
	return resource.Step{Action: change.Deleted, Message: "detached: " + strings.Join(devs, ", "),
		Script: fmt.Sprintf("for l in $(%[1]s); do losetup -d \"$l\"; done\n[ -z \"$(%[1]s)\" ] || %[2]s",
			loopsOf(p), fail(fmt.Sprintf("volume %s: a loop device of %s is still attached (in use?)", l.Spec.Name, p)))}
}

// RemoveSparseFile removes a released sparse volume's file.
type RemoveSparseFile struct{ Spec Spec }

// ID implements resource.Resource.
func (f *RemoveSparseFile) ID() string { return "SparseFile " + f.Spec.SparsePath() }

// Probe implements resource.Resource.
func (f *RemoveSparseFile) Probe() string {
	return fmt.Sprintf("if [ -e %[1]s ] || [ -L %[1]s ]; then echo present; else echo absent; fi", resource.Q(f.Spec.SparsePath()))
}

// Decide implements resource.Resource.
func (f *RemoveSparseFile) Decide(facts string, _ *resource.Context) resource.Step {
	if strings.TrimSpace(facts) != "present" {
		return resource.Step{Action: change.Unchanged}
	}
	p := f.Spec.SparsePath()
	return resource.Step{Action: change.Deleted, Script: fmt.Sprintf("[ -z \"$(%s)\" ] || %s\nrm -f %s",
		loopsOf(p), fail(fmt.Sprintf("volume %s: %s is attached to a loop device; not removing it", f.Spec.Name, p)), resource.Q(p))}
}

// Wipe erases the signatures of a released raw device, only when the device holds the
// Volume's own filesystem: anything else is not mk8s' to erase.
type Wipe struct{ Spec Spec }

// ID implements resource.Resource.
func (w *Wipe) ID() string {
	return fmt.Sprintf("Wipe %s (%s, UUID %s)", w.Spec.DevicePath, w.Spec.Name, w.Spec.UID)
}

// Probe implements resource.Resource.
func (w *Wipe) Probe() string { return blkidProbe(w.Spec) }

// Decide implements resource.Resource.
func (w *Wipe) Decide(facts string, _ *resource.Context) resource.Step {
	s := w.Spec
	p := parseProbe(facts)
	switch {
	case p.absent, p.empty():
		return resource.Step{Action: change.Unchanged}
	case p.notBlock:
		return resource.Step{Action: change.Skipped, Message: fmt.Sprintf("%s is not a block device: nothing of volume %s to wipe there", s.DevicePath, s.Name)}
	case s.Mode == ModeBlock && p.ours(s):
		d := resource.Q(s.DevicePath)
		// The partition is checked again when the step runs; the kernel forgets the
		// partition before its table is erased.
		return resource.Step{Action: change.Deleted, Message: "wipefs -a " + s.DevicePath,
			Script: fmt.Sprintf("[ -b %[1]s ] || %[2]s\npartx -g -o UUID %[1]s | grep -qx ' *'%[3]s || %[4]s\npartx -d %[1]s 2>/dev/null || true\nwipefs -q -a %[1]s",
				d, fail(fmt.Sprintf("volume %s: %s is not a block device", s.Name, s.DevicePath)), resource.Q(s.UID),
				fail(fmt.Sprintf("volume %s: %s no longer holds the Volume's partition; not wiping it", s.Name, s.DevicePath)))}
	case s.Mode == ModeFilesystem && p.rc == 0 && p.tags["UUID"] == s.UID:
		d := resource.Q(s.DevicePath)
		// The UUID is checked again when the step runs: the device may have been
		// reused since the plan.
		return resource.Step{Action: change.Deleted, Message: "wipefs -a " + s.DevicePath,
			Script: fmt.Sprintf("[ -b %[1]s ] || %[2]s\n[ \"$(blkid -p -s UUID -o value %[1]s)\" = %[3]s ] || %[4]s\nwipefs -q -a %[1]s",
				d, fail(fmt.Sprintf("volume %s: %s is not a block device", s.Name, s.DevicePath)), resource.Q(s.UID),
				fail(fmt.Sprintf("volume %s: %s no longer holds the Volume's filesystem; not wiping it", s.Name, s.DevicePath)))}
	}
	// Not the Volume's (it never was: the Volume failed to be prepared on a device
	// holding someone's data; or someone reused the device since): nothing of the
	// Volume's is there to release, and nothing is touched. Refusing would keep the
	// Volume Terminating for ever.
	return resource.Step{Action: change.Skipped, Message: fmt.Sprintf("%s holds %s, not volume %s's (UUID %s): left untouched",
		s.DevicePath, p.describe(), s.Name, s.UID)}
}

// InfoScript prints what ParseInfo needs of a prepared volume: its device, the UUID
// and type blkid finds there, and its size.
func InfoScript(s Spec) string {
	if s.LVM != nil && s.Mode == ModeBlock {
		return lvmInfoScript(s)
	}
	if s.Mode == ModeBlock {
		return blockInfoScript(s)
	}
	return "export LC_ALL=C\n" + s.resolveDevice() +
		"echo \"device=$(readlink -f \"$d\")\"\n" +
		"echo \"uuid=$(blkid -p -s UUID -o value \"$d\")\"\n" +
		"echo \"type=$(blkid -p -s TYPE -o value \"$d\")\"\n" +
		"echo \"size=$(blockdev --getsize64 \"$d\")\"\n"
}

// ParseInfo reads InfoScript's output; it fails unless the device holds the Volume's
// filesystem (its UUID, whatever its type), so that a PersistentVolume never points at
// something else.
func ParseInfo(s Spec, out []byte) (Info, error) {
	if s.LVM != nil && s.Mode == ModeBlock {
		return parseLVMInfo(s, out)
	}
	if s.Mode == ModeBlock {
		return parseBlockInfo(s, out)
	}
	kv := infoFields(out)
	dev := kv["device"]
	if dev == "" {
		return Info{}, fmt.Errorf("volume %s: no device in the info output", s.Name)
	}
	if s.Mode != ModeFilesystem {
		return Info{}, fmt.Errorf("volume %s: %s mode: %w", s.Name, s.Mode, ErrNotSupported)
	}
	if kv["uuid"] != s.UID || kv["type"] == "" {
		return Info{}, fmt.Errorf("volume %s: %s holds type %q UUID %q, not the Volume's filesystem (UUID %s)",
			s.Name, dev, kv["type"], kv["uuid"], s.UID)
	}
	size, err := strconv.ParseInt(kv["size"], 10, 64)
	if err != nil || size <= 0 {
		return Info{}, fmt.Errorf("volume %s: size of %s: %q is not a size", s.Name, dev, kv["size"])
	}
	return Info{Path: "/dev/disk/by-uuid/" + s.UID, SizeBytes: size, DeviceName: path.Base(dev)}, nil
}

// infoFields reads the key=value lines an info script prints.
func infoFields(out []byte) map[string]string {
	kv := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			kv[k] = v
		}
	}
	return kv
}
