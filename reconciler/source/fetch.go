package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/iso"
)

// Refs of the mirror.
const (
	refFetched = plumbing.ReferenceName("refs/mk8s/fetched")
	refApplied = plumbing.ReferenceName("refs/mk8s/applied")
)

// remoteHead resolves the configured branch at the source without fetching it: one
// ls-remote for network sources, a ref read for local and ISO ones.
func (s *Source) remoteHead(ctx context.Context) (plumbing.Hash, error) {
	ref := plumbing.NewBranchReferenceName(s.cfg.Source.Ref)
	switch kind := config.URLKind(s.cfg.Source.URL); kind {
	case config.KindLocal:
		repo, err := git.PlainOpen(localPath(s.cfg.Source.URL))
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("source %s: %w", s.cfg.Source.URL, err)
		}
		r, err := repo.Reference(ref, true)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("source %s: branch %s: %w", s.cfg.Source.URL, s.cfg.Source.Ref, err)
		}
		return r.Hash(), nil
	case config.KindISO:
		isoPath, repoDir, err := parseISOURL(s.cfg.Source.URL)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		img, err := iso.Open(isoPath)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		defer img.Close()
		return readRefFS(img.FS, repoDir, ref)
	default:
		remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "source", URLs: []string{s.cfg.Source.URL}})
		refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: s.auth.auth, CABundle: s.auth.caBundle})
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("ls-remote %s: %w", s.cfg.Source.URL, err)
		}
		for _, r := range refs {
			if r.Name() == ref {
				return r.Hash(), nil
			}
		}
		return plumbing.ZeroHash, fmt.Errorf("ls-remote %s: branch %s not found", s.cfg.Source.URL, s.cfg.Source.Ref)
	}
}

// fetch brings head and its history into the mirror and points refs/mk8s/fetched at it.
func (s *Source) fetch(ctx context.Context, mirror *git.Repository, head plumbing.Hash) error {
	if _, err := mirror.CommitObject(head); err == nil {
		return mirror.Storer.SetReference(plumbing.NewHashReference(refFetched, head))
	}
	switch kind := config.URLKind(s.cfg.Source.URL); kind {
	case config.KindLocal:
		src, err := git.PlainOpen(localPath(s.cfg.Source.URL))
		if err != nil {
			return fmt.Errorf("source %s: %w", s.cfg.Source.URL, err)
		}
		if _, err := copyObjects(ctx, src.Storer, mirror.Storer, head); err != nil {
			return fmt.Errorf("fetch %s: %w", s.cfg.Source.URL, err)
		}
	case config.KindISO:
		isoPath, repoDir, err := parseISOURL(s.cfg.Source.URL)
		if err != nil {
			return err
		}
		img, err := iso.Open(isoPath)
		if err != nil {
			return err
		}
		defer img.Close()
		if _, err := img.Check(s.trust); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(s.cfg.StateDir, ".iso-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := img.Extract(repoDir, filepath.Join(tmp, "repo.git")); err != nil {
			return err
		}
		src, err := git.PlainOpen(filepath.Join(tmp, "repo.git"))
		if err != nil {
			return fmt.Errorf("ISO %s: %w", isoPath, err)
		}
		if _, err := copyObjects(ctx, src.Storer, mirror.Storer, head); err != nil {
			return fmt.Errorf("fetch %s: %w", s.cfg.Source.URL, err)
		}
	default:
		remote := git.NewRemote(mirror.Storer, &gitconfig.RemoteConfig{Name: "source", URLs: []string{s.cfg.Source.URL}})
		spec := gitconfig.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(s.cfg.Source.Ref), refFetched))
		err := remote.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: []gitconfig.RefSpec{spec}, Auth: s.auth.auth, CABundle: s.auth.caBundle,
			Tags: git.NoTags, Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return fmt.Errorf("fetch %s: %w", s.cfg.Source.URL, err)
		}
		if _, err := mirror.CommitObject(head); err != nil {
			return fmt.Errorf("fetch %s: head %s moved during the fetch; retry: %w", s.cfg.Source.URL, head, err)
		}
	}
	return mirror.Storer.SetReference(plumbing.NewHashReference(refFetched, head))
}

func localPath(u string) string { return strings.TrimPrefix(u, "file://") }

// parseISOURL splits iso:///path/to/file.iso#/repo.git.
func parseISOURL(u string) (string, string, error) {
	rest := strings.TrimPrefix(u, "iso://")
	p, repo, ok := strings.Cut(rest, "#")
	if !ok || p == "" || strings.Trim(repo, "/") == "" {
		return "", "", fmt.Errorf("source URL %q: want iso:///path/to/file.iso#/repo.git", u)
	}
	return p, strings.Trim(repo, "/"), nil
}

// readRefFS resolves a branch in a bare repository inside an fs.FS: the loose ref, or
// packed-refs.
func readRefFS(fsys fs.FS, repoDir string, ref plumbing.ReferenceName) (plumbing.Hash, error) {
	if b, err := fs.ReadFile(fsys, repoDir+"/"+ref.String()); err == nil {
		h := strings.TrimSpace(string(b))
		if plumbing.IsHash(h) {
			return plumbing.NewHash(h), nil
		}
	}
	b, err := fs.ReadFile(fsys, repoDir+"/packed-refs")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			h, name, ok := strings.Cut(strings.TrimSpace(line), " ")
			if ok && name == ref.String() && plumbing.IsHash(h) {
				return plumbing.NewHash(h), nil
			}
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("branch %s not found in /%s", ref.Short(), repoDir)
}
