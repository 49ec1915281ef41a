package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// State is what the source remembers across restarts, in <stateDir>/state.json.
type State struct {
	// Applied is the last applied commit; empty before the first apply.
	Applied string `json:"applied,omitempty"`
	// AppliedAt is when MarkApplied recorded it.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// ConfigDigest is the reconciler config digest the revision was applied with.
	ConfigDigest string `json:"configDigest,omitempty"`
	// URL and Ref are the source the revision came from.
	URL string `json:"url,omitempty"`
	Ref string `json:"ref,omitempty"`
	// AllowRollbackTo is a pending one-shot operator override: the next Sync may accept
	// this commit even though it does not descend from Applied. Cleared when applied.
	AllowRollbackTo string `json:"allowRollbackTo,omitempty"`
	// Rollbacks records every override that was used, for status and audit.
	Rollbacks []Rollback `json:"rollbacks,omitempty"`
}

// Rollback is one accepted non-descendant revision.
type Rollback struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
}

const stateFile = "state.json"

// ReadState reads the state of stateDir; a missing file is the empty state.
func ReadState(stateDir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("source state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("source state %s: %w", filepath.Join(stateDir, stateFile), err)
	}
	return st, nil
}

// writeState replaces the state file atomically: temp file, fsync, rename, fsync dir.
func writeState(stateDir string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("source state dir: %w", err)
	}
	f, err := os.CreateTemp(stateDir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("source state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("source state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("source state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("source state: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(stateDir, stateFile)); err != nil {
		return fmt.Errorf("source state: %w", err)
	}
	if d, err := os.Open(stateDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// AllowRollback records the operator's one-shot override: the next Sync may accept commit
// as the new head although it does not descend from the last applied revision. Every
// commit it brings is still verified.
func AllowRollback(stateDir, commit string) error {
	// Hashes compare in git's lowercase spelling; an uppercase copy is the same commit.
	commit = strings.ToLower(strings.TrimSpace(commit))
	if len(commit) != 40 || strings.Trim(commit, "0123456789abcdef") != "" {
		return fmt.Errorf("rollback override %q: a full 40-hex commit hash is required", commit)
	}
	unlock, err := lockState(context.Background(), stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := ReadState(stateDir)
	if err != nil {
		return err
	}
	st.AllowRollbackTo = commit
	return writeState(stateDir, st)
}

// lockState takes an exclusive lock on the state directory so that two processes (the
// reconciler and an operator's one-off command) never interleave mirror and state writes.
// The returned function releases it.
func lockState(ctx context.Context, stateDir string) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("source state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("source state lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("source state lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("source state %s is locked by another process: %w", stateDir, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
