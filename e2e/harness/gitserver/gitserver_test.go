package gitserver_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/gitserver"
	"github.com/metalk8s/mk8s/e2e/harness/signing"
)

// Each server serves the bare repositories of its root to the real git client.
func TestServersServeRepositories(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "srv")
	bare := signing.NewBare(t, filepath.Join(root, "site.git"))
	work := signing.NewRepo(t, filepath.Join(dir, "work"))
	head := work.Commit(nil, "first", map[string]string{"a": "1\n"})
	work.PushTo(bare, "HEAD:refs/heads/main", false)

	lsRemote := func(t *testing.T, env []string, url string) string {
		t.Helper()
		out, err := signing.Run("", append(env, "GIT_TERMINAL_PROMPT=0", "HOME="+dir), "git", "ls-remote", url, "refs/heads/main")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("daemon", func(t *testing.T) {
		d := gitserver.StartDaemon(t, root)
		if out := lsRemote(t, nil, d.URL("site.git")); !strings.HasPrefix(out, head) {
			t.Fatalf("ls-remote: %q", out)
		}
	})
	t.Run("http basic", func(t *testing.T) {
		h := gitserver.StartHTTP(t, root, gitserver.HTTPOptions{Username: "u", Password: "p"})
		url := strings.Replace(h.URL("site.git"), "http://", "http://u:p@", 1)
		if out := lsRemote(t, nil, url); !strings.HasPrefix(out, head) {
			t.Fatalf("ls-remote: %q", out)
		}
		if _, err := signing.Run("", []string{"GIT_TERMINAL_PROMPT=0", "HOME=" + dir}, "git", "ls-remote", h.URL("site.git")); err == nil {
			t.Fatal("anonymous access must be refused")
		}
	})
	t.Run("sshd git-shell", func(t *testing.T) {
		s := gitserver.StartSSHD(t, root)
		sshCmd := "ssh -i " + s.ClientKey + " -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + s.KnownHosts
		if out := lsRemote(t, []string{"GIT_SSH_COMMAND=" + sshCmd}, s.URL("site.git")); !strings.HasPrefix(out, head) {
			t.Fatalf("ls-remote: %q", out)
		}
		// Anything but git is refused by git-shell.
		out, err := exec.Command("ssh", "-i", s.ClientKey, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+s.KnownHosts, "-p", strings.Split(s.Addr, ":")[1], "root@127.0.0.1", "id").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unrecognized command") {
			t.Fatalf("ssh id: %v %s", err, out)
		}
	})
}
