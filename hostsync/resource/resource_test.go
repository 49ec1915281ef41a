package resource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// localRunner runs scripts with the local /bin/sh, the same way the SSH transport runs
// them remotely (script on stdin of `sh -s`). The SSH path is covered by the e2e tests.
type localRunner struct{}

func (localRunner) Run(ctx context.Context, script []byte) (transport.Result, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-s")
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(script), &out, &errb
	err := cmd.Run()
	res := transport.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		err = nil
	}
	return res, err
}

func owner(t *testing.T) (string, string) {
	out, err := exec.Command("sh", "-c", "id -un; id -gn").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	return f[0], f[1]
}

func converge(t *testing.T, d string, rs []Resource) []Step {
	t.Helper()
	ctx := context.Background()
	steps, _, err := Plan(ctx, localRunner{}, rs, Options{Packages: PackagesProbeOnly, RecordPath: d + "/record"})
	if err != nil {
		t.Fatal(err)
	}
	done, err := Apply(ctx, localRunner{}, steps)
	if err != nil {
		t.Fatalf("apply: %v (%v)", err, done)
	}
	return done
}

func actions(steps []Step) []change.Action {
	var a []change.Action
	for _, s := range steps {
		a = append(a, s.Action)
	}
	return a
}

func TestFileDirSymlinkConvergeThenNoop(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	f := &File{Path: d + "/etc/x.conf", Content: []byte("a=1\nb=2\n"), Mode: 0o600, Owner: u, Group: g}
	rs := []Resource{
		&Directory{Path: d + "/var/lib/kubelet", Mode: 0o750, Owner: u, Group: g},
		f,
		&Symlink{Path: d + "/link", Target: d + "/etc/x.conf"},
	}
	first := converge(t, d, rs)
	if got := actions(first); got[0] != change.Created || got[1] != change.Created || got[2] != change.Created {
		t.Fatalf("first run: %v", first)
	}
	b, _ := os.ReadFile(f.Path)
	fi, _ := os.Stat(f.Path)
	if string(b) != "a=1\nb=2\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %q mode %v", b, fi.Mode())
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	if di, _ := os.Stat(d + "/var/lib/kubelet"); di.Mode().Perm() != 0o750 {
		t.Fatalf("dir mode %v", di.Mode())
	}
	if tg, _ := os.Readlink(d + "/link"); tg != f.Path {
		t.Fatalf("link -> %q", tg)
	}
	second := converge(t, d, rs)
	for _, s := range second {
		if s.Action != change.Unchanged {
			t.Fatalf("second run not a no-op: %+v", s)
		}
	}
	fi2, _ := os.Stat(f.Path)
	if fi2.Sys().(*syscall.Stat_t).Ino != ino || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatal("no-op run rewrote the file")
	}
	// Drift: content edited by hand and mode changed; an unmanaged neighbour stays.
	os.WriteFile(f.Path, []byte("a=1\nb=3\n"), 0o644)
	os.Chmod(f.Path, 0o644)
	os.WriteFile(d+"/etc/other", []byte("mine"), 0o644)
	steps, _, err := Plan(context.Background(), localRunner{}, rs, Options{Packages: PackagesProbeOnly, RecordPath: d + "/record"})
	if err != nil {
		t.Fatal(err)
	}
	if steps[1].Action != change.Configured || !strings.Contains(steps[1].Message, "drift") || !strings.Contains(steps[1].Diff, "-b=3") || !strings.Contains(steps[1].Diff, "+b=2") {
		t.Fatalf("drift step: %+v", steps[1])
	}
	if _, err := Apply(context.Background(), localRunner{}, steps); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(f.Path)
	fi, _ = os.Stat(f.Path)
	if string(b) != "a=1\nb=2\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("not restored: %q %v", b, fi.Mode())
	}
	if o, _ := os.ReadFile(d + "/etc/other"); string(o) != "mine" {
		t.Fatal("unmanaged file touched")
	}
	if m, _ := filepath.Glob(d + "/etc/.mk8s-*"); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

func TestApplyRefusesFileChangedSincePlanAndStops(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	a := &File{Path: d + "/a", Content: []byte("A\n"), Mode: 0o644, Owner: u, Group: g}
	b := &File{Path: d + "/b", Content: []byte("B\n"), Mode: 0o644, Owner: u, Group: g}
	steps, _, err := Plan(context.Background(), localRunner{}, []Resource{a, b}, Options{Packages: PackagesProbeOnly, RecordPath: d + "/record"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.Path, []byte("someone else\n"), 0o644)
	done, err := Apply(context.Background(), localRunner{}, steps)
	if err == nil {
		t.Fatal("apply over a file created after the plan succeeded")
	}
	if done[0].Action != change.Failed || !strings.Contains(done[0].Message, "after the plan") {
		t.Fatalf("step 0: %+v", done[0])
	}
	if done[1].Action != change.Skipped {
		t.Fatalf("step 1: %+v", done[1])
	}
	if got, _ := os.ReadFile(a.Path); string(got) != "someone else\n" {
		t.Fatal("overwritten")
	}
	if _, err := os.Stat(b.Path); err == nil {
		t.Fatal("step after the failure ran")
	}
}

func TestStaticPodDigestFollowsConfigFiles(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	cert := d + "/pki/server.crt" // not managed: live checksum counts
	os.MkdirAll(d+"/pki", 0o755)
	os.WriteFile(cert, []byte("v1"), 0o644)
	cfg := &File{Path: d + "/cfg.yaml", Content: []byte("x: 1\n"), Mode: 0o644, Owner: u, Group: g}
	pod := &StaticPod{File: File{Path: d + "/manifests/etcd.yaml", Mode: 0o600, Owner: u, Group: g,
		Content: []byte("annotations:\n  metalk8s.scality.com/config-digest: " + DigestPlaceholder + "\n")},
		ConfigFiles: []string{d + "/cfg.yaml", cert}}
	rs := []Resource{cfg, pod}
	converge(t, d, rs)
	first, _ := os.ReadFile(pod.Path)
	if want := Digest([]string{SHA256(cfg.Content), SHA256([]byte("v1"))}); !strings.Contains(string(first), want) {
		t.Fatalf("digest: %s, want %s", first, want)
	}
	if s := converge(t, d, rs); s[1].Action != change.Unchanged {
		t.Fatalf("no-op: %+v", s[1])
	}
	os.WriteFile(cert, []byte("v2"), 0o644)
	s := converge(t, d, rs)
	if s[0].Action != change.Unchanged || s[1].Action != change.Configured {
		t.Fatalf("cert change: %+v", s)
	}
}

func TestSysctlPriorityCheck(t *testing.T) {
	s := &Sysctl{Key: "net.ipv4.ip_forward", Value: "1", DropIn: "/etc/sysctl.d/60-metalk8s.conf"}
	c := &Context{Changed: map[string]bool{}}
	st := s.Decide("live|0\n/etc/sysctl.d/99-custom.conf:net.ipv4.ip_forward = 0\n/etc/sysctl.d/10-early.conf:net.ipv4.ip_forward=0", c)
	if st.Action != change.Failed || !strings.Contains(st.Message, "99-custom.conf") || strings.Contains(st.Message, "10-early") {
		t.Fatalf("%+v", st)
	}
	// A later file that agrees, or an earlier one that disagrees, is fine.
	st = s.Decide("live|0\n/etc/sysctl.d/99-custom.conf:net.ipv4.ip_forward = 1\n/usr/lib/sysctl.d/50-default.conf:net.ipv4.ip_forward=0", c)
	if st.Action != change.Configured {
		t.Fatalf("%+v", st)
	}
	if st = s.Decide("live|1", c); st.Action != change.Unchanged {
		t.Fatalf("%+v", st)
	}
}

func TestDiffRedactsSecrets(t *testing.T) {
	f := &File{Path: "/etc/x"}
	d := f.diff([]byte("user: a\npassword: hunter2\n"), []byte("user: a\npassword: s3cret\n"), false)
	if strings.Contains(d, "hunter2") || strings.Contains(d, "s3cret") {
		t.Fatalf("secret in diff:\n%s", d)
	}
	f.Secret = true
	if d := f.diff([]byte("k1"), []byte("k2"), false); strings.Contains(d, "k1") || strings.Contains(d, "k2") {
		t.Fatalf("secret file in diff: %s", d)
	}
}

// TestPackageProbeOnThisMachine probes a package that is installed here (dpkg) and one
// that is not, through the real dpkg-query.
func TestPackageProbeOnThisMachine(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian-family machine")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "openssh-server").Output()
	if err != nil {
		t.Skip("openssh-server not installed")
	}
	d := t.TempDir()
	have := &Package{Name: "openssh-server", Version: strings.SplitN(string(out), "-", 2)[0]}
	missing := &Package{Name: "mk8s-no-such-package", Version: "1.0", Hold: true}
	steps, facts, err := Plan(context.Background(), localRunner{}, []Resource{have, missing}, Options{Packages: PackagesProbeOnly, RecordPath: d + "/r"})
	if err != nil {
		t.Fatal(err)
	}
	if facts.PkgFamily != "deb" || steps[0].Action != change.Unchanged {
		t.Fatalf("installed package: %+v %+v", facts, steps[0])
	}
	if steps[1].Action != change.Skipped || !strings.Contains(steps[1].Message, "install mk8s-no-such-package 1.0") {
		t.Fatalf("missing package: %+v", steps[1])
	}
	steps, _, _ = Plan(context.Background(), localRunner{}, []Resource{missing}, Options{RecordPath: d + "/r"})
	if steps[0].Action != change.Created || !strings.Contains(steps[0].Script, "apt-get install") || !strings.Contains(steps[0].Script, "apt-mark hold mk8s-no-such-package") {
		t.Fatalf("install step: %+v", steps[0])
	}
}

// TestHostileNamesAndContentAreQuoted writes a file whose path and content hold quotes,
// spaces, $ and backticks: they arrive byte for byte and nothing is expanded.
func TestHostileNamesAndContentAreQuoted(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	content := "a 'quoted' $HOME `touch " + d + "/pwned` $(touch " + d + "/pwned2)\n\\n no newline at end"
	f := &File{Path: d + "/it's a dir/x y.conf", Content: []byte(content), Mode: 0o640, Owner: u, Group: g}
	if s := converge(t, d, []Resource{f}); s[0].Action != change.Created {
		t.Fatalf("%+v", s[0])
	}
	got, err := os.ReadFile(f.Path)
	if err != nil || string(got) != content {
		t.Fatalf("content %q, %v", got, err)
	}
	if m, _ := filepath.Glob(d + "/pwned*"); len(m) != 0 {
		t.Fatalf("content was executed: %v", m)
	}
	if s := converge(t, d, []Resource{f}); s[0].Action != change.Unchanged {
		t.Fatalf("no-op: %+v", s[0])
	}
}

// A file in a directory whose name holds a space: the directory fsync at the end of the
// apply must get the whole name, not its words (the sync failed silently before).
func TestApplySyncsDirectoryWithSpaces(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	f := &File{Path: d + "/a dir/x.conf", Content: []byte("x\n"), Mode: 0o644, Owner: u, Group: g}
	steps := []Step{f.Decide("", &Context{Changed: map[string]bool{}})}
	res, err := localRunner{}.Run(context.Background(), ApplyScript(steps))
	if err != nil || res.ExitCode != 0 || len(res.Stderr) != 0 {
		t.Fatalf("exit %d, stderr %q, %v", res.ExitCode, res.Stderr, err)
	}
	if want := "@@mk8s step 0\n@@mk8s done 0\n@@mk8s end\n"; string(res.Stdout) != want {
		t.Fatalf("stdout %q, want %q", res.Stdout, want)
	}
}

// A managed directory that carries a setgid bit on the host converges to the plain
// mode in one apply (chmod 0755 alone would keep the bit and report a change forever).
func TestDirectorySetgidBitConverges(t *testing.T) {
	d := t.TempDir()
	u, g := owner(t)
	dir := &Directory{Path: d + "/shared", Mode: 0o755, Owner: u, Group: g}
	if err := os.Mkdir(dir.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir.Path, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir.Path); st.Mode()&os.ModeSetgid == 0 {
		t.Skip("cannot set the setgid bit here")
	}
	if s := converge(t, d, []Resource{dir}); s[0].Action != change.Configured {
		t.Fatalf("first run: %+v", s[0])
	}
	if s := converge(t, d, []Resource{dir}); s[0].Action != change.Unchanged {
		t.Fatalf("second run must be a no-op: %+v", s[0])
	}
}
