package volume

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// lvmNameRE is what LVM accepts as a VG or LV name (and what a shell and a path
// cannot misread).
var lvmNameRE = regexp.MustCompile(`^[A-Za-z0-9_+.][A-Za-z0-9_+.-]*$`)

func (s Spec) validateLVM() error {
	if !lvmNameRE.MatchString(s.LVM.VGName) || s.LVM.VGName == "." || s.LVM.VGName == ".." {
		return fmt.Errorf("volume %s: %q is not a volume group name", s.Name, s.LVM.VGName)
	}
	// The LV is named after the Volume, as MetalK8s does.
	if !lvmNameRE.MatchString(s.Name) || s.Name == "." || s.Name == ".." {
		return fmt.Errorf("volume %s: the name is not a valid logical volume name", s.Name)
	}
	if s.LVM.Size <= 0 {
		return fmt.Errorf("volume %s: logical volume size %d is not positive", s.Name, s.LVM.Size)
	}
	return nil
}

// devicePath is the device of a raw or LVM volume ("" for a sparse one).
func (s Spec) devicePath() string {
	if s.LVM != nil {
		return "/dev/" + s.LVM.VGName + "/" + s.Name
	}
	return s.DevicePath
}

// LogicalVolume is an lvmLogicalVolume volume's LV, named after the Volume, in a volume
// group that must already exist. It is created at its size and never resized.
type LogicalVolume struct{ Spec Spec }

// ID implements resource.Resource.
func (l *LogicalVolume) ID() string { return "LogicalVolume " + l.Spec.LVM.VGName + "/" + l.Spec.Name }

// Probe implements resource.Resource.
func (l *LogicalVolume) Probe() string {
	vg, lv := resource.Q(l.Spec.LVM.VGName), resource.Q(l.Spec.LVM.VGName+"/"+l.Spec.Name)
	return fmt.Sprintf(`if ! command -v lvs >/dev/null 2>&1; then echo nolvm
elif ! vgs --noheadings -o vg_name %s >/dev/null 2>&1; then echo novg
else echo "lv=$(lvs --noheadings --nosuffix --units b -o lv_size %s 2>/dev/null | tr -d ' ')"; fi`, vg, lv)
}

// Decide implements resource.Resource.
func (l *LogicalVolume) Decide(facts string, _ *resource.Context) resource.Step {
	s := l.Spec
	facts = strings.TrimSpace(facts)
	switch {
	case facts == "nolvm":
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: the LVM tools (lvm2) are not installed", s.Name)}
	case facts == "novg":
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: volume group %s does not exist", s.Name, s.LVM.VGName)}
	case facts == "lv=":
		// No --yes: lvcreate then refuses to wipe a signature left where the LV lands.
		return resource.Step{Action: change.Created, Message: fmt.Sprintf("%d bytes", s.LVM.Size),
			Script: fmt.Sprintf("lvcreate -n %s -L %db %s </dev/null", resource.Q(s.Name), s.LVM.Size, resource.Q(s.LVM.VGName))}
	}
	have, err := strconv.ParseInt(strings.TrimPrefix(facts, "lv="), 10, 64)
	switch {
	case err != nil || !strings.HasPrefix(facts, "lv="):
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: cannot read the size of %s: %q", s.Name, s.devicePath(), facts)}
	case have < s.LVM.Size:
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s is %d bytes, smaller than the %d asked; a logical volume is never resized", s.Name, s.devicePath(), have, s.LVM.Size)}
	}
	// lvcreate rounds the size up to whole extents.
	return resource.Step{Action: change.Unchanged}
}

// KeepLogicalVolume is what releasing an LVM volume does: nothing, as MetalK8s, for
// removing a logical volume is too dangerous to do unattended.
type KeepLogicalVolume struct{ Spec Spec }

// ID implements resource.Resource.
func (k *KeepLogicalVolume) ID() string {
	return "LogicalVolume " + k.Spec.LVM.VGName + "/" + k.Spec.Name
}

// Probe implements resource.Resource.
func (k *KeepLogicalVolume) Probe() string { return ":" }

// Decide implements resource.Resource.
func (k *KeepLogicalVolume) Decide(string, *resource.Context) resource.Step {
	return resource.Step{Action: change.Skipped, Message: "a logical volume is never removed; remove it by hand if its data is not needed"}
}

// lvmInfoScript prints the LV's VG and LV UUIDs (its device-mapper UUID is made of
// them), its kernel device and size.
func lvmInfoScript(s Spec) string {
	return "export LC_ALL=C\n" + s.resolveDevice() +
		"echo \"device=$(readlink -f \"$d\")\"\n" +
		"echo \"uuids=$(lvs --noheadings -o vg_uuid,lv_uuid " + resource.Q(s.LVM.VGName+"/"+s.Name) + " | tr -d ' -' )\"\n" +
		"echo \"size=$(blockdev --getsize64 \"$d\")\"\n"
}

func parseLVMInfo(s Spec, out []byte) (Info, error) {
	kv := infoFields(out)
	dev, uuids := kv["device"], kv["uuids"]
	// Two LVM UUIDs of 32 characters without their dashes.
	if dev == "" || len(uuids) != 64 {
		return Info{}, fmt.Errorf("volume %s: logical volume %s/%s: device %q, UUIDs %q", s.Name, s.LVM.VGName, s.Name, dev, uuids)
	}
	size, err := strconv.ParseInt(kv["size"], 10, 64)
	if err != nil || size <= 0 {
		return Info{}, fmt.Errorf("volume %s: size of %s: %q is not a size", s.Name, dev, kv["size"])
	}
	return Info{Path: "/dev/disk/by-id/dm-uuid-LVM-" + uuids, SizeBytes: size, DeviceName: path.Base(dev)}, nil
}
