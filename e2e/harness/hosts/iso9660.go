package hosts

import (
	"context"
	"fmt"
	"strings"
)

// iso9660Script makes `mount -t iso9660` work on a namespace host whose kernel has no
// iso9660 driver (this machine's kernel has neither the filesystem nor modules): in the
// host's private mount namespace, /usr/sbin gets an overlay holding a mount.iso9660
// helper, which mount(8) calls with the loop device it has set up for the ISO file, and
// which serves that device with fuseiso (FUSE). The ISO, the loop device and its backing
// file, the mount table, findmnt and umount are the kernel's; only the filesystem
// driver is FUSE (findmnt reports fuse.iso9660). Where the kernel can mount iso9660, it
// changes nothing.
const iso9660Script = `set -e
if grep -qw iso9660 /proc/filesystems || modprobe -q isofs 2>/dev/null; then echo kernel; exit 0; fi
[ ! -x /usr/sbin/mount.iso9660 ] || { echo fuse; exit 0; }
command -v fuseiso >/dev/null || { echo "the kernel has no iso9660 and fuseiso is not installed (hack/install-deps.sh installs it)" >&2; exit 1; }
d=/run/mk8s-lab-iso9660
mkdir -p $d/upper $d/work
cat > $d/upper/mount.iso9660 <<'MK8S_EOF'
#!/bin/sh
# mount.iso9660 SOURCE DIR [-o OPTIONS]: SOURCE is the loop device mount(8) set up.
exec fuseiso -n "$1" "$2" -o "fsname=$1,ro,allow_other,subtype=iso9660"
MK8S_EOF
chmod 755 $d/upper/mount.iso9660
mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=$d/upper,workdir=$d/work /usr/sbin
echo fuse
`

// ISO9660 lets a namespace host mount ISO images with `mount -t iso9660` (see
// iso9660Script) and says how: "kernel" or "fuse". It lasts until the host stops.
func (l *Lab) ISO9660(ctx context.Context, h *Host) (string, error) {
	if h.Nspawn {
		return "", fmt.Errorf("%s: nspawn hosts have no loop devices", h.Name)
	}
	out, err := l.Run(ctx, h, iso9660Script)
	if err != nil {
		return "", fmt.Errorf("%s: iso9660 mounts: %w", h.Name, err)
	}
	return strings.TrimSpace(out), nil
}
