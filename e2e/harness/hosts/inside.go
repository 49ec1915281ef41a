package hosts

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PID1 returns the PID, in the machine's PID namespace, of the process that is PID 1 of
// the host's PID namespace (sshd, or systemd under nspawn). Its /proc entry is the way
// into the host's namespaces (nsenter --target) and filesystem (Open) from outside.
func (h *Host) PID1() (int, error) {
	if !h.Running() {
		return 0, fmt.Errorf("%s: not running", h.Name)
	}
	// The namespace's init is a descendant of the launcher: its child for a namespace
	// host (unshare --fork), deeper under nspawn. It is the first one whose innermost
	// PID is 1 in a PID namespace below ours.
	queue := []int{h.launcher.Process.Pid}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if ns, err := nsPIDs(pid); err == nil && len(ns) > 1 && ns[len(ns)-1] == 1 {
			return pid, nil
		}
		queue = append(queue, childPIDs(pid)...)
	}
	return 0, fmt.Errorf("%s: no PID 1 of a PID namespace under launcher %d", h.Name, h.launcher.Process.Pid)
}

// nsPIDs returns the NSpid line of /proc/<pid>/status: the process' PID in each PID
// namespace from ours inwards.
func nsPIDs(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("NSpid:"))
		if !ok {
			continue
		}
		var out []int
		for _, f := range strings.Fields(string(rest)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status: NSpid %q: %w", pid, rest, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("/proc/%d/status has no NSpid", pid)
}

// Open opens a file read-only as the host sees it: path is resolved in the host's mount
// namespace (its /etc, /var, /root… overlays, private /run and /tmp) through
// /proc/<PID1>/root, with absolute symlinks and ".." kept inside the host's root
// (RESOLVE_IN_ROOT), so a symlink in the host never leads to the machine's file.
func (h *Host) Open(path string) (*os.File, error) {
	pid, err := h.PID1()
	if err != nil {
		return nil, err
	}
	root := fmt.Sprintf("/proc/%d/root", pid)
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: opening its root %s: %w", h.Name, root, err)
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, strings.TrimLeft(path, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, &os.PathError{Op: "open", Path: path, Err: err})
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads a file as the host sees it (see Open).
func (h *Host) ReadFile(path string) ([]byte, error) {
	f, err := h.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", h.Name, path, err)
	}
	return b, nil
}
