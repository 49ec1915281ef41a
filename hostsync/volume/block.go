package volume

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// Partition is a Block volume's GPT partition, spanning the device, whose unique GUID
// is the Volume's UID: the PersistentVolume's path, /dev/disk/by-partuuid/<uid>, then
// names it whatever the kernel calls the device. Only an empty device is partitioned.
type Partition struct{ Spec Spec }

// ID implements resource.Resource.
func (p *Partition) ID() string {
	return fmt.Sprintf("Partition %s (GPT, GUID %s)", p.Spec.Name, p.Spec.UID)
}

// Probe implements resource.Resource: blkid's and partx' view, the partitions the
// kernel shows, and whether a raw device is itself a partition or a device-mapper
// device (an LV), which MetalK8s handles differently (the GUID set in the parent's
// table; the LV as it is).
func (p *Partition) Probe() string {
	probe := blkidProbe(p.Spec)
	if p.Spec.sparse() {
		return probe + "\nk=$(" + loopsOf(p.Spec.SparsePath()) + " | head -n1)\n" + kernelPartsProbe
	}
	return probe + fmt.Sprintf("\nb=$(basename \"$(readlink -f %[1]s)\")\n[ -e /sys/class/block/\"$b\"/partition ] && echo kind=partition\n[ -e /sys/class/block/\"$b\"/dm ] && echo kind=dm\nk=%[1]s\n%[2]s",
		resource.Q(p.Spec.DevicePath), kernelPartsProbe)
}

// kernelPartsProbe prints `kernel=1` when "$k" is a block device, and `kpart=<number>`
// per partition the kernel shows of it (sysfs, which needs no udev).
const kernelPartsProbe = `if [ -n "$k" ] && [ -b "$k" ]; then echo kernel=1; b=$(basename "$(readlink -f "$k")"); for q in /sys/class/block/"$b"/*/partition; do [ -e "$q" ] && echo "kpart=$(cat "$q")"; done; fi; true`

// Decide implements resource.Resource.
func (p *Partition) Decide(facts string, _ *resource.Context) resource.Step {
	s := p.Spec
	pr := parseProbe(facts)
	switch {
	case pr.notBlock:
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s is not a block device", s.Name, s.DevicePath)}
	case pr.absent && !s.sparse():
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: device %s does not exist", s.Name, s.DevicePath)}
	case pr.kind != "":
		return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s is a %s device; Block mode on it: %v", s.Name, s.DevicePath, pr.kind, ErrNotSupported)}
	case pr.ours(s) && pr.kernel && pr.kparts[pr.parts[s.UID]]:
		return resource.Step{Action: change.Unchanged}
	case pr.ours(s):
		// The table is there, the kernel does not show the partition: a loop device
		// attached again after a reboot, on a kernel that does not read the table itself.
		// The PersistentVolume's by-partuuid path is that partition.
		return resource.Step{Action: change.Configured, Message: "partition " + pr.parts[s.UID] + " shown to the kernel (partx -a)", Script: p.showScript()}
	case pr.absent || pr.empty():
		return resource.Step{Action: change.Created, Message: "sgdisk --new=1:0:0 on " + s.deviceName(pr), Script: p.script()}
	}
	what := pr.describe()
	if pr.tags["PTTYPE"] == "gpt" {
		var parts []string
		for u, nr := range pr.parts {
			parts = append(parts, nr+" ("+u+")")
		}
		what += " with partitions " + strings.Join(parts, ", ")
	}
	return resource.Step{Action: change.Failed, Message: fmt.Sprintf("volume %s: %s holds %s, not the Volume's partition (GUID %s); refusing to partition it",
		s.Name, s.deviceName(pr), what, s.UID)}
}

// script partitions the device resolved when it runs, after checking again that it is
// empty, then has the kernel add the partition (there may be no udev to do it).
func (p *Partition) script() string {
	s := p.Spec
	return s.resolveDevice() +
		"rc=0; blkid -p \"$d\" >/dev/null 2>&1 || rc=$?\n" +
		"[ \"$rc\" = 2 ] || { echo " + resource.Q("volume "+s.Name+": ") + "\"$d is no longer empty (blkid exit $rc)\"" + resource.Q("; not partitioning it") + " >&2; exit 1; }\n" +
		runOnDevice(s.Name, "sgdisk", "sgdisk --new=1:0:0 --partition-guid=1:"+s.UID+" \"$d\"") +
		"partx -a \"$d\" 2>/dev/null || partx -u \"$d\"\n"
}

// showScript has the kernel add the Volume's partition of the device resolved when it
// runs, unless it shows it already.
func (p *Partition) showScript() string {
	s := p.Spec
	return s.resolveDevice() +
		"nr=$(partx -g -o NR,UUID \"$d\" | awk -v u=" + resource.Q(s.UID) + " '$2 == u { print $1 }')\n" +
		"[ -n \"$nr\" ] || " + fail(fmt.Sprintf("volume %s: no partition with GUID %s", s.Name, s.UID)) + "\n" +
		"b=$(basename \"$(readlink -f \"$d\")\")\n" +
		"cat /sys/class/block/\"$b\"/*/partition 2>/dev/null | grep -qx \"$nr\" || partx -a \"$d\" 2>/dev/null || partx -u \"$d\"\n"
}

// blockInfoScript prints the partition whose GUID is the Volume's UID: its number and
// kernel name (read from sysfs, which needs no udev) and its size.
func blockInfoScript(s Spec) string {
	return "export LC_ALL=C\n" + s.resolveDevice() +
		"nr=$(partx -g -o NR,UUID \"$d\" | awk -v u=" + resource.Q(s.UID) + " '$2 == u { print $1 }')\n" +
		"[ -n \"$nr\" ] || " + fail(fmt.Sprintf("volume %s: no partition with GUID %s", s.Name, s.UID)) + "\n" +
		"b=$(basename \"$(readlink -f \"$d\")\")\n" +
		"for q in /sys/class/block/\"$b\"/*/partition; do [ \"$(cat \"$q\")\" = \"$nr\" ] && echo \"device=/dev/$(basename \"$(dirname \"$q\")\")\"; done\n" +
		"for q in /sys/class/block/\"$b\"/*/partition; do [ \"$(cat \"$q\")\" = \"$nr\" ] && echo \"size=$(( $(cat \"$(dirname \"$q\")/size\") * 512 ))\"; done\n"
}

func parseBlockInfo(s Spec, out []byte) (Info, error) {
	kv := infoFields(out)
	dev := kv["device"]
	if dev == "" {
		return Info{}, fmt.Errorf("volume %s: the kernel has no partition with GUID %s", s.Name, s.UID)
	}
	size, err := strconv.ParseInt(kv["size"], 10, 64)
	if err != nil || size <= 0 {
		return Info{}, fmt.Errorf("volume %s: size of %s: %q is not a size", s.Name, dev, kv["size"])
	}
	return Info{Path: "/dev/disk/by-partuuid/" + s.UID, SizeBytes: size, DeviceName: path.Base(dev)}, nil
}
