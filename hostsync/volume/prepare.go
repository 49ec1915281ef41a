package volume

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// ErrNotSupported names the kinds of Volume not prepared yet (Block mode on a
// partition or an LV given as a raw device): refusing is better than half-preparing
// them.
var ErrNotSupported = errors.New("not supported yet")

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// SparsePath is the sparse file of a sparseLoopDevice volume.
func (s Spec) SparsePath() string { return SparseDir + "/" + s.UID }

func (s Spec) sparse() bool { return s.SparseSize > 0 }

// validate checks what Prepare and Release both rely on: the UID becomes a filesystem
// UUID and a file name, so it must be a lower-case UUID (nothing a shell or a path could
// misread).
func (s Spec) validate() error {
	if s.Name == "" {
		return errors.New("volume has no name")
	}
	if !uuidRE.MatchString(s.UID) {
		return fmt.Errorf("volume %s: UID %q is not a lower-case UUID", s.Name, s.UID)
	}
	n := 0
	if s.SparseSize != 0 {
		n++
	}
	if s.DevicePath != "" {
		n++
	}
	if s.LVM != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("volume %s: exactly one of a sparse size, a device path and an LVM volume must be set (%d are)", s.Name, n)
	}
	if s.SparseSize < 0 {
		return fmt.Errorf("volume %s: sparse size %d is negative", s.Name, s.SparseSize)
	}
	if s.DevicePath != "" && (!strings.HasPrefix(s.DevicePath, "/dev/") || path.Clean(s.DevicePath) != s.DevicePath) {
		return fmt.Errorf("volume %s: device path %q is not a clean path under /dev", s.Name, s.DevicePath)
	}
	switch s.Mode {
	case ModeFilesystem:
		if s.FSType != "xfs" && s.FSType != "ext4" {
			return fmt.Errorf("volume %s: filesystem type %q is not xfs nor ext4", s.Name, s.FSType)
		}
	case ModeBlock:
	default:
		return fmt.Errorf("volume %s: mode %q is not %s nor %s", s.Name, s.Mode, ModeFilesystem, ModeBlock)
	}
	if s.LVM != nil {
		if err := s.validateLVM(); err != nil {
			return err
		}
	}
	return nil
}

// Prepare returns the host resources that prepare a Volume's storage on its node, in
// order: a sparse volume's file, boot unit (systemd hosts) and loop device, or an LVM
// volume's LV; then the filesystem (Filesystem mode) or the partition (Block mode; an
// LV is used as it is).
func Prepare(s Spec) ([]resource.Resource, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	var rs []resource.Resource
	if s.LVM != nil {
		// The LV itself is a Block volume; a Filesystem one is formatted like a device.
		rs = append(rs, &LogicalVolume{Spec: s})
		if s.Mode == ModeBlock {
			return rs, nil
		}
		return append(rs, &Filesystem{Spec: s}), nil
	}
	if s.sparse() {
		// On systemd hosts the unit attaches the file at boot and now; LoopDevice, after
		// it, attaches only what is still unattached (all of it elsewhere).
		rs = append(rs, &SparseFile{Spec: s})
		rs = append(rs, bootResources(s)...)
		rs = append(rs, &LoopDevice{Spec: s})
	}
	if s.Mode == ModeBlock {
		return append(rs, &Partition{Spec: s}), nil
	}
	return append(rs, &Filesystem{Spec: s}), nil
}

// Release returns the host resources that release a Volume's storage: a sparse volume's
// boot unit disabled (systemd hosts), loop device detached and file removed; a raw
// device wiped only when it holds the Volume's own filesystem or partition; an LV kept.
func Release(s Spec) ([]resource.Resource, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.LVM != nil {
		return []resource.Resource{&KeepLogicalVolume{Spec: s}}, nil
	}
	if s.sparse() {
		return []resource.Resource{&DisableUnit{Spec: s}, &DetachLoop{Spec: s}, &RemoveSparseFile{Spec: s}}, nil
	}
	return []resource.Resource{&Wipe{Spec: s}}, nil
}

// loopsOf prints the loop devices backed by file, one a line; the kernel is asked at
// the moment the script runs, so no device number from a plan is ever trusted.
func loopsOf(file string) string {
	return "losetup -n -O NAME -j " + resource.Q(file)
}

// fail is a shell command that prints msg on stderr and exits 1.
func fail(msg string) string { return "{ echo " + resource.Q(msg) + " >&2; exit 1; }" }

// runOnDevice runs command (shell words) on the device "$d"; when it fails, its output
// follows what failed and on which device, which its own message may not say.
func runOnDevice(volumeName, what, command string) string {
	return "if ! out=$(" + command + " 2>&1); then echo " + resource.Q("volume "+volumeName+": "+what+" on ") +
		"\"$d\"" + resource.Q(" failed: ") + "\"$out\" >&2; exit 1; fi\n"
}

// resolveDevice is a shell snippet that sets $d to the volume's device at the moment it
// runs: the raw device, or the (first) loop device of the sparse file; it fails when a
// sparse file has no loop device.
func (s Spec) resolveDevice() string {
	if !s.sparse() {
		return "d=" + resource.Q(s.devicePath()) + "\n" +
			"[ -b \"$d\" ] || " + fail(fmt.Sprintf("volume %s: %s is not a block device", s.Name, s.devicePath())) + "\n"
	}
	return "d=$(" + loopsOf(s.SparsePath()) + " | head -n1)\n" +
		"[ -n \"$d\" ] || " + fail(fmt.Sprintf("volume %s: no loop device is attached to %s", s.Name, s.SparsePath())) + "\n"
}

// SparseFile is the sparse file of a sparseLoopDevice volume: created at its size, grown
// when the size grows, never shrunk (that would cut the filesystem in it).
type SparseFile struct{ Spec Spec }

// ID implements resource.Resource.
func (f *SparseFile) ID() string { return "SparseFile " + f.Spec.SparsePath() }

// Probe implements resource.Resource.
func (f *SparseFile) Probe() string {
	p := resource.Q(f.Spec.SparsePath())
	return fmt.Sprintf("if [ -L %[1]s ] || { [ -e %[1]s ] && [ ! -f %[1]s ]; }; then echo notfile; elif [ -f %[1]s ]; then stat -c %%s %[1]s; else echo absent; fi", p)
}

// Decide implements resource.Resource.
func (f *SparseFile) Decide(facts string, _ *resource.Context) resource.Step {
	s, p := f.Spec, f.Spec.SparsePath()
	q := resource.Q(p)
	facts = strings.TrimSpace(facts)
	want := strconv.FormatInt(s.SparseSize, 10)
	switch facts {
	case "absent":
		return resource.Step{Action: change.Created, Message: fmt.Sprintf("sparse, %d bytes", s.SparseSize),
			Script: fmt.Sprintf("mkdir -p %s\n[ -e %s ] && %s\ntruncate -s %s %s",
				resource.Q(SparseDir), q, fail(p+" appeared on the host after the plan was made; not touching it"), want, q)}
	case "notfile":
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s exists and is not a regular file; refusing to replace it", s.Name, p)}
	}
	have, err := strconv.ParseInt(facts, 10, 64)
	switch {
	case err != nil:
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: cannot read the size of %s: %q", s.Name, p, facts)}
	case have == s.SparseSize:
		return resource.Step{Action: change.Unchanged}
	case have > s.SparseSize:
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s is %d bytes, larger than the %d asked; a sparse file is never shrunk", s.Name, p, have, s.SparseSize)}
	}
	// Grown only from the size the plan saw; the loop devices learn the new capacity.
	return resource.Step{Action: change.Configured, Message: fmt.Sprintf("grown from %d to %d bytes", have, s.SparseSize),
		Script: fmt.Sprintf("[ \"$(stat -c %%s %[1]s)\" = %[2]d ] || %[3]s\ntruncate -s %[4]s %[1]s\nfor l in $(%[5]s); do losetup -c \"$l\"; done",
			q, have, fail(p+" changed on the host after the plan was made; not growing it"), want, loopsOf(p))}
}

// LoopDevice is the loop device of a sparse volume's file.
type LoopDevice struct{ Spec Spec }

// ID implements resource.Resource.
func (l *LoopDevice) ID() string { return "LoopDevice " + l.Spec.SparsePath() }

// Probe implements resource.Resource.
func (l *LoopDevice) Probe() string { return loopsOf(l.Spec.SparsePath()) }

// Decide implements resource.Resource.
func (l *LoopDevice) Decide(facts string, _ *resource.Context) resource.Step {
	p := l.Spec.SparsePath()
	if devs := strings.Fields(facts); len(devs) > 0 {
		return resource.Step{Action: change.Unchanged, Message: "attached as " + strings.Join(devs, ", ")}
	}
	q := resource.Q(p)
	// Attached only if still unattached when the step runs: two loop devices on one file
	// would be two writers of one filesystem. With its partitions scanned, as MetalK8s
	// does: a Block volume's partition (its PersistentVolume's by-partuuid path) only
	// shows on kernels whose loop driver does not scan by itself (loop.max_part=0) so.
	return resource.Step{Action: change.Created, Message: "losetup --find --partscan " + p,
		Script: fmt.Sprintf("[ -f %[1]s ] || %[2]s\nif [ -z \"$(%[3]s)\" ]; then losetup --find --partscan --show %[1]s; fi",
			q, fail(fmt.Sprintf("volume %s: %s is missing", l.Spec.Name, p)), loopsOf(p))}
}

// Filesystem is a Filesystem volume's filesystem, whose UUID is the Volume's UID: that
// UUID is how mk8s recognises its own work, so only an empty device is formatted.
type Filesystem struct{ Spec Spec }

// ID implements resource.Resource.
func (f *Filesystem) ID() string {
	return fmt.Sprintf("Filesystem %s (%s, UUID %s)", f.Spec.Name, f.Spec.FSType, f.Spec.UID)
}

// Probe implements resource.Resource.
func (f *Filesystem) Probe() string { return blkidProbe(f.Spec) }

// blkidProbe prints `device=` and what blkid finds on the volume's device, then
// `blkid=<exit code>` (2: nothing). A sparse file without a loop device yet is probed
// as a file: after a reboot, its filesystem is still there and must not be formatted
// again.
func blkidProbe(s Spec) string {
	if s.sparse() {
		p := resource.Q(s.SparsePath())
		return fmt.Sprintf("d=$(%s | head -n1)\n[ -n \"$d\" ] || d=%s\nif [ ! -e \"$d\" ]; then echo absent; else echo \"device=$d\"; blkid -p -o export \"$d\"; echo \"blkid=$?\"; %s; fi", loopsOf(s.SparsePath()), p, partsProbe(`"$d"`))
	}
	d := resource.Q(s.devicePath())
	return fmt.Sprintf("if [ ! -e %[1]s ]; then echo absent; elif [ ! -b %[1]s ]; then echo notblock; else echo device=%[1]s; blkid -p -o export %[1]s; echo \"blkid=$?\"; %[2]s; fi", d, partsProbe(d))
}

// partsProbe prints `part=<number> <partition uuid>` per partition of dev's table
// (partx reads the table itself: it needs neither udev nor the kernel's view, and works
// on a sparse file that is not attached).
func partsProbe(dev string) string {
	return "partx -g -o NR,UUID " + dev + " 2>/dev/null | sed 's/^ */part=/'"
}

// probed is what blkidProbe found.
type probed struct {
	absent, notBlock bool
	device           string
	rc               int
	tags             map[string]string
	// parts maps partition UUIDs (lower-case) to their numbers.
	parts map[string]string
	// kind is "partition" or "dm" when a raw device is one (Partition's probe).
	kind string
	// kernel: the device is a block device, whose partitions the kernel shows are
	// kparts, by number (Partition's probe).
	kernel bool
	kparts map[string]bool
}

func parseProbe(facts string) probed {
	p := probed{tags: map[string]string{}, parts: map[string]string{}, kparts: map[string]bool{}, rc: -1}
	for _, l := range strings.Split(strings.TrimSpace(facts), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "absent":
			p.absent = true
		case l == "notblock":
			p.notBlock = true
		case strings.HasPrefix(l, "device="):
			p.device = strings.TrimPrefix(l, "device=")
		case strings.HasPrefix(l, "part="):
			if nr, u, ok := strings.Cut(strings.TrimPrefix(l, "part="), " "); ok {
				p.parts[strings.ToLower(strings.TrimSpace(u))] = nr
			}
		case strings.HasPrefix(l, "kind="):
			p.kind = strings.TrimPrefix(l, "kind=")
		case l == "kernel=1":
			p.kernel = true
		case strings.HasPrefix(l, "kpart="):
			p.kparts[strings.TrimPrefix(l, "kpart=")] = true
		case strings.HasPrefix(l, "blkid="):
			if n, err := strconv.Atoi(strings.TrimPrefix(l, "blkid=")); err == nil {
				p.rc = n
			}
		default:
			if k, v, ok := strings.Cut(l, "="); ok {
				p.tags[k] = v
			}
		}
	}
	return p
}

// empty says blkid found nothing at all (exit 2).
func (p probed) empty() bool { return p.rc == 2 && len(p.tags) == 0 }

// ours says the device holds the Volume's filesystem (Filesystem mode) or a GPT with
// the Volume's one partition (Block mode). A filesystem is the Volume's by its UUID,
// whatever its type: it was made with the fsType its StorageClass had then, and a
// StorageClass changed since applies to new Volumes.
func (p probed) ours(s Spec) bool {
	if s.Mode == ModeBlock {
		return p.rc == 0 && p.tags["PTTYPE"] == "gpt" && len(p.parts) == 1 && p.parts[s.UID] != ""
	}
	return p.rc == 0 && p.tags["UUID"] == s.UID
}

// describe names what blkid found, for a refusal.
func (p probed) describe() string {
	var parts []string
	if t := p.tags["PTTYPE"]; t != "" {
		parts = append(parts, "a "+t+" partition table")
	}
	if t := p.tags["TYPE"]; t != "" {
		d := "a " + t + " filesystem"
		if u := p.tags["UUID"]; u != "" {
			d += " with UUID " + u
		}
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		if p.rc != 0 && p.rc != 2 {
			return fmt.Sprintf("something blkid cannot identify (exit %d)", p.rc)
		}
		return "a signature blkid reports without a type"
	}
	return strings.Join(parts, " and ")
}

func (s Spec) deviceName(p probed) string {
	if p.device != "" {
		return p.device
	}
	if s.sparse() {
		return "the loop device of " + s.SparsePath()
	}
	return s.devicePath()
}

// Decide implements resource.Resource.
func (f *Filesystem) Decide(facts string, _ *resource.Context) resource.Step {
	s := f.Spec
	p := parseProbe(facts)
	switch {
	case p.notBlock:
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s is not a block device", s.Name, s.devicePath())}
	case p.absent && s.DevicePath != "":
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: device %s does not exist", s.Name, s.DevicePath)}
	case p.ours(s) && p.tags["TYPE"] != s.FSType:
		return resource.Step{Action: change.Unchanged, Message: fmt.Sprintf("the Volume's %s filesystem, kept: the StorageClass' %s is for new Volumes",
			p.tags["TYPE"], s.FSType)}
	case p.ours(s):
		return resource.Step{Action: change.Unchanged}
	case p.absent || p.empty():
		return resource.Step{Action: change.Created, Message: fmt.Sprintf("mkfs.%s on %s", s.FSType, s.deviceName(p)), Script: f.mkfsScript()}
	}
	return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s holds %s, not the Volume's %s filesystem (UUID %s); refusing to format it",
		s.Name, s.deviceName(p), p.describe(), s.FSType, s.UID)}
}

// mkfsCommand is the mkfs command line (shell words) for device dev ("$d" in scripts).
func (s Spec) mkfsCommand(dev string) string {
	var b strings.Builder
	b.WriteString("mkfs." + s.FSType)
	switch s.FSType {
	case "xfs":
		b.WriteString(" -q -m uuid=" + s.UID)
	case "ext4":
		b.WriteString(" -q -U " + s.UID)
	}
	for _, o := range s.MkfsOptions {
		b.WriteString(" " + resource.Q(o))
	}
	b.WriteString(" " + dev)
	return b.String()
}

// mkfsScript formats the device resolved when it runs, after checking again that it is
// empty: what the plan saw may be stale, and formatting is the one step that destroys.
func (f *Filesystem) mkfsScript() string {
	s := f.Spec
	return s.resolveDevice() +
		"rc=0; blkid -p \"$d\" >/dev/null 2>&1 || rc=$?\n" +
		"[ \"$rc\" = 2 ] || { echo " + resource.Q("volume "+s.Name+": ") + "\"$d is no longer empty (blkid exit $rc)\"" + resource.Q("; not formatting it") + " >&2; exit 1; }\n" +
		runOnDevice(s.Name, "mkfs."+s.FSType, s.mkfsCommand("\"$d\""))
}
