package hostsynce2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

const (
	volUID     = "3b0c6f1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f"
	foreignUID = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
)

// volumeConverge plans and applies with the given render; apply's error is returned.
func volumeConverge(t *testing.T, ctx context.Context, l *hosts.Lab, site *schema.Site, render hostsync.RenderFunc) (change.Set, error) {
	t.Helper()
	po := planOpts(l)
	po.Render = render
	_, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
	return res, err
}

func entryOf(t *testing.T, res change.Set, prefix string) change.Entry {
	t.Helper()
	for _, e := range res {
		if strings.HasPrefix(e.Subject, prefix) {
			return e
		}
	}
	t.Fatalf("no %q entry in %v", prefix, res)
	return change.Entry{}
}

func volumeInfo(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, s volume.Spec) volume.Info {
	t.Helper()
	out, err := l.Run(ctx, h, volume.InfoScript(s))
	if err != nil {
		t.Fatal(err)
	}
	info, err := volume.ParseInfo(s, []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// blkidOn returns blkid's export of dev on the host, "" when it finds nothing.
func blkidOn(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, dev string) string {
	t.Helper()
	out, err := l.Run(ctx, h, "blkid -p -o export "+dev+"; rc=$?; [ $rc = 0 ] || [ $rc = 2 ]")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// machineLoop attaches a loop device on the machine to a new file of size bytes (its
// /dev is the hosts' /dev too) and detaches it, and removes the file, at cleanup.
func machineLoop(t *testing.T, size int64) (dev, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		out, err := exec.Command("losetup", "-n", "-O", "NAME", "-j", file).Output()
		if err != nil {
			t.Errorf("losetup -j %s: %v", file, err)
		}
		for _, d := range strings.Fields(string(out)) {
			if b, err := exec.Command("losetup", "-d", d).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v: %s", d, err, b)
			}
		}
		os.Remove(file)
	})
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		t.Fatalf("losetup --find %s: %v", file, err)
	}
	return strings.TrimSpace(string(out)), file
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// A sparse xfs volume: file, loop device and filesystem created with the Volume's UID;
// a second run changes nothing; after its loop device is gone (a reboot, a run killed
// after mkfs) the filesystem is found in the file and kept, with what was written in it;
// released, the loop device and the file are gone.
func TestVolumeSparseXFS(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	// mkfs.xfs refuses filesystems under 300 MB; the file is sparse, so this costs
	// almost nothing.
	spec := volume.Spec{Name: "sparse-xfs", UID: volUID, Node: "node-1", Mode: volume.ModeFilesystem,
		SparseSize: 320 << 20, FSType: "xfs"}
	file := spec.SparsePath()
	t.Cleanup(func() {
		// Before the lab closes (cleanups run last-in first-out): the loops of the
		// host's file, listed by the host, which sees the file as the loops do.
		if _, err := l.Run(context.Background(), h, "for d in $(losetup -n -O NAME -j "+file+"); do losetup -d $d; done; umount /var/lib/mk8s-vt 2>/dev/null; true"); err != nil {
			t.Errorf("detaching: %v", err)
		}
	})

	res, err := volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	for _, p := range []string{"SparseFile", "LoopDevice", "Filesystem sparse-xfs (xfs, UUID " + volUID + ")"} {
		if e := entryOf(t, res, p); e.Action != change.Created {
			t.Errorf("first run: %v", e)
		}
	}
	out, err := l.Run(ctx, h, "stat -c %s "+file+"; losetup -n -O NAME -j "+file)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "335544320" || !strings.HasPrefix(f[1], "/dev/loop") {
		t.Fatalf("file and loop: %q", out)
	}
	dev := f[1]
	if b := blkidOn(t, ctx, l, h, dev); !strings.Contains(b, "TYPE=xfs\n") || !strings.Contains(b, "UUID="+volUID+"\n") {
		t.Fatalf("blkid %s: %s", dev, b)
	}
	info := volumeInfo(t, ctx, l, h, spec)
	if info != (volume.Info{Path: "/dev/disk/by-uuid/" + volUID, SizeBytes: 320 << 20, DeviceName: filepath.Base(dev)}) {
		t.Fatalf("info: %+v", info)
	}

	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err != nil {
		t.Fatal(err)
	}
	if c := changed(res); len(c) != 0 {
		t.Fatalf("second run changed: %v", c)
	}

	// A marker in the filesystem, then the loop device goes as a reboot (or a run killed
	// between losetup and the end) would leave it: the next run attaches it again and
	// must not format it.
	if _, err := l.Run(ctx, h, "mkdir -p /var/lib/mk8s-vt && mount "+dev+" /var/lib/mk8s-vt && echo kept > /var/lib/mk8s-vt/marker && umount /var/lib/mk8s-vt && losetup -d "+dev); err != nil {
		t.Fatal(err)
	}
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err != nil {
		t.Fatal(err)
	}
	if c := changed(res); len(c) != 1 || !strings.HasPrefix(c[0].Subject, "LoopDevice") {
		t.Fatalf("after detach: want only the loop device attached again, got %v", c)
	}
	out, err = l.Run(ctx, h, "d=$(losetup -n -O NAME -j "+file+") && mount $d /var/lib/mk8s-vt && cat /var/lib/mk8s-vt/marker; umount /var/lib/mk8s-vt")
	if err != nil || out != "kept\n" {
		t.Fatalf("marker after the re-run: %q %v", out, err)
	}

	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeReleaseRender(spec))
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if c := changed(res); len(c) != 2 || c[0].Action != change.Deleted || c[1].Action != change.Deleted {
		t.Fatalf("release: %v", c)
	}
	out, err = l.Run(ctx, h, "losetup -n -O NAME -j "+file+" 2>/dev/null; [ -e "+file+" ] && echo present; true")
	if err != nil || out != "" {
		t.Fatalf("after release: %q %v", out, err)
	}
}

// A raw device (a loop device of the machine, seen by the host through the shared
// /dev): formatted ext4 with the Volume's UID, unchanged the second time, wiped when
// released. A device that holds someone else's filesystem is neither formatted (apply
// fails naming the node and the device) nor wiped (its release skips it), and not a
// byte changes.
func TestVolumeRawDevice(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	dev, _ := machineLoop(t, 64<<20)
	if _, err := l.Run(ctx, h, "[ -b "+dev+" ]"); err != nil {
		t.Fatalf("%s is not a block device on the host: %v", dev, err)
	}
	spec := volume.Spec{Name: "raw-ext4", UID: volUID, Node: "node-1", Mode: volume.ModeFilesystem,
		DevicePath: dev, FSType: "ext4", MkfsOptions: []string{"-m", "0"}}

	res, err := volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if e := entryOf(t, res, "Filesystem raw-ext4"); e.Action != change.Created {
		t.Fatalf("first run: %v", e)
	}
	if b := blkidOn(t, ctx, l, h, dev); !strings.Contains(b, "TYPE=ext4\n") || !strings.Contains(b, "UUID="+volUID+"\n") {
		t.Fatalf("blkid %s: %s", dev, b)
	}
	if info := volumeInfo(t, ctx, l, h, spec); info != (volume.Info{Path: "/dev/disk/by-uuid/" + volUID, SizeBytes: 64 << 20, DeviceName: filepath.Base(dev)}) {
		t.Fatalf("info: %+v", info)
	}
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err != nil || len(changed(res)) != 0 {
		t.Fatalf("second run: %v %v", changed(res), err)
	}
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeReleaseRender(spec))
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if e := entryOf(t, res, "Wipe "+dev); e.Action != change.Deleted {
		t.Fatalf("release: %v", e)
	}
	if b := blkidOn(t, ctx, l, h, dev); b != "" {
		t.Fatalf("blkid after release: %q", b)
	}

	// Someone else's ext4.
	other, otherFile := machineLoop(t, 64<<20)
	if b, err := exec.Command("mkfs.ext4", "-q", "-U", foreignUID, other).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", other, err, b)
	}
	before := sha256File(t, otherFile)
	foreign := spec
	foreign.DevicePath = other
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(foreign))
	if err == nil || !strings.Contains(err.Error(), "node-1") {
		t.Fatalf("foreign device: apply error %v, want one naming node-1", err)
	}
	var failed []change.Entry
	for _, e := range res {
		if e.Action == change.Failed {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || failed[0].Host != "node-1" || !strings.Contains(failed[0].Message, other) || !strings.Contains(failed[0].Message, foreignUID) {
		t.Fatalf("foreign device: %v", res)
	}
	// Released (the Volume that was refused is removed): nothing of the Volume's is
	// there, so nothing is wiped, and the release does not block the Volume's deletion.
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeReleaseRender(foreign))
	if e := entryOf(t, res, "Wipe "+other); err != nil || e.Action != change.Skipped || !strings.Contains(e.Message, foreignUID) {
		t.Fatalf("release of the foreign device: %v %v", err, res)
	}
	if after := sha256File(t, otherFile); after != before {
		t.Fatalf("foreign device changed: %s -> %s", before, after)
	}

	// A device that does not exist.
	missing := spec
	missing.DevicePath = "/dev/mk8s-no-such-disk"
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(missing))
	if err == nil || !strings.Contains(entryOf(t, res, "Filesystem").Message, "/dev/mk8s-no-such-disk does not exist") {
		t.Fatalf("missing device: %v %v", err, res)
	}
}

// Block mode on a raw device and on a sparse file: one GPT partition whose GUID is the
// Volume's UID, the kernel's partition device in the Info, unchanged the second time;
// released, the device is empty again.
func TestVolumeBlock(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	dev, _ := machineLoop(t, 64<<20)
	raw := volume.Spec{Name: "raw-block", UID: volUID, Node: "node-1", Mode: volume.ModeBlock, DevicePath: dev}
	sparse := volume.Spec{Name: "sparse-block", UID: foreignUID, Node: "node-1", Mode: volume.ModeBlock, SparseSize: 64 << 20}
	file := sparse.SparsePath()
	t.Cleanup(func() {
		if _, err := l.Run(context.Background(), h, "for d in $(losetup -n -O NAME -j "+file+"); do losetup -d $d; done; true"); err != nil {
			t.Errorf("detaching: %v", err)
		}
	})
	render := hostsync.VolumeRender(raw, sparse)
	res, err := volumeConverge(t, ctx, l, site, render)
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	for _, p := range []string{"Partition raw-block", "Partition sparse-block"} {
		if e := entryOf(t, res, p); e.Action != change.Created {
			t.Errorf("first run: %v", e)
		}
	}
	if b := blkidOn(t, ctx, l, h, dev); !strings.Contains(b, "PTTYPE=gpt\n") {
		t.Fatalf("blkid %s: %s", dev, b)
	}
	for _, s := range []volume.Spec{raw, sparse} {
		info := volumeInfo(t, ctx, l, h, s)
		if info.Path != "/dev/disk/by-partuuid/"+s.UID || info.SizeBytes <= 60<<20 || info.SizeBytes >= 64<<20 || !strings.HasSuffix(info.DeviceName, "p1") {
			t.Fatalf("%s info: %+v", s.Name, info)
		}
		if out, err := l.Run(ctx, h, "blkid -p -s PART_ENTRY_UUID -o value /dev/"+info.DeviceName); err != nil || strings.TrimSpace(out) != s.UID {
			t.Fatalf("%s: partition /dev/%s: %q %v", s.Name, info.DeviceName, out, err)
		}
	}
	res, err = volumeConverge(t, ctx, l, site, render)
	if err != nil || len(changed(res)) != 0 {
		t.Fatalf("second run: %v %v", changed(res), err)
	}
	// Block mode on a partition (MetalK8s would set the GUID in the parent's table) is
	// refused rather than given a table of its own.
	part := volume.Spec{Name: "on-partition", UID: "5c4b3a29-1807-4f6e-8d5c-4b3a29180706", Node: "node-1", Mode: volume.ModeBlock,
		DevicePath: "/dev/" + filepath.Base(dev) + "p1"}
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(part))
	if err == nil || !strings.Contains(entryOf(t, res, "Partition on-partition").Message, "is a partition device") {
		t.Fatalf("Block mode on a partition: %v %v", err, res)
	}
	// The raw device in Filesystem mode is refused: it holds a partition table.
	fs := raw
	fs.Mode, fs.FSType = volume.ModeFilesystem, "ext4"
	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeRender(fs))
	if err == nil || !strings.Contains(entryOf(t, res, "Filesystem").Message, "a gpt partition table") {
		t.Fatalf("Filesystem on a partitioned device: %v %v", err, res)
	}

	res, err = volumeConverge(t, ctx, l, site, hostsync.VolumeReleaseRender(raw, sparse))
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if b := blkidOn(t, ctx, l, h, dev); b != "" {
		t.Fatalf("blkid after release: %q", b)
	}
	out, err := l.Run(ctx, h, "ls /sys/class/block/"+filepath.Base(dev)+"/ | grep p1; [ -e "+file+" ] && echo present; true")
	if err != nil || out != "" {
		t.Fatalf("after release: %q %v", out, err)
	}
}

// An LVM volume whose volume group is not there (or without the LVM tools) fails
// clearly, naming the node, before anything is created. Creating the LV itself needs
// device-mapper, which the lab's kernel does not have.
func TestVolumeLVMWithoutVolumeGroup(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	site := labSite(l, nodeOf(l, "node-1", l.Hosts[0], schema.RoleNode))
	spec := volume.Spec{Name: "lvm-ext4", UID: volUID, Node: "node-1", Mode: volume.ModeFilesystem,
		LVM: &volume.LVM{VGName: "mk8s-no-such-vg", Size: 64 << 20}, FSType: "ext4"}
	res, err := volumeConverge(t, ctx, l, site, hostsync.VolumeRender(spec))
	if err == nil || !strings.Contains(err.Error(), "node-1") {
		t.Fatalf("apply error %v, want one naming node-1", err)
	}
	e := entryOf(t, res, "LogicalVolume mk8s-no-such-vg/lvm-ext4")
	if e.Action != change.Failed || !strings.Contains(e.Message, "volume group mk8s-no-such-vg does not exist") && !strings.Contains(e.Message, "lvm2") {
		t.Fatalf("%v", e)
	}
	if f := entryOf(t, res, "Filesystem lvm-ext4"); f.Action != change.Skipped {
		t.Fatalf("the filesystem was attempted: %v", f)
	}
}

// VolumeStorage handles all the Volumes of a node in one call: two sparse volumes and
// a raw device on one host, where the raw device holds someone else's filesystem. The
// refused Volume fails alone (its device untouched), the two others are prepared in the
// same run and their Info read; the boot unit's template they share is one step.
func TestVolumeStorageBatchesANodeAndIsolatesARefusal(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	other, otherFile := machineLoop(t, 64<<20)
	if b, err := exec.Command("mkfs.ext4", "-q", "-U", foreignUID, other).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", other, err, b)
	}
	before := sha256File(t, otherFile)
	uids := []string{"11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"}
	specs := []volume.Spec{
		{Name: "sparse-a", UID: uids[0], Node: "node-1", Mode: volume.ModeFilesystem, SparseSize: 64 << 20, FSType: "ext4"},
		{Name: "foreign", UID: volUID, Node: "node-1", Mode: volume.ModeFilesystem, DevicePath: other, FSType: "ext4"},
		{Name: "sparse-b", UID: uids[1], Node: "node-1", Mode: volume.ModeFilesystem, SparseSize: 320 << 20, FSType: "xfs"},
	}
	t.Cleanup(func() {
		_, _ = l.Run(context.Background(), h, "for f in "+volume.SparseDir+"/*; do for d in $(losetup -n -O NAME -j $f); do losetup -d $d; done; done; true")
	})
	vs := &hostsync.VolumeStorage{Options: planOpts(l)}

	plan := vs.Prepare(ctx, site, specs, false)
	if plan[1].Err == nil || !strings.Contains(plan[1].Err.Error(), foreignUID) || plan[0].Err != nil || plan[2].Err != nil {
		t.Fatalf("plan: %+v", plan)
	}
	templates := 0
	for _, o := range plan {
		for _, e := range o.Steps {
			if strings.Contains(e.Subject, "metalk8s-sparse-volume@.service") {
				templates++
			}
		}
	}
	if templates != 1 {
		t.Fatalf("the shared template is planned %d times: %+v", templates, plan)
	}

	out := vs.Prepare(ctx, site, specs, true)
	if out[1].Err == nil || !strings.Contains(out[1].Err.Error(), other) {
		t.Fatalf("the foreign device was not refused: %+v", out[1])
	}
	for _, i := range []int{0, 2} {
		s := specs[i]
		if out[i].Err != nil || out[i].Info.Path != "/dev/disk/by-uuid/"+s.UID || out[i].Info.SizeBytes != s.SparseSize ||
			!strings.HasPrefix(out[i].Info.DeviceName, "loop") {
			t.Fatalf("%s: %+v", s.Name, out[i])
		}
		if e := entryOf(t, out[i].Steps, "Filesystem "+s.Name); e.Action != change.Created {
			t.Fatalf("%s: %v", s.Name, out[i].Steps)
		}
		if b := blkidOn(t, ctx, l, h, "$(losetup -n -O NAME -j "+s.SparsePath()+")"); !strings.Contains(b, "UUID="+s.UID) || !strings.Contains(b, "TYPE="+s.FSType) {
			t.Fatalf("%s: blkid %s", s.Name, b)
		}
	}
	if after := sha256File(t, otherFile); after != before {
		t.Fatal("the foreign device changed")
	}
	again := vs.Prepare(ctx, site, []volume.Spec{specs[0], specs[2]}, true)
	for i, o := range again {
		if o.Err != nil || o.Steps.Changed() || o.Info.Path == "" {
			t.Fatalf("second run, volume %d: %+v", i, o)
		}
	}
}

// A Volume whose step fails when it runs (mkfs.xfs refuses a file under 300 MB, which
// no probe can tell) fails alone: the node's other Volumes, whose steps come after its
// own in the node's script, are applied all the same, on this run and the next; the
// failure names the node and the device.
func TestVolumeStorageFailingStepDoesNotBlockTheNode(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	specs := []volume.Spec{
		{Name: "a-too-small", UID: "11111111-2222-4333-8444-555555555555", Node: "node-1", Mode: volume.ModeFilesystem, SparseSize: 64 << 20, FSType: "xfs"},
		{Name: "b-fine", UID: "66666666-7777-4888-9999-aaaaaaaaaaaa", Node: "node-1", Mode: volume.ModeFilesystem, SparseSize: 64 << 20, FSType: "ext4"},
	}
	t.Cleanup(func() {
		_, _ = l.Run(context.Background(), h, "for f in "+volume.SparseDir+"/*; do for d in $(losetup -n -O NAME -j $f); do losetup -d $d; done; done; true")
	})
	vs := &hostsync.VolumeStorage{Options: planOpts(l)}
	for run := 1; run <= 2; run++ {
		out := vs.Prepare(ctx, site, specs, true)
		if out[1].Err != nil || out[1].Info.Path != "/dev/disk/by-uuid/"+specs[1].UID {
			t.Fatalf("run %d: the other Volume of the node was not prepared: %+v", run, out[1])
		}
		if err := out[0].Err; err == nil || !strings.Contains(err.Error(), "node-1") || !strings.Contains(err.Error(), "larger than 300MB") ||
			!strings.Contains(err.Error(), "volume a-too-small: mkfs.xfs on /dev/loop") {
			t.Fatalf("run %d: the failing Volume: %+v, want mkfs.xfs' refusal naming node-1 and the loop device", run, out[0])
		}
		// The steps taken on the first run are reported as such, once.
		if e := entryOf(t, out[1].Steps, "Filesystem b-fine"); (run == 1) != (e.Action == change.Created) {
			t.Fatalf("run %d: b-fine's filesystem: %v", run, out[1].Steps)
		}
		if b := blkidOn(t, ctx, l, h, "$(losetup -n -O NAME -j "+specs[1].SparsePath()+")"); !strings.Contains(b, "UUID="+specs[1].UID) {
			t.Fatalf("run %d: blkid of b-fine: %q", run, b)
		}
	}
}

// A sparse Block volume after a reboot: its loop device is gone, the file keeps its
// partition table. Attached again, the loop device must show the partition again (the
// PersistentVolume's /dev/disk/by-partuuid/<uid> is that partition), without
// partitioning anything anew. It is attached with partition scanning, which kernels
// whose loop driver does not scan by itself (loop.max_part=0) need; a kernel that cannot
// read a GPT (the lab's) is given the partition by partx.
func TestVolumeSparseBlockAfterReboot(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	spec := volume.Spec{Name: "sparse-block", UID: volUID, Node: "node-1", Mode: volume.ModeBlock, SparseSize: 64 << 20}
	file := spec.SparsePath()
	detach := "for d in $(losetup -n -O NAME -j " + file + "); do losetup -d $d; done; true"
	t.Cleanup(func() {
		if _, err := l.Run(context.Background(), h, detach); err != nil {
			t.Errorf("detaching: %v", err)
		}
	})
	vs := &hostsync.VolumeStorage{Options: planOpts(l)}
	first := vs.Prepare(ctx, site, []volume.Spec{spec}, true)[0]
	if first.Err != nil || !strings.HasSuffix(first.Info.DeviceName, "p1") {
		t.Fatalf("first run: %+v", first)
	}
	// A reboot leaves nothing of the loop device; this kernel would keep the partition
	// partx added to it across the detach (and show it on whatever file the device is
	// attached to next): drop it first.
	if _, err := l.Run(ctx, h, "for d in $(losetup -n -O NAME -j "+file+"); do partx -d $d; losetup -d $d; done"); err != nil {
		t.Fatal(err)
	}
	again := vs.Prepare(ctx, site, []volume.Spec{spec}, true)[0]
	if again.Err != nil || !strings.HasSuffix(again.Info.DeviceName, "p1") || again.Info.Path != "/dev/disk/by-partuuid/"+volUID {
		t.Fatalf("after the reboot: %+v", again)
	}
	if e := entryOf(t, again.Steps, "Partition sparse-block"); e.Action == change.Created {
		t.Fatalf("after the reboot the partition was made again: %v", again.Steps)
	}
	if out, err := l.Run(ctx, h, "blkid -p -s PART_ENTRY_UUID -o value /dev/"+again.Info.DeviceName); err != nil || strings.TrimSpace(out) != volUID {
		t.Fatalf("partition /dev/%s: %q %v", again.Info.DeviceName, out, err)
	}
	if out, err := l.Run(ctx, h, "cat /sys/block/$(basename $(losetup -n -O NAME -j "+file+"))/loop/partscan"); err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("the loop device was attached again without partition scanning: partscan %q %v", out, err)
	}
}

// A raw Block volume named by a persistent link to its disk (a /dev/disk/by-id path, as
// production sites name disks; here a link of the machine's /dev, which the hosts
// share): partitioned, and its partition found under the kernel's name of the disk.
func TestVolumeBlockThroughALink(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	dev, _ := machineLoop(t, 64<<20)
	link := "/dev/mk8s-test-disk-" + filepath.Base(dev) // the loop device is this test's: so is the name
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	spec := volume.Spec{Name: "raw-block", UID: volUID, Node: "node-1", Mode: volume.ModeBlock, DevicePath: link}
	vs := &hostsync.VolumeStorage{Options: planOpts(l)}
	for run := 1; run <= 2; run++ {
		out := vs.Prepare(ctx, site, []volume.Spec{spec}, true)[0]
		if out.Err != nil || out.Info.DeviceName != filepath.Base(dev)+"p1" || out.Info.Path != "/dev/disk/by-partuuid/"+volUID {
			t.Fatalf("run %d: %+v", run, out)
		}
	}
}

// A Volume's filesystem made with the fsType its StorageClass had then: the class now
// says another (a metalk8s StorageClass declared with xfs where the platform's ext4 was
// used, say). The filesystem is the Volume's (its UUID is the Volume's UID): it is kept
// and the Volume stays prepared, rather than being refused as someone else's.
func TestVolumeStorageClassFsTypeChangedAfterFormat(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", h, schema.RoleNode))
	dev, _ := machineLoop(t, 64<<20)
	spec := volume.Spec{Name: "raw-ext4", UID: volUID, Node: "node-1", Mode: volume.ModeFilesystem, DevicePath: dev, FSType: "ext4"}
	vs := &hostsync.VolumeStorage{Options: planOpts(l)}
	if out := vs.Prepare(ctx, site, []volume.Spec{spec}, true)[0]; out.Err != nil {
		t.Fatalf("%+v", out)
	}
	spec.FSType = "xfs"
	out := vs.Prepare(ctx, site, []volume.Spec{spec}, true)[0]
	if out.Err != nil || out.Steps.Changed() || out.Info.Path != "/dev/disk/by-uuid/"+volUID {
		t.Fatalf("the Volume's own filesystem, under a StorageClass now saying xfs: %+v", out)
	}
	if b := blkidOn(t, ctx, l, h, dev); !strings.Contains(b, "TYPE=ext4\n") || !strings.Contains(b, "UUID="+volUID+"\n") {
		t.Fatalf("blkid %s: %s", dev, b)
	}
}
