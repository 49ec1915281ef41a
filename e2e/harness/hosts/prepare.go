package hosts

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// hostInit runs as PID 1 of the host's new mount, UTS and PID namespaces, inside its
// network namespace: copy-on-write system directories (/srv too, where archives are
// mounted), private /run and /tmp, then sshd.
// Arguments: name, state dir, address, optional sudo user.
const hostInit = `set -e
mount --make-rprivate /
hostname "$1"
for d in etc var root opt usr/local srv; do
  [ -d "/$d" ] || mkdir -p "/$d"
  mkdir -p "$2/upper/$d" "$2/work/$d"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$2/upper/$d,workdir=$2/work/$d" "/$d"
done
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd
mount -t tmpfs -o mode=1777 tmpfs /tmp
if [ -n "$4" ]; then
  id -u "$4" >/dev/null 2>&1 || useradd -d "/var/lib/$4" -m -s /bin/sh "$4"
  usermod -p '*' "$4"
  mkdir -p "/var/lib/$4/.ssh"
  cp /root/.ssh/authorized_keys "/var/lib/$4/.ssh/authorized_keys"
  chown -R "$4:" "/var/lib/$4/.ssh"; chmod 700 "/var/lib/$4/.ssh"; chmod 600 "/var/lib/$4/.ssh/authorized_keys"
fi
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.mk8s -o ListenAddress="$3"
`

// nspawnInit runs in a private mount namespace: it keeps a handle on the network
// namespace, hides the machine's /run, overlays / and boots it with systemd-nspawn.
// Arguments: name, state dir, netns path.
const nspawnInit = `set -e
touch "$2.netns"
mount --bind "$3" "$2.netns"
mount -t tmpfs tmpfs /run
mkdir -p "$2/upper" "$2/work" "$2/merged"
mount -t overlay overlay -o "lowerdir=/,upperdir=$2/upper,workdir=$2/work" "$2/merged"
exec systemd-nspawn -q -D "$2/merged" --boot --register=no --keep-unit --hostname="$1" \
  --network-namespace-path="$2.netns" --machine="mk8s-$1" --console=pipe
`

func writeFile(path string, body []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, body, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// prepare writes the host's upper layer before its first start (changing an overlay's
// upper dir while mounted is undefined): host key, sshd config, clean root dotfiles,
// authorized key, /etc/hosts with its name, sudoers for the sudo user.
func (h *Host) prepare() error {
	up := filepath.Join(h.dir, "upper")
	keyPath, err := writeKey(filepath.Join(up, "etc/ssh/ssh_host_ed25519_key"), "root@"+h.Name)
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(keyPath + ".pub")
	if err != nil {
		return err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		return err
	}
	h.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	client, err := os.ReadFile(h.lab.KeyPath + ".pub")
	if err != nil {
		return err
	}
	for _, f := range []string{".bashrc", ".profile"} {
		b, err := os.ReadFile("/etc/skel/" + f)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(up, "root", f), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(up, "root/.ssh"), 0o700); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(up, "root/.ssh/authorized_keys"), client, 0o600); err != nil {
		return err
	}
	hosts, _ := os.ReadFile("/etc/hosts")
	hosts = append(hosts, []byte(fmt.Sprintf("127.0.1.1 %s\n%s %s\n", h.Name, h.IP, h.Name))...)
	if err := writeFile(filepath.Join(up, "etc/hosts"), hosts, 0o644); err != nil {
		return err
	}
	if h.Nspawn {
		return h.prepareNspawn(up)
	}
	if u := h.lab.SudoUser; u != "" {
		if err := writeFile(filepath.Join(up, "etc/sudoers.d/mk8s-lab"), []byte(u+" ALL=(ALL) NOPASSWD: ALL\n"), 0o440); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(up, "etc/ssh/sshd_config.mk8s"), []byte(`Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
PidFile /run/sshd.pid
MaxSessions 64
MaxStartups 64:30:128
`), 0o644)
}

// prepareNspawn gives the container its own identity and masks the services the machine
// has enabled (they would all start in every container), except ssh.
func (h *Host) prepareNspawn(up string) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(up, "etc/machine-id"), []byte(fmt.Sprintf("%x\n", id)), 0o444); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(up, "etc/hostname"), []byte(h.Name+"\n"), 0o644); err != nil {
		return err
	}
	wants, _ := filepath.Glob("/etc/systemd/system/*.wants/*")
	seen := map[string]bool{}
	for _, w := range wants {
		u := filepath.Base(w)
		if u == "ssh.service" || strings.HasSuffix(u, ".target") || seen[u] {
			continue
		}
		seen[u] = true
		if err := os.MkdirAll(filepath.Join(up, "etc/systemd/system"), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/dev/null", filepath.Join(up, "etc/systemd/system", u)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	// Only the ed25519 key: the machine's other host keys stay in the lower layer, but the
	// client asks for the pinned algorithm.
	return writeFile(filepath.Join(up, "etc/ssh/sshd_config.d/mk8s-lab.conf"),
		[]byte("HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"), 0o644)
}

// AddNspawn adds and boots a host running systemd as PID 1 (systemd-nspawn over a
// copy-on-write overlay of /), reachable over SSH like the others.
func (l *Lab) AddNspawn(ctx context.Context, name string) (*Host, error) {
	h, err := l.addHost(ctx, name, true)
	if err != nil {
		return h, err
	}
	return h, h.Start(ctx)
}
