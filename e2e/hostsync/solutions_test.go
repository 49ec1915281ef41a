package hostsynce2e_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// registryTemplate is a registry-config.inc as static-container-registry writes it with
// --name-prefix '{{ repository }}' --server-root '{{ registry_root }}', for one image.
const registryTemplate = `
location = /v2/{{ repository }}/example-operator/tags/list {
    types { } default_type "application/json";
    return 200 '{"name": "example-operator", "tags": ["%[1]s"]}';
}

location = "/v2/{{ repository }}/example-operator/manifests/%[1]s" {
    alias {{ registry_root }}/example-operator/%[1]s/;
    try_files manifest.json =404;
}
`

// solutionISO builds a real Solution ISO with xorriso (Rock Ridge and Joliet, volume id
// "<name> <version>") and returns its path on the machine.
func solutionISO(t *testing.T, name, version string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]string{
		"manifest.yaml": fmt.Sprintf("apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Solution\nmetadata:\n  name: %s\nspec:\n  version: %s\n", name, version),
		"images/example-operator/" + version + "/manifest.json": `{"schemaVersion": 2}` + "\n",
		"registry-config.inc": fmt.Sprintf(registryTemplate, version),
	}
	for p, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(t.TempDir(), name+"-"+version+".iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", name+" "+version, "-o", iso, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	return iso
}

// upload copies a file of the machine to a path on the host, over SSH.
func upload(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, local, remote string) {
	t.Helper()
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("mkdir -p '%s'\nbase64 -d > '%s' <<'EOF'\n%s\nEOF\n", filepath.Dir(remote), remote, base64.StdEncoding.EncodeToString(b))
	if _, err := l.Run(ctx, h, script); err != nil {
		t.Fatal(err)
	}
}

// solutionLab starts one bootstrap host able to mount ISOs, with the archives of
// example 1.0.0 and 2.0.0 on it, and returns the archives as the reconciler opened
// them (their Path is where they are on the bootstrap node).
func solutionLab(t *testing.T, ctx context.Context) (*hosts.Lab, *hosts.Host, map[string]*solution.Archive) {
	t.Helper()
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	how, err := l.ISO9660(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("iso9660 mounts on the host: %s", how)
	archives := map[string]*solution.Archive{}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		local := solutionISO(t, "example", v)
		remote := "/var/lib/mk8s-e2e/solutions/example-" + v + ".iso"
		upload(t, ctx, l, h, local, remote)
		archives[remote] = &solution.Archive{Path: remote, Name: "example", Version: v, VolumeID: "example " + v,
			Images: []string{"example-operator:" + v}, RegistryConfig: []byte(fmt.Sprintf(registryTemplate, v))}
	}
	return l, h, archives
}

func openFrom(archives map[string]*solution.Archive) solution.OpenFunc {
	return func(_ context.Context, path string) (*solution.Archive, error) {
		a, ok := archives[path]
		if !ok {
			return nil, fmt.Errorf("no such archive")
		}
		return a, nil
	}
}

// solutionSite is a one-node site (the bootstrap node) importing archives.
func solutionSite(l *hosts.Lab, h *hosts.Host, archives ...string) *schema.Site {
	site := labSite(l, nodeOf(l, "bootstrap", h, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster))
	fields := map[string]int{"archives": 4}
	for i := range archives {
		fields[fmt.Sprintf("archives[%d]", i)] = 5 + i
	}
	site.Solutions = &schema.SolutionsConfig{Source: schema.Source{File: "solutions.yaml", Line: 1, Fields: fields},
		APIVersion: schema.APIVersionSolutions, Archives: archives, Active: map[string]string{}}
	return site
}

// mountsAt returns `source|fstype|options|backing file` per mount at mp on the host.
func mountsAt(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, mp string) []string {
	t.Helper()
	out, err := l.Run(ctx, h, `findmnt -n -r -o SOURCE,FSTYPE,OPTIONS -M '`+mp+`' | while read -r s f o; do
  b=; case $s in /dev/loop*) b=$(cat /sys/block/${s#/dev/}/loop/backing_file);; esac
  echo "$s|$f|$o|$b"; done`)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// assertISOMounted checks that mp is one read-only iso9660 mount of the loop device of
// iso, whose files are the archive's.
func assertISOMounted(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, mp, iso, version string) {
	t.Helper()
	ms := mountsAt(t, ctx, l, h, mp)
	if len(ms) != 1 {
		t.Fatalf("%s: mounts %v, want one", mp, ms)
	}
	f := strings.SplitN(ms[0], "|", 4)
	if !strings.HasPrefix(f[0], "/dev/loop") || f[3] != iso || (f[1] != "iso9660" && f[1] != "fuse.iso9660") ||
		!strings.HasPrefix(f[2], "ro,") {
		t.Errorf("%s: mount %s, want a read-only iso9660 loop mount of %s", mp, ms[0], iso)
	}
	got, err := l.Run(ctx, h, "cat '"+mp+"/images/example-operator/"+version+"/manifest.json' '"+mp+"/manifest.yaml'")
	if err != nil || !strings.Contains(got, "version: "+version) {
		t.Errorf("%s: reading the archive's files: %v: %s", mp, err, got)
	}
}

func fstab(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host) string {
	t.Helper()
	out, err := l.Run(ctx, h, "cat /etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func subjects(s change.Set) []string {
	var out []string
	for _, e := range s {
		out = append(out, e.Subject+" "+string(e.Action))
	}
	return out
}

// Import two archives on the bootstrap node: both mounted read-only at
// /srv/scality/<id> and persisted in fstab with mk8s' mark, their registry includes
// rendered, the repositories pod mounting both; everything in the plan first; a second
// plan is a no-op. Removing one from the site releases it (include, mount, fstab entry,
// mountpoint) and restarts the repositories pod, keeping the other archive, the
// platform archive's mount and a foreign mount under /srv/scality.
func TestSolutionImportAndRemoval(t *testing.T) {
	ctx := testCtx(t)
	l, h, archives := solutionLab(t, ctx)
	const (
		iso1, iso2 = "/var/lib/mk8s-e2e/solutions/example-1.0.0.iso", "/var/lib/mk8s-e2e/solutions/example-2.0.0.iso"
		mp1, mp2   = "/srv/scality/example-1.0.0", "/srv/scality/example-2.0.0"
		platform   = "/srv/scality/metalk8s-2.10.0"
		foreign    = "/srv/scality/foreign"
	)
	// What mk8s did not create: the platform ISO mounted and persisted as MetalK8s does
	// it, and a tmpfs under /srv/scality.
	upload(t, ctx, l, h, solutionISO(t, "metalk8s", "2.10.0"), "/var/lib/mk8s-e2e/metalk8s-2.10.0.iso")
	if _, err := l.Run(ctx, h, `set -e
mkdir -p `+platform+` `+foreign+`
mount -t iso9660 -o ro /var/lib/mk8s-e2e/metalk8s-2.10.0.iso `+platform+`
echo '/var/lib/mk8s-e2e/metalk8s-2.10.0.iso `+platform+` iso9660 ro,nofail 0 0' >> /etc/fstab
mount -t tmpfs -o size=1m tmpfs `+foreign+`
echo kept > `+foreign+`/file`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Run(context.Background(), h, "umount "+platform+" "+mp1+" "+mp2+" 2>/dev/null; true") })
	fstab0 := fstab(t, ctx, l, h)

	po := planOpts(l)
	po.OpenArchive = openFrom(archives)
	site := solutionSite(l, h, iso1, iso2)

	// The plan shows every step, and changes nothing.
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	planned := p.Entries()
	for _, want := range []string{
		"ISOMount " + mp1 + " created", "ISOMount " + mp2 + " created",
		"File " + roles.SolutionInclude("example-1.0.0") + " created", "File " + roles.SolutionInclude("example-2.0.0") + " created",
		"StaticPod /etc/kubernetes/manifests/repositories.yaml created",
	} {
		if !containsEntry(planned, want) {
			t.Errorf("plan lacks %q:\n%v", want, subjects(planned))
		}
	}
	e := entryOf(t, planned, "ISOMount "+mp1)
	if !strings.Contains(e.Message, "iso9660, read-only, from "+iso1) ||
		!strings.Contains(e.Diff, "+"+iso1+" "+mp1+" iso9660 ro,nofail,x-mk8s.solution 0 0") {
		t.Errorf("plan of %s: %q\n%s", mp1, e.Message, e.Diff)
	}
	if ms := mountsAt(t, ctx, l, h, mp1); len(ms) != 0 || fstab(t, ctx, l, h) != fstab0 {
		t.Fatalf("the plan changed the host: mounts %v", ms)
	}

	res, err := hostsync.Apply(ctx, p, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v\n%v", err, res)
	}
	assertISOMounted(t, ctx, l, h, mp1, iso1, "1.0.0")
	assertISOMounted(t, ctx, l, h, mp2, iso2, "2.0.0")
	tab := fstab(t, ctx, l, h)
	for _, line := range []string{
		iso1 + " " + mp1 + " iso9660 ro,nofail,x-mk8s.solution 0 0",
		iso2 + " " + mp2 + " iso9660 ro,nofail,x-mk8s.solution 0 0",
	} {
		if !strings.Contains(tab, "\n"+line+"\n") {
			t.Errorf("/etc/fstab lacks %q:\n%s", line, tab)
		}
	}
	if !strings.HasPrefix(tab, fstab0) {
		t.Errorf("/etc/fstab: what was there changed:\n%s", tab)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		inc := roles.SolutionInclude("example-" + v)
		got, err := h.ReadFile(inc)
		if err != nil {
			t.Fatal(err)
		}
		want := roles.Header("2.10.0") + string(archives["/var/lib/mk8s-e2e/solutions/example-"+v+".iso"].RegistryInclude())
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant\n%s", inc, got, want)
		}
		if !strings.Contains(string(got), "alias /srv/scality/example-"+v+"/images/example-operator/"+v+"/;") ||
			!strings.Contains(string(got), "location = /v2/example-"+v+"/example-operator/tags/list {") {
			t.Errorf("%s is not rendered for its mountpoint and repository:\n%s", inc, got)
		}
		if st := statAll(t, ctx, l, h, []string{inc})[inc]; !strings.HasPrefix(st, "644|root:root|") {
			t.Errorf("%s: %s, want 644 root:root", inc, st)
		}
	}
	manifest, err := h.ReadFile("/etc/kubernetes/manifests/repositories.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range []string{mp1, mp2} {
		if !strings.Contains(string(manifest), "mountPath: "+mp+", readOnly: true}") ||
			!strings.Contains(string(manifest), "hostPath: {path: "+mp+", type: Directory}}") {
			t.Errorf("repositories.yaml does not mount %s read-only:\n%s", mp, manifest)
		}
	}

	// A second plan is a no-op.
	p2, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	if c := changed(p2.Entries()); len(c) != 0 {
		t.Fatalf("second plan changes %v", c)
	}

	// Archive 1.0.0 leaves solutions.yaml.
	site = solutionSite(l, h, iso2)
	p3, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p3.Close() })
	got := subjects(changed(p3.Entries()))
	want := []string{
		"StaticPod /etc/kubernetes/manifests/repositories.yaml configured",
		"File " + roles.SolutionInclude("example-1.0.0") + " deleted",
		"ISOMount " + mp1 + " deleted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan after removing archive 1.0.0:\n got %v\nwant %v", got, want)
	}
	if e := entryOf(t, p3.Entries(), "ISOMount "+mp1); e.Message != "unmounted "+iso1+", its /etc/fstab entry removed" ||
		!strings.Contains(e.Diff, "-"+iso1+" "+mp1+" iso9660 ro,nofail,x-mk8s.solution 0 0") {
		t.Errorf("release of %s: %q\n%s", mp1, e.Message, e.Diff)
	}
	if res, err := hostsync.Apply(ctx, p3, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v\n%v", err, res)
	}
	if ms := mountsAt(t, ctx, l, h, mp1); len(ms) != 0 {
		t.Errorf("%s still mounted: %v", mp1, ms)
	}
	if out, err := l.Run(ctx, h, "ls -d "+mp1+" "+roles.SolutionInclude("example-1.0.0")+" 2>&1; true"); !strings.Contains(out, "No such file") || strings.Count(out, "No such file") != 2 || err != nil {
		t.Errorf("the mountpoint and the include of 1.0.0 are still there: %s", out)
	}
	assertISOMounted(t, ctx, l, h, mp2, iso2, "2.0.0")
	tab = fstab(t, ctx, l, h)
	if tab != fstab0+iso2+" "+mp2+" iso9660 ro,nofail,x-mk8s.solution 0 0\n" {
		t.Errorf("/etc/fstab after the release:\n%s", tab)
	}
	if ms := mountsAt(t, ctx, l, h, platform); len(ms) != 1 || !strings.HasSuffix(ms[0], "|/var/lib/mk8s-e2e/metalk8s-2.10.0.iso") {
		t.Errorf("the platform archive's mount changed: %v", ms)
	}
	if out, err := l.Run(ctx, h, "findmnt -n -o FSTYPE -M "+foreign+" && cat "+foreign+"/file"); err != nil || out != "tmpfs\nkept\n" {
		t.Errorf("the foreign mount under /srv/scality changed: %v %q", err, out)
	}
	after, err := h.ReadFile("/etc/kubernetes/manifests/repositories.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(after), mp1) || !strings.Contains(string(after), mp2) || digestOf(after) == digestOf(manifest) {
		t.Errorf("repositories.yaml after the release (digest %s -> %s):\n%s", digestOf(manifest), digestOf(after), after)
	}
	p4, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p4.Close() })
	if c := changed(p4.Entries()); len(c) != 0 {
		t.Fatalf("plan after the release changes %v", c)
	}
}

func containsEntry(s change.Set, subjectAction string) bool {
	for _, e := range s {
		if e.Subject+" "+string(e.Action) == subjectAction {
			return true
		}
	}
	return false
}

// digestOf is the config digest annotation of a static pod manifest.
func digestOf(manifest []byte) string {
	for _, l := range strings.Split(string(manifest), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "metalk8s.scality.com/config-digest: "); ok {
			return v
		}
	}
	return ""
}

// A mountpoint already in use is refused, with nothing changed on the host: first a
// foreign tmpfs there, then another ISO (the same path, mounted from another archive).
func TestSolutionImportRefusesAnOccupiedMountpoint(t *testing.T) {
	ctx := testCtx(t)
	l, h, archives := solutionLab(t, ctx)
	const (
		iso1, iso2 = "/var/lib/mk8s-e2e/solutions/example-1.0.0.iso", "/var/lib/mk8s-e2e/solutions/example-2.0.0.iso"
		mp1, mp2   = "/srv/scality/example-1.0.0", "/srv/scality/example-2.0.0"
	)
	t.Cleanup(func() { l.Run(context.Background(), h, "umount "+mp1+" "+mp2+" 2>/dev/null; true") })
	po := planOpts(l)
	po.OpenArchive = openFrom(archives)
	site := solutionSite(l, h, iso1, iso2)
	for _, c := range []struct{ name, occupy, refusal string }{
		{"tmpfs", "mount -t tmpfs -o size=1m tmpfs " + mp1,
			mp1 + " is already mounted from tmpfs (tmpfs), not from archive " + iso1 + "; refusing to mount over it"},
		{"another ISO", "umount " + mp1 + " && mount -t iso9660 -o ro " + iso2 + " " + mp1,
			"a loop device of " + iso2 + "), not from archive " + iso1 + "; refusing to mount over it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := l.Run(ctx, h, "mkdir -p "+mp1+" && "+c.occupy); err != nil {
				t.Fatal(err)
			}
			before := upperFiles(t, h)
			tab := fstab(t, ctx, l, h)
			p, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
			var fh *hostsync.FailedHostsError
			if !errors.As(err, &fh) {
				t.Fatalf("apply: %v, want the bootstrap node failed\n%v", err, res)
			}
			e := entryOf(t, p.Entries(), "ISOMount "+mp1)
			if e.Action != change.Failed || !strings.Contains(e.Message, c.refusal) {
				t.Fatalf("plan of %s: %s %q, want failed with %q", mp1, e.Action, e.Message, c.refusal)
			}
			// The host is refused as a whole: the other archive's steps are not attempted.
			if r := entryOf(t, res, "ISOMount "+mp2); r.Action != change.Skipped || !strings.Contains(r.Message, "not attempted") {
				t.Errorf("apply of %s: %v, want skipped", mp2, r)
			}
			if got := newFiles(before, upperFiles(t, h)); len(got) != 0 {
				t.Errorf("files written despite the refusal: %v", got)
			}
			if fstab(t, ctx, l, h) != tab {
				t.Error("/etc/fstab changed despite the refusal")
			}
			if ms := mountsAt(t, ctx, l, h, mp2); len(ms) != 0 {
				t.Errorf("%s mounted despite the refusal: %v", mp2, ms)
			}
			if ms := mountsAt(t, ctx, l, h, mp1); len(ms) != 1 {
				t.Errorf("%s: mounts %v, want the one that was there", mp1, ms)
			}
		})
	}
}

// An archive solutions.yaml names by a path through a symbolic link (a link to the ISO,
// or a directory of the path that is a link): the kernel records the loop device's file
// by its real path, and that mount is still mk8s' own. The second plan is a no-op, and
// removing the archive from the site releases it.
func TestSolutionImportThroughASymlink(t *testing.T) {
	ctx := testCtx(t)
	l, h, archives := solutionLab(t, ctx)
	const (
		real = "/var/lib/mk8s-e2e/solutions/example-1.0.0.iso"
		link = "/var/lib/mk8s-e2e/current/example.iso" // current -> solutions, example.iso -> example-1.0.0.iso
		mp   = "/srv/scality/example-1.0.0"
	)
	if _, err := l.Run(ctx, h, "ln -s solutions /var/lib/mk8s-e2e/current && ln -s example-1.0.0.iso /var/lib/mk8s-e2e/solutions/example.iso"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Run(context.Background(), h, "umount "+mp+" 2>/dev/null; true") })
	a := *archives[real]
	a.Path = link
	po := planOpts(l)
	po.OpenArchive = openFrom(map[string]*solution.Archive{link: &a})

	site := solutionSite(l, h, link)
	if _, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v\n%v", err, res)
	}
	assertISOMounted(t, ctx, l, h, mp, real, "1.0.0")
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if c := changed(p.Entries()); len(c) != 0 {
		t.Fatalf("second plan changes %v", c)
	}

	// The archive leaves the site: released, though the mount names its real path.
	p, res, err := converge(t, ctx, solutionSite(l, h), po, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v\n%v", err, res)
	}
	if e := entryOf(t, p.Entries(), "ISOMount "+mp); e.Action != change.Deleted {
		t.Errorf("release of %s: %s %q", mp, e.Action, e.Message)
	}
	if ms := mountsAt(t, ctx, l, h, mp); len(ms) != 0 {
		t.Errorf("%s still mounted: %v", mp, ms)
	}
	if tab := fstab(t, ctx, l, h); strings.Contains(tab, mp) {
		t.Errorf("/etc/fstab still has %s:\n%s", mp, tab)
	}
}
