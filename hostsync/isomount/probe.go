package isomount

import (
	"fmt"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

func q(s string) string { return resource.Q(s) }

// fail is a shell command that prints msg on stderr and exits 1.
func fail(msg string) string { return "{ echo " + q(msg) + " >&2; exit 1; }" }

func failed(msg string) resource.Step { return resource.Step{Action: change.Failed, Message: msg} }

// mountsOf prints `mnt=<backing file>` for each mount at mp (the file behind its loop
// device; empty for a mount that is not on a loop device), innermost first. The kernel is
// asked when the script runs: no device number from a plan is ever trusted.
func mountsOf(mp string) string {
	return fmt.Sprintf(`findmnt -n -r -o SOURCE -M %s | while read -r src; do b=; case $src in /dev/loop*) b=$(cat "/sys/block/${src#/dev/}/loop/backing_file");; esac; printf 'mnt=%%s\n' "$b"; done`, q(mp))
}

// probe prints what Mount and Release decide from: every mount at the mountpoint
// (`mount=<source>|<fstype>|<backing file>`), what the mountpoint is (`dir=absent`,
// `empty`, `full`, `link` or `other`), `iso=1` when the archive is a file on the node,
// the archive's real path (`real=<path>`: the kernel names a loop device's file by it,
// symbolic links resolved), and the fstab entries of the mountpoint (`fstab=<line>`).
func probe(id, iso string) string {
	mp := q(Mountpoint(id))
	return fmt.Sprintf(`findmnt -n -r -o SOURCE,FSTYPE -M %[1]s | while read -r src fs; do
  b=; case $src in /dev/loop*) b=$(cat "/sys/block/${src#/dev/}/loop/backing_file");; esac
  printf 'mount=%%s|%%s|%%s\n' "$src" "$fs" "$b"
done
if [ -L %[1]s ]; then echo dir=link
elif [ -d %[1]s ]; then if [ -z "$(ls -A %[1]s)" ]; then echo dir=empty; else echo dir=full; fi
elif [ -e %[1]s ]; then echo dir=other
else echo dir=absent; fi
[ -f %[2]s ] && echo iso=1
printf 'real=%%s\n' "$(readlink -f -- %[2]s 2>/dev/null)"
%[3]s`, mp, q(iso), entriesFor(Mountpoint(id), "fstab=", false))
}

// mounted is one mount at a mountpoint.
type mounted struct{ source, fstype, backing string }

type facts struct {
	mounts []mounted
	dir    string
	iso    bool
	// real is the archive's path with its symbolic links resolved, when it exists.
	real  string
	fstab []entry
}

func parse(raw string) facts {
	f := facts{dir: "absent"}
	for _, l := range strings.Split(raw, "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "mount":
			p := strings.SplitN(v, "|", 3)
			for len(p) < 3 {
				p = append(p, "")
			}
			f.mounts = append(f.mounts, mounted{source: p[0], fstype: p[1], backing: p[2]})
		case "dir":
			f.dir = v
		case "iso":
			f.iso = v == "1"
		case "real":
			f.real = v
		case "fstab":
			f.fstab = append(f.fstab, parseEntry(v))
		}
	}
	return f
}

// split returns mk8s' fstab entries and the others.
func (f facts) split() (marked, foreign []entry) {
	for _, e := range f.fstab {
		if e.marked {
			marked = append(marked, e)
		} else {
			foreign = append(foreign, e)
		}
	}
	return marked, foreign
}

// owned splits the mounts into mk8s' (the loop device of iso, by the path given or its
// real path, or of the device of one of mk8s' entries: an archive moved or replaced
// since it was mounted) and the others.
func (f facts) owned(iso string, marked []entry) (ours, others []mounted) {
	files := []string{iso}
	if f.real != "" {
		files = append(files, f.real)
	}
	for _, e := range marked {
		files = append(files, e.device)
	}
	for _, m := range f.mounts {
		b := strings.TrimSuffix(m.backing, " (deleted)")
		if m.backing != "" && slices.Contains(files, b) {
			ours = append(ours, m)
		} else {
			others = append(others, m)
		}
	}
	return ours, others
}

// describe names mounts for a refusal: source, type, and the file of a loop device.
func describe(ms []mounted) string {
	var out []string
	for _, m := range ms {
		d := m.source + " (" + m.fstype
		if m.backing != "" {
			d += ", a loop device of " + m.backing
		}
		out = append(out, d+")")
	}
	return strings.Join(out, " and ")
}

// isFile reports whether a loop device's backing file is the archive iso: its path as
// given, or its real path. A file replaced or deleted since is " (deleted)", and is not.
func (f facts) isFile(backing, iso string) bool {
	return backing == iso || f.real != "" && backing == f.real
}
