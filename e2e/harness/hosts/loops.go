package hosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sparseDir is where mk8s keeps the sparse files of Volumes, on a host.
const sparseDir = "var/lib/metalk8s/storage/sparse"

// detachLoops detaches the loop devices backed by the sparse files of this host's
// Volumes: loop devices belong to the machine, not to the host's namespaces, and would
// outlive it (and keep its files busy). A backing file is recognised by its name (the
// Volume's UID) among the host's sparse files; loop devices of anything else are left
// alone.
func (h *Host) detachLoops(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(h.dir, "upper", sparseDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, e := range entries {
		ours[e.Name()] = true
	}
	out, err := exec.CommandContext(ctx, "losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return fmt.Errorf("%s: losetup --list: %w", h.Name, err)
	}
	var errs []error
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		back := strings.TrimSuffix(strings.Join(f[1:], " "), " (deleted)")
		if !ours[filepath.Base(back)] || !strings.Contains(back, "/storage/sparse/") {
			continue
		}
		if b, err := exec.CommandContext(ctx, "losetup", "--detach", f[0]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: losetup --detach %s: %w: %s", h.Name, f[0], err, b))
		}
	}
	return errors.Join(errs...)
}
