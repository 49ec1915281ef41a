package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchRefs calls fire (debounced) whenever a branch, packed-refs or HEAD of the bare
// repository at repo changes, until ctx is done. git updates a ref by writing
// "<ref>.lock" and renaming it over the ref, so lock files are ignored and the rename's
// create event is the signal. New directories under refs/heads (branches with slashes)
// are watched as they appear.
func watchRefs(ctx context.Context, repo string, debounce time.Duration, fire func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch refs of %s: %w", repo, err)
	}
	defer w.Close()
	heads := filepath.Join(repo, "refs", "heads")
	if err := w.Add(repo); err != nil {
		return fmt.Errorf("watch refs of %s: %w", repo, err)
	}
	if err := addTree(w, heads); err != nil {
		return fmt.Errorf("watch refs of %s: %w", repo, err)
	}

	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("watch refs of %s: %w", repo, err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !relevant(repo, heads, ev) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				// A new namespace directory (refs/heads/feature/) needs its own watch.
				_ = addTree(w, ev.Name)
			}
			timer.Reset(debounce)
		case <-timer.C:
			fire()
		}
	}
}

func relevant(repo, heads string, ev fsnotify.Event) bool {
	if strings.HasSuffix(ev.Name, ".lock") || ev.Op == fsnotify.Chmod {
		return false
	}
	if filepath.Dir(ev.Name) == repo {
		base := filepath.Base(ev.Name)
		return base == "HEAD" || base == "packed-refs"
	}
	return ev.Name == heads || strings.HasPrefix(ev.Name, heads+string(filepath.Separator))
}

// addTree watches dir and every directory below it; a plain file is ignored.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return w.Add(p)
		}
		return nil
	})
}
