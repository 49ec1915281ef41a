package isomount

import (
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
)

const (
	iso  = "/srv/iso/example 1.0.0.iso" // a space: escaped in fstab
	line = `/srv/iso/example\0401.0.0.iso /srv/scality/example-1.0.0 iso9660 ro,nofail,x-mk8s.solution 0 0`
)

func ctx() *resource.Context {
	return &resource.Context{Desired: map[string]string{}, Changed: map[string]bool{}, Applied: map[string]string{},
		Stat: map[string]string{}, Sum: map[string]string{}}
}

func TestEscapeRoundTrips(t *testing.T) {
	for _, s := range []string{"/a b/c\td\\e", "/plain"} {
		if got := unescape(escape(s)); got != s {
			t.Errorf("unescape(escape(%q)) = %q", s, got)
		}
	}
	if got := fstabLine("example-1.0.0", iso); got != line {
		t.Errorf("fstabLine = %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct{ id, iso, err string }{
		{"example-1.0.0", "/srv/x.iso", ""},
		{"example-1.0.0+build.1", "/srv/x.iso", ""},
		{"metalk8s-2.10.0", "/srv/x.iso", "is the platform archive's mountpoint"},
		{"../etc", "/srv/x.iso", "is not a name-version"},
		{"a b", "/srv/x.iso", "is not a name-version"},
		{"example-1.0.0", "srv/x.iso", "not an absolute, clean path"},
		{"example-1.0.0", "/srv/../x.iso", "not an absolute, clean path"},
		{"example-1.0.0", "/srv/x\n.iso", "control character"},
	} {
		err := Validate(c.id, c.iso)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("Validate(%q, %q) = %v, want %q", c.id, c.iso, err, c.err)
		}
	}
}

func TestMountDecide(t *testing.T) {
	m := &Mount{Archive: "example-1.0.0", ISO: iso}
	ours := "mount=/dev/loop3|iso9660|" + iso + "\n"
	for _, c := range []struct {
		name, facts string
		action      change.Action
		msg         string // part of the message
		script      []string
	}{
		{"fresh", "dir=absent\niso=1", change.Created, "iso9660, read-only, from " + iso + ", persisted in /etc/fstab",
			[]string{"printf '%s\\n' '" + line + "'", "mkdir -p /srv/scality/example-1.0.0", "mount -t iso9660 -o ro '" + iso + "' /srv/scality/example-1.0.0"}},
		{"converged", ours + "dir=full\niso=1\nfstab=" + line, change.Unchanged, "", nil},
		{"mounted, not persisted", ours + "dir=full\niso=1", change.Configured, "persisted in /etc/fstab", []string{"mv -f"}},
		{"persisted, not mounted (a failed mount, a reboot without the file)", "dir=empty\niso=1\nfstab=" + line, change.Configured,
			"iso9660, read-only", []string{"mount -t iso9660"}},
		{"persisted by MetalK8s' Salt: kept as is", ours + "dir=full\niso=1\nfstab=/srv/iso/example\\0401.0.0.iso /srv/scality/example-1.0.0 iso9660 ro,nofail 0 0",
			change.Unchanged, "", nil},
		{"file replaced since mounted", "mount=/dev/loop3|iso9660|" + iso + " (deleted)\ndir=full\niso=1\nfstab=" + line, change.Configured,
			"mounted again from " + iso + ": " + iso + " was replaced since it was mounted", []string{"umount /srv/scality/example-1.0.0", "mount -t iso9660"}},
		{"archive moved", "mount=/dev/loop3|iso9660|/old/example.iso\ndir=full\niso=1\nfstab=/old/example.iso /srv/scality/example-1.0.0 iso9660 ro,nofail,x-mk8s.solution 0 0",
			change.Configured, "the mounted file is /old/example.iso", []string{"umount", "mount -t iso9660"}},
		{"foreign mount", "mount=tmpfs|tmpfs|\ndir=full\niso=1", change.Failed,
			"/srv/scality/example-1.0.0 is already mounted from tmpfs (tmpfs), not from archive " + iso + "; refusing to mount over it", nil},
		{"another ISO", "mount=/dev/loop4|iso9660|/srv/iso/other.iso\ndir=full\niso=1", change.Failed,
			"already mounted from /dev/loop4 (iso9660, a loop device of /srv/iso/other.iso), not from archive", nil},
		{"files in the mountpoint", "dir=full\niso=1", change.Failed, "is not a mountpoint and holds files; refusing to mount archive", nil},
		{"not a directory", "dir=other\niso=1", change.Failed, "is not a directory", nil},
		{"archive missing on the node", "dir=absent", change.Failed, "is not a file on the node", nil},
		{"foreign fstab entry", "dir=empty\niso=1\nfstab=/dev/sdb1 /srv/scality/example-1.0.0 xfs defaults 0 0", change.Failed,
			"/etc/fstab already mounts /dev/sdb1 (xfs) at /srv/scality/example-1.0.0; refusing", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := m.Decide(c.facts, ctx())
			if s.Action != c.action || !strings.Contains(s.Message, c.msg) {
				t.Fatalf("Decide = %s %q, want %s %q", s.Action, s.Message, c.action, c.msg)
			}
			if (s.Script == "") != (len(c.script) == 0) {
				t.Fatalf("script %q", s.Script)
			}
			for _, w := range c.script {
				if !strings.Contains(s.Script, w) {
					t.Errorf("script lacks %q:\n%s", w, s.Script)
				}
			}
		})
	}
}

func TestReleaseDecide(t *testing.T) {
	r := &Release{Archive: "example-1.0.0", ISO: iso}
	s := r.Decide("mount=/dev/loop3|iso9660|"+iso+"\ndir=full\nfstab="+line, ctx())
	if s.Action != change.Deleted || s.Message != "unmounted "+iso+", its /etc/fstab entry removed" ||
		!strings.Contains(s.Script, "umount /srv/scality/example-1.0.0") || !strings.Contains(s.Script, "rmdir /srv/scality/example-1.0.0") ||
		!strings.Contains(s.Diff, "-"+line) {
		t.Fatalf("release: %s %q\n%s\n%s", s.Action, s.Message, s.Diff, s.Script)
	}
	if s := r.Decide("dir=absent", ctx()); s.Action != change.Unchanged {
		t.Fatalf("released already: %s %q", s.Action, s.Message)
	}
	s = r.Decide("mount=tmpfs|tmpfs|\ndir=full\nfstab="+line, ctx())
	if s.Action != change.Failed || !strings.Contains(s.Message, "refusing to release archive "+iso+": /srv/scality/example-1.0.0 is mounted from tmpfs (tmpfs)") {
		t.Fatalf("foreign mount: %s %q", s.Action, s.Message)
	}
}

func TestRemoveFileOnlyWhatMk8sWrote(t *testing.T) {
	const p = "/var/lib/metalk8s/repositories/conf.d/example-1.0.0-registry-config.inc"
	r := &RemoveFile{Path: p, Why: "no longer imported"}
	c := ctx()
	if s := r.Decide("", c); s.Action != change.Unchanged {
		t.Fatalf("absent: %v", s.Action)
	}
	c.Stat[p], c.Sum[p] = "regular file|644|root|root", strings.Repeat("a", 64)
	if s := r.Decide("", c); s.Action != change.Skipped || len(c.Changed) != 0 {
		t.Fatalf("not in the record: %s %q", s.Action, s.Message)
	}
	c.Applied[p] = strings.Repeat("b", 64) // written by mk8s, edited since: still mk8s'
	s := r.Decide("", c)
	if s.Action != change.Deleted || !c.Changed[p] || !strings.Contains(s.Script, "rm -f "+p) || !strings.Contains(s.Script, strings.Repeat("a", 64)) {
		t.Fatalf("recorded: %s %q %v\n%s", s.Action, s.Message, c.Changed, s.Script)
	}
}

func TestParseImported(t *testing.T) {
	out := line + "\n" + // parsed from the awk output: device and mountpoint only
		"/srv/iso/b.iso /srv/scality/b-2.0\n" +
		"/srv/iso/p.iso /srv/scality/metalk8s-2.10.0\n" + // the platform's: never mk8s' to release
		"/srv/iso/x.iso /mnt/elsewhere\n" +
		"/srv/iso/b2.iso /srv/scality/b-2.0\n"
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			lines = append(lines, f[0]+" "+f[1])
		}
	}
	got := ParseImported([]byte(strings.Join(lines, "\n")))
	want := []Imported{{"b-2.0", "/srv/iso/b.iso"}, {"example-1.0.0", iso}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseImported = %v, want %v", got, want)
	}
}
