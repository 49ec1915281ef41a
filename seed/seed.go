package seed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Seed writes a new site repository in o.Dir: the site files of a one-node cluster (the
// bootstrap node) and one signed commit holding them.
//
// Everything that can fail on the inputs (bootstrap config, values, signing key) is
// checked before the directory is touched, and the repository is built in a temporary
// directory next to Dir, then moved into place: a failed seed leaves Dir as it was.
func Seed(ctx context.Context, o Options) (Result, error) {
	if o.Dir == "" {
		return Result{}, errors.New("seed: no target directory")
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if err := plumbing.NewBranchReferenceName(o.Branch).Validate(); err != nil {
		return Result{}, fmt.Errorf("--branch %q: not a valid branch name: %w", o.Branch, err)
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	// git records seconds; drop the rest so the signature and the commit agree.
	o.Time = o.Time.Truncate(time.Second)
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return Result{}, fmt.Errorf("seed %s: %w", o.Dir, err)
	}
	replace, err := checkTarget(dir, o.Force)
	if err != nil {
		return Result{}, err
	}

	s, warnings, err := resolve(o)
	if err != nil {
		return Result{}, err
	}
	files, err := render(s)
	if err != nil {
		return Result{}, err
	}
	if o.SigningKey == "" {
		return Result{}, errors.New("--signing-key: is missing; the first commit must be signed (an OpenPGP or OpenSSH private key)")
	}
	signer, err := loadSigner(o.SigningKey, o.SigningKeyPassphrase, o.Time)
	if err != nil {
		return Result{}, err
	}
	name, email := signer.author()
	if o.AuthorName != "" {
		name = o.AuthorName
	}
	if o.AuthorEmail != "" {
		email = o.AuthorEmail
	}
	if name == "" || email == "" {
		return Result{}, errors.New("--author-name and --author-email: the signing key names no author; give both")
	}
	msg := o.Message
	if msg == "" {
		msg = fmt.Sprintf("Seed the site of MetalK8s cluster %s\n\nWritten by mk8s seed for MetalK8s %s.\n", s.node.Name, s.version)
	}
	var reconcilerConfig string
	if o.ReconcilerConfig != "" {
		if reconcilerConfig, err = filepath.Abs(o.ReconcilerConfig); err != nil {
			return Result{}, fmt.Errorf("--reconciler-config: %w", err)
		}
		if err := checkReconcilerTarget(reconcilerConfig, signer.info().Format, o.Force); err != nil {
			return Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	// Build aside, then move into place.
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Result{}, fmt.Errorf("seed %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, ".mk8s-seed-*")
	if err != nil {
		return Result{}, fmt.Errorf("seed %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	h, err := writeRepository(tmp, o.Bare, files, commitInput{branch: o.Branch, message: msg, signer: signer,
		author: object.Signature{Name: name, Email: email, When: o.Time}})
	if err != nil {
		return Result{}, fmt.Errorf("seed %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := moveInto(tmp, dir, replace); err != nil {
		return Result{}, fmt.Errorf("seed %s: %w", dir, err)
	}

	res := Result{Dir: dir, Bare: o.Bare, Branch: o.Branch, Commit: h.String(), Signer: signer.info(),
		Warnings: warnings}
	for _, f := range files {
		res.Files = append(res.Files, f.Path)
	}
	if reconcilerConfig != "" {
		url := o.SourceURL
		if url == "" {
			url = dir
			if !o.Bare {
				url = filepath.Join(dir, ".git")
			}
		}
		if res.ReconcilerFiles, err = writeReconcilerConfig(reconcilerConfig, url, o.Branch, email, res.Signer); err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkTarget says whether dir may receive the seed, and whether its content must be
// replaced. An absent or empty directory is fine. A git repository is replaced only with
// force. Anything else is refused, force or not: its content would be lost.
func checkTarget(dir string, force bool) (replace bool, err error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seed %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("seed %s: exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("seed %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	if !isGitRepository(dir) {
		return false, fmt.Errorf("seed %s: the directory is not empty and holds no git repository; refusing to write into it (even with --force)", dir)
	}
	if !force {
		return false, fmt.Errorf("seed %s: already holds a git repository; nothing changed (--force replaces it)", dir)
	}
	return true, nil
}

// moveInto puts the content of tmp at dir, replacing dir's content when replace is set.
func moveInto(tmp, dir string, replace bool) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		return os.Rename(tmp, dir)
	}
	if replace {
		old, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range old {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
