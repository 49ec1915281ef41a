package isomount

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Root is where archives are mounted, each at Root/<id>.
const Root = "/srv/scality"

// Mark is the fstab option that says mk8s wrote the entry.
const Mark = "x-mk8s.solution"

// fstabOptions are MetalK8s' (ro,nofail) and the mark.
const fstabOptions = "ro,nofail," + Mark

// FstabPath is the file the mounts are persisted in.
const FstabPath = "/etc/fstab"

// Mountpoint is Root/<id>.
func Mountpoint(id string) string { return Root + "/" + id }

// idRE is what an archive id (<name>-<version>) may hold: a path element no shell,
// fstab field or nginx location misreads.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// platformPrefix starts the platform archive's mountpoint, never a Solution's.
const platformPrefix = "metalk8s-"

// Validate checks what mounting an archive relies on: an id that is a plain path element
// and not the platform archive's, and an ISO path that is absolute, clean and free of
// control characters (it becomes an fstab field).
func Validate(id, iso string) error {
	if !idRE.MatchString(id) || len(id) > 200 {
		return fmt.Errorf("archive id %q is not a name-version made of letters, digits and . _ + -", id)
	}
	if strings.HasPrefix(id, platformPrefix) {
		return fmt.Errorf("archive id %q: %s is the platform archive's mountpoint, never a Solution's", id, Mountpoint(id))
	}
	if !path.IsAbs(iso) || path.Clean(iso) != iso {
		return fmt.Errorf("archive %s: %q is not an absolute, clean path", id, iso)
	}
	if strings.IndexFunc(iso, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("archive %s: path %q holds a control character", id, iso)
	}
	return nil
}

// escape writes a path as an fstab field: space, tab, newline and backslash in octal.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(s)
}

// unescape reads an fstab field: any \ooo octal escape.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// fstabLine is the entry mk8s persists for an archive.
func fstabLine(id, iso string) string {
	return escape(iso) + " " + Mountpoint(id) + " iso9660 " + fstabOptions + " 0 0"
}

// entry is one fstab line for a mountpoint.
type entry struct {
	raw                 string
	device, fstype, opt string
	marked              bool
}

func parseEntry(raw string) entry {
	f := strings.Fields(raw)
	for len(f) < 4 {
		f = append(f, "")
	}
	e := entry{raw: raw, device: unescape(f[0]), fstype: f[2], opt: f[3]}
	for _, o := range strings.Split(f[3], ",") {
		if o == Mark {
			e.marked = true
		}
	}
	return e
}

// entriesFor is an awk program printing, with prefix, the entries of mountpoint mp (an
// fstab field) in /etc/fstab, comments aside; with marked, only mk8s' entries.
func entriesFor(mp, prefix string, marked bool) string {
	cond := `$1 !~ /^#/ && $2 == mp`
	if marked {
		cond += ` && $4 ~ /(^|,)x-mk8s\.solution(,|$)/`
	}
	return fmt.Sprintf("awk -v mp=%s '%s { print %s $0 }' %s 2>/dev/null", q(escape(mp)), cond, awkString(prefix), FstabPath)
}

func awkString(s string) string { return `"` + s + `"` }

// rewriteFstab is a script that replaces /etc/fstab atomically with its content minus
// mk8s' entries for mp, plus add when not empty, keeping its mode and owner.
func rewriteFstab(mp, add string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[ -e %[1]s ] || : > %[1]s\nt=%[1]s.mk8s.$$\ntrap 'rm -f \"$t\"' EXIT\n", FstabPath)
	fmt.Fprintf(&b, "awk -v mp=%s '!($1 !~ /^#/ && $2 == mp && $4 ~ /(^|,)x-mk8s\\.solution(,|$)/)' %s > \"$t\"\n", q(escape(mp)), FstabPath)
	if add != "" {
		fmt.Fprintf(&b, "printf '%%s\\n' %s >> \"$t\"\n", q(add))
	}
	fmt.Fprintf(&b, "chmod --reference=%[1]s \"$t\"\nchown --reference=%[1]s \"$t\"\nsync \"$t\"\nmv -f \"$t\" %[1]s\ntrap - EXIT\nsync %[2]s", FstabPath, path.Dir(FstabPath))
	return b.String()
}
