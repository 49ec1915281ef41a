package volume

import (
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

const uid = "0f6d2a4e-5b1c-4c8e-9a37-2d1e6b7f8a90"

func sparseSpec() Spec {
	return Spec{Name: "vol1", UID: uid, Node: "n1", Mode: ModeFilesystem, SparseSize: 64 << 20, FSType: "xfs"}
}

func rawSpec() Spec {
	return Spec{Name: "vol2", UID: uid, Node: "n1", Mode: ModeFilesystem, DevicePath: "/dev/sdb", FSType: "ext4", MkfsOptions: []string{"-m", "0"}}
}

func decide(r resource.Resource, facts string) resource.Step {
	return r.Decide(facts, &resource.Context{})
}

func TestPrepareResources(t *testing.T) {
	rs, err := Prepare(sparseSpec())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID())
	}
	want := []string{"SparseFile " + SparseDir + "/" + uid, "File " + SparseUnitPath, "SystemdUnit metalk8s-sparse-volume@" + uid + ".service",
		"LoopDevice " + SparseDir + "/" + uid, "Filesystem vol1 (xfs, UUID " + uid + ")"}
	if strings.Join(ids, "|") != strings.Join(want, "|") {
		t.Fatalf("ids %q, want %q", ids, want)
	}
	rs, err = Prepare(rawSpec())
	if err != nil || len(rs) != 1 {
		t.Fatalf("raw: %v %v", rs, err)
	}
}

func TestInvalidSpecs(t *testing.T) {
	for name, mod := range map[string]func(*Spec){
		"no name":       func(s *Spec) { s.Name = "" },
		"bad uid":       func(s *Spec) { s.UID = "x; rm -rf /" },
		"upper uid":     func(s *Spec) { s.UID = strings.ToUpper(uid) },
		"two sources":   func(s *Spec) { s.DevicePath = "/dev/sdb" },
		"no source":     func(s *Spec) { s.SparseSize = 0 },
		"negative":      func(s *Spec) { s.SparseSize = -1 },
		"bad fstype":    func(s *Spec) { s.FSType = "btrfs" },
		"bad mode":      func(s *Spec) { s.Mode = "Raw" },
		"device path":   func(s *Spec) { s.SparseSize, s.DevicePath = 0, "/etc/../dev/sda" },
		"not under dev": func(s *Spec) { s.SparseSize, s.DevicePath = 0, "/tmp/disk" },
	} {
		s := sparseSpec()
		mod(&s)
		if _, err := Prepare(s); err == nil {
			t.Errorf("%s: Prepare accepted %+v", name, s)
		}
		if _, err := Release(s); err == nil {
			t.Errorf("%s: Release accepted %+v", name, s)
		}
	}
}

func TestSparseFile(t *testing.T) {
	f := &SparseFile{Spec: sparseSpec()}
	s := decide(f, "absent")
	if s.Action != change.Created || !strings.Contains(s.Script, "truncate -s 67108864 "+resource.Q(SparseDir+"/"+uid)) {
		t.Fatalf("absent: %+v", s)
	}
	if s := decide(f, "67108864"); s.Action != change.Unchanged || s.Script != "" {
		t.Fatalf("same size: %+v", s)
	}
	s = decide(f, "134217728")
	if s.Action != change.Failed || s.Script != "" || !strings.Contains(s.Message, "never shrunk") {
		t.Fatalf("shrink: %+v", s)
	}
	if s := decide(f, "1048576"); s.Action != change.Configured || !strings.Contains(s.Script, "losetup -c") {
		t.Fatalf("grow: %+v", s)
	}
	if s := decide(f, "notfile"); s.Action != change.Failed || s.Script != "" {
		t.Fatalf("not a file: %+v", s)
	}
}

func TestLoopDevice(t *testing.T) {
	l := &LoopDevice{Spec: sparseSpec()}
	if s := decide(l, "/dev/loop7\n"); s.Action != change.Unchanged || s.Script != "" {
		t.Fatalf("attached: %+v", s)
	}
	s := decide(l, "")
	if s.Action != change.Created || !strings.Contains(s.Script, "losetup --find --partscan --show "+resource.Q(SparseDir+"/"+uid)) {
		t.Fatalf("detached: %+v", s)
	}
}

func TestFilesystemDecide(t *testing.T) {
	raw := &Filesystem{Spec: rawSpec()}
	sparse := &Filesystem{Spec: sparseSpec()}
	for _, c := range []struct {
		name   string
		fs     *Filesystem
		facts  string
		action change.Action
		msg    string
	}{
		{"ours ext4", raw, "device=/dev/sdb\nDEVNAME=/dev/sdb\nUUID=" + uid + "\nTYPE=ext4\nblkid=0", change.Unchanged, ""},
		{"ours xfs", sparse, "device=/dev/loop3\nUUID=" + uid + "\nTYPE=xfs\nblkid=0", change.Unchanged, ""},
		{"empty", raw, "device=/dev/sdb\nblkid=2", change.Created, "mkfs.ext4 on /dev/sdb"},
		{"sparse not yet created", sparse, "absent", change.Created, "mkfs.xfs on the loop device of"},
		{"foreign fs", raw, "device=/dev/sdb\nUUID=11111111-2222-3333-4444-555555555555\nTYPE=ext4\nblkid=0", change.Failed,
			"/dev/sdb holds a ext4 filesystem with UUID 11111111-2222-3333-4444-555555555555"},
		// Made when the StorageClass said xfs: still the Volume's.
		{"other type our uuid", raw, "device=/dev/sdb\nUUID=" + uid + "\nTYPE=xfs\nblkid=0", change.Unchanged, "the Volume's xfs filesystem, kept"},
		{"partition table", raw, "device=/dev/sdb\nPTUUID=abc\nPTTYPE=gpt\nblkid=0", change.Failed, "a gpt partition table"},
		{"ambivalent", raw, "device=/dev/sdb\nblkid=8", change.Failed, "cannot identify"},
		{"sparse file unattached holds foreign", sparse, "device=" + SparseDir + "/" + uid + "\nTYPE=ext4\nUUID=x\nblkid=0", change.Failed, "refusing to format"},
		{"missing", raw, "absent", change.Failed, "device /dev/sdb does not exist"},
		{"not block", raw, "notblock", change.Failed, "/dev/sdb is not a block device"},
	} {
		s := decide(c.fs, c.facts)
		if s.Action != c.action || !strings.Contains(s.Message, c.msg) {
			t.Errorf("%s: %s %q, want %s %q", c.name, s.Action, s.Message, c.action, c.msg)
		}
		if (s.Action == change.Created) != (s.Script != "") {
			t.Errorf("%s: %s with script %q", c.name, s.Action, s.Script)
		}
	}
	s := decide(raw, "device=/dev/sdb\nblkid=2")
	if !strings.Contains(s.Script, "mkfs.ext4 -q -U "+uid+" -m 0 \"$d\"") || !strings.Contains(s.Script, "d=/dev/sdb\n") {
		t.Errorf("ext4 script:\n%s", s.Script)
	}
	s = decide(sparse, "absent")
	if !strings.Contains(s.Script, "mkfs.xfs -q -m uuid="+uid+" \"$d\"") || !strings.Contains(s.Script, "losetup -n -O NAME -j") {
		t.Errorf("xfs script:\n%s", s.Script)
	}
}

func TestRelease(t *testing.T) {
	rs, err := Release(sparseSpec())
	if err != nil || len(rs) != 3 {
		t.Fatalf("%v %v", rs, err)
	}
	if s := decide(rs[0], ""); s.Action != change.Skipped {
		t.Errorf("unit without systemd: %+v", s)
	}
	sd := &resource.Context{Host: resource.HostFacts{Systemd: true}}
	if s := rs[0].Decide("enabled|active", sd); s.Action != change.Deleted || !strings.Contains(s.Script, "systemctl disable --now metalk8s-sparse-volume@"+uid+".service") {
		t.Errorf("unit: %+v", s)
	}
	if s := rs[0].Decide("disabled|inactive", sd); s.Action != change.Unchanged {
		t.Errorf("unit disabled: %+v", s)
	}
	rs = rs[1:]
	if s := decide(rs[0], "/dev/loop3\n/dev/loop4"); s.Action != change.Deleted || !strings.Contains(s.Script, "losetup -d") {
		t.Errorf("detach: %+v", s)
	}
	if s := decide(rs[0], ""); s.Action != change.Unchanged {
		t.Errorf("no loop: %+v", s)
	}
	if s := decide(rs[1], "present"); s.Action != change.Deleted || !strings.Contains(s.Script, "rm -f") {
		t.Errorf("remove: %+v", s)
	}
	rs, err = Release(rawSpec())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	w := rs[0]
	if s := decide(w, "device=/dev/sdb\nUUID="+uid+"\nTYPE=ext4\nblkid=0"); s.Action != change.Deleted || !strings.Contains(s.Script, "wipefs -q -a /dev/sdb") {
		t.Errorf("ours: %+v", s)
	}
	// Someone else's filesystem: nothing of the Volume's to release, nothing touched,
	// and the release is not blocked.
	if s := decide(w, "device=/dev/sdb\nUUID=other\nTYPE=ext4\nblkid=0"); s.Action != change.Skipped || s.Script != "" || !strings.Contains(s.Message, "left untouched") {
		t.Errorf("foreign: %+v", s)
	}
	if s := decide(w, "device=/dev/sdb\nblkid=2"); s.Action != change.Unchanged {
		t.Errorf("empty: %+v", s)
	}
}

func TestParseInfo(t *testing.T) {
	s := sparseSpec()
	out := "device=/dev/loop3\nuuid=" + uid + "\ntype=xfs\nsize=67108864\n"
	info, err := ParseInfo(s, []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if info != (Info{Path: "/dev/disk/by-uuid/" + uid, SizeBytes: 64 << 20, DeviceName: "loop3"}) {
		t.Fatalf("%+v", info)
	}
	if _, err := ParseInfo(s, []byte("device=/dev/loop3\nuuid=other\ntype=xfs\nsize=1\n")); err == nil {
		t.Fatal("foreign UUID accepted")
	}
	if !strings.Contains(InfoScript(s), "blockdev --getsize64") {
		t.Fatal(InfoScript(s))
	}
}

// The boot unit is managed on systemd hosts only; elsewhere the loop device is attached
// directly and nothing is written.
func TestBootUnit(t *testing.T) {
	rs, err := Prepare(sparseSpec())
	if err != nil {
		t.Fatal(err)
	}
	file, unit := rs[1], rs[2]
	if _, ok := file.(resource.Batched); !ok {
		t.Fatal("the unit file lost its batched probe")
	}
	none := &resource.Context{Desired: map[string]string{}, Changed: map[string]bool{}}
	for _, r := range []resource.Resource{file, unit} {
		if s := r.Decide("", none); s.Action != change.Skipped || s.Script != "" {
			t.Errorf("%s without systemd: %+v", r.ID(), s)
		}
	}
	sd := &resource.Context{Host: resource.HostFacts{Systemd: true}, Desired: map[string]string{}, Changed: map[string]bool{}}
	s := file.Decide("", sd)
	if s.Action != change.Created || !strings.Contains(s.Script, "losetup --find --partscan") {
		t.Fatalf("unit file: %+v", s)
	}
	s = unit.Decide("unit|disabled|inactive", sd)
	if s.Action != change.Configured || !strings.Contains(s.Script, "systemctl enable") || !strings.Contains(s.Script, "systemctl start") || !strings.Contains(s.Script, "daemon-reload") {
		t.Fatalf("unit: %+v", s)
	}
}

func TestPartitionDecide(t *testing.T) {
	spec := rawSpec()
	spec.Mode, spec.FSType, spec.MkfsOptions = ModeBlock, "", nil
	rs, err := Prepare(spec)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	p := rs[0]
	if p.ID() != "Partition vol2 (GPT, GUID "+uid+")" {
		t.Errorf("id %q", p.ID())
	}
	s := decide(p, "device=/dev/sdb\nblkid=2")
	if s.Action != change.Created || !strings.Contains(s.Script, "sgdisk --new=1:0:0 --partition-guid=1:"+uid+" \"$d\"") {
		t.Errorf("empty: %+v", s)
	}
	if s := decide(p, "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 "+strings.ToUpper(uid)+"\nkernel=1\nkpart=1"); s.Action != change.Unchanged {
		t.Errorf("ours: %+v", s)
	}
	// The kernel does not show it (a loop device attached again after a reboot).
	if s := decide(p, "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 "+uid+"\nkernel=1"); s.Action != change.Configured || !strings.Contains(s.Script, "partx -a") {
		t.Errorf("ours, not shown by the kernel: %+v", s)
	}
	for name, facts := range map[string]string{
		"other partition": "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 11111111-2222-3333-4444-555555555555",
		"ours and more":   "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 " + uid + "\npart=2 11111111-2222-3333-4444-555555555555",
		"a filesystem":    "device=/dev/sdb\nTYPE=ext4\nUUID=" + uid + "\nblkid=0",
		"dos table":       "device=/dev/sdb\nPTTYPE=dos\nblkid=0\npart=1 " + uid,
	} {
		if s := decide(p, facts); s.Action != change.Failed || s.Script != "" || !strings.Contains(s.Message, "refusing to partition /dev/sdb") && !strings.Contains(s.Message, "/dev/sdb holds") {
			t.Errorf("%s: %+v", name, s)
		}
	}
	if s := decide(p, "device=/dev/sdb1\nblkid=2\nkind=partition"); s.Action != change.Failed || s.Script != "" || !strings.Contains(s.Message, "is a partition device") {
		t.Errorf("a partition: %+v", s)
	}
	info, err := ParseInfo(spec, []byte("device=/dev/sdb1\nsize=1048576\n"))
	if err != nil || info != (Info{Path: "/dev/disk/by-partuuid/" + uid, SizeBytes: 1 << 20, DeviceName: "sdb1"}) {
		t.Errorf("info %+v %v", info, err)
	}
	rs, _ = Release(spec)
	if s := decide(rs[0], "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 "+uid); s.Action != change.Deleted || !strings.Contains(s.Script, "wipefs -q -a /dev/sdb") {
		t.Errorf("release ours: %+v", s)
	}
	if s := decide(rs[0], "device=/dev/sdb\nPTTYPE=gpt\nblkid=0\npart=1 11111111-2222-3333-4444-555555555555"); s.Action != change.Skipped || s.Script != "" {
		t.Errorf("release foreign: %+v", s)
	}
}

func lvmSpec() Spec {
	return Spec{Name: "vol3", UID: uid, Node: "n1", Mode: ModeFilesystem, LVM: &LVM{VGName: "vg0", Size: 1 << 30}, FSType: "ext4"}
}

func TestLVM(t *testing.T) {
	for name, mod := range map[string]func(*Spec){
		"bad vg":      func(s *Spec) { s.LVM.VGName = "vg 0" },
		"dash vg":     func(s *Spec) { s.LVM.VGName = "-vg" },
		"bad lv name": func(s *Spec) { s.Name = "a/b" },
		"no size":     func(s *Spec) { s.LVM.Size = 0 },
	} {
		s := lvmSpec()
		mod(&s)
		if _, err := Prepare(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	rs, err := Prepare(lvmSpec())
	if err != nil || len(rs) != 2 || rs[0].ID() != "LogicalVolume vg0/vol3" || rs[1].ID() != "Filesystem vol3 (ext4, UUID "+uid+")" {
		t.Fatalf("%v %v", rs, err)
	}
	lv, fs := rs[0], rs[1]
	for facts, msg := range map[string]string{"nolvm": "lvm2", "novg": "volume group vg0 does not exist", "lv=1048576": "never resized"} {
		if s := decide(lv, facts); s.Action != change.Failed || s.Script != "" || !strings.Contains(s.Message, msg) {
			t.Errorf("%s: %+v", facts, s)
		}
	}
	if s := decide(lv, "lv="); s.Action != change.Created || s.Script != "lvcreate -n vol3 -L 1073741824b vg0 </dev/null" {
		t.Errorf("create: %+v", s)
	}
	if s := decide(lv, "lv=1077936128"); s.Action != change.Unchanged {
		t.Errorf("rounded up: %+v", s)
	}
	// The LV does not exist yet when the plan is made: formatted once created.
	if s := decide(fs, "absent"); s.Action != change.Created || !strings.Contains(s.Script, "d=/dev/vg0/vol3\n") {
		t.Errorf("fs: %+v", s)
	}
	b := lvmSpec()
	b.Mode, b.FSType = ModeBlock, ""
	if rs, err := Prepare(b); err != nil || len(rs) != 1 {
		t.Errorf("block: %v %v", rs, err)
	}
	info, err := ParseInfo(b, []byte("device=/dev/dm-3\nuuids="+strings.Repeat("a", 32)+strings.Repeat("b", 32)+"\nsize=1073741824\n"))
	if err != nil || info.Path != "/dev/disk/by-id/dm-uuid-LVM-"+strings.Repeat("a", 32)+strings.Repeat("b", 32) || info.DeviceName != "dm-3" {
		t.Errorf("info %+v %v", info, err)
	}
	rs, err = Release(lvmSpec())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	if s := decide(rs[0], ""); s.Action != change.Skipped || s.Script != "" {
		t.Errorf("release: %+v", s)
	}
}
