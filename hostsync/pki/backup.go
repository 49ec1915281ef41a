package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Backup is the copy of the authority kept in the reconciler's state directory (dir
// 0700, files 0600): what lets mk8s tell "the CA was removed from a running cluster"
// from "this is a fresh cluster", and what `--restore-ca` puts back.
type Backup struct {
	Dir   string
	Files map[string][]byte
	// Installed is set once the bootstrap node confirmed holding the files: a backup
	// written for a first install that was interrupted is not yet installed, and the
	// next reconcile finishes the install from it.
	Installed bool
}

const installedMarker = "installed"

// ReadBackup reads the backup under dir; a missing dir is an empty backup.
func ReadBackup(dir string) (*Backup, error) {
	b := &Backup{Dir: dir, Files: map[string][]byte{}}
	if dir == "" {
		return b, nil
	}
	for _, p := range allPaths() {
		data, err := os.ReadFile(b.path(p))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("reading the PKI backup: %w", err)
		default:
			b.Files[p] = data
		}
	}
	if _, err := os.Stat(filepath.Join(dir, installedMarker)); err == nil {
		b.Installed = true
	}
	return b, nil
}

func allPaths() []string {
	var out []string
	for _, g := range Groups() {
		out = append(out, g...)
	}
	return out
}

func (b *Backup) path(p string) string {
	return filepath.Join(b.Dir, "files", filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

// Write stores files (adding to what the backup holds) and the installed marker.
// Nothing is written without a directory: a plan has none to give.
func (b *Backup) Write(files map[string][]byte, installed bool) error {
	if b.Dir == "" {
		return errors.New("no state directory for the PKI backup (set the reconciler's stateDir or --state-dir)")
	}
	for p, data := range files {
		dst := b.path(p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		if err := chmodTree(b.Dir, filepath.Dir(dst)); err != nil {
			return err
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		if err := os.Chmod(tmp, 0o600); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		b.Files[p] = data
	}
	if installed && !b.Installed {
		if err := os.WriteFile(filepath.Join(b.Dir, installedMarker), []byte("the bootstrap node holds these files\n"), 0o600); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		b.Installed = true
	}
	return nil
}

// chmodTree makes every directory from root down to dir 0700 (MkdirAll honours the
// umask, and an existing state directory may be more open).
func chmodTree(root, dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("PKI backup: %w", err)
		}
		if d == root || d == filepath.Dir(d) {
			return nil
		}
	}
}
