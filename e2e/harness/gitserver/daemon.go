package gitserver

import (
	"fmt"
	"strconv"
	"testing"
)

// Daemon is a running `git daemon`.
type Daemon struct {
	Root string
	Addr string
}

// URL is the git:// URL of the bare repository Root/name.
func (d *Daemon) URL(name string) string { return fmt.Sprintf("git://%s/%s", d.Addr, name) }

// StartDaemon serves every repository under root over git:// on a free loopback port.
func StartDaemon(t testing.TB, root string) *Daemon {
	t.Helper()
	port := freePort(t)
	p := start(t, cleanEnv(), "git", "daemon", "--reuseaddr", "--base-path="+root, "--export-all",
		"--enable=receive-pack", "--listen=127.0.0.1", "--port="+strconv.Itoa(port), "--informative-errors", root)
	d := &Daemon{Root: root, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	waitListening(t, d.Addr, p.exited, p.logs)
	return d
}
