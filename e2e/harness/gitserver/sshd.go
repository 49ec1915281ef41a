package gitserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SSHD is a running sshd whose only command is git-shell.
type SSHD struct {
	Root string
	Addr string
	Port int
	// ClientKey is the private key authorized to connect.
	ClientKey string
	// KnownHosts pins the server's host key for [127.0.0.1]:port.
	KnownHosts string
	// HostKeyPub is the server's public host key line.
	HostKeyPub string
}

// URL is the ssh:// URL of the bare repository Root/name (an absolute path on the server).
func (s *SSHD) URL(name string) string {
	return fmt.Sprintf("ssh://root@%s%s", s.Addr, filepath.Join(s.Root, name))
}

// StartSSHD runs /usr/sbin/sshd on a free loopback port. It needs root (it logs in as
// root with a forced git-shell command); root's real home is hidden by an empty one in a
// private mount namespace, and /run/sshd lives on a private tmpfs.
func StartSSHD(t testing.TB, root string) *SSHD {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd harness needs root")
	}
	dir := t.TempDir()
	keygen := func(path string) {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", filepath.Base(path), "-f", path).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	clientKey := filepath.Join(dir, "client_ed25519")
	keygen(hostKey)
	keygen(clientKey)
	clientPub, _ := os.ReadFile(clientKey + ".pub")
	hostPub, _ := os.ReadFile(hostKey + ".pub")
	authorized := `command="git-shell -c \"$SSH_ORIGINAL_COMMAND\"",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ` +
		strings.TrimSpace(string(clientPub)) + "\n"
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authorized), 0o600))
	home := filepath.Join(dir, "home")
	must(t, os.Mkdir(home, 0o700))
	port := freePort(t)
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin forced-commands-only
AllowUsers root
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
PermitUserEnvironment no
LogLevel ERROR
`, port, hostKey, filepath.Join(dir, "authorized_keys"))
	cfgFile := filepath.Join(dir, "sshd_config")
	must(t, os.WriteFile(cfgFile, []byte(cfg), 0o600))
	script := `set -e
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -m 755 /run/sshd
mount --bind "$1" /root
exec /usr/sbin/sshd -D -e -f "$2"`
	p := start(t, cleanEnv(), "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", home, cfgFile)
	s := &SSHD{Root: root, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), ClientKey: clientKey,
		HostKeyPub: strings.TrimSpace(string(hostPub))}
	waitListening(t, s.Addr, p.exited, p.logs)
	fields := strings.Fields(s.HostKeyPub)
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(s.KnownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])), 0o644))
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
