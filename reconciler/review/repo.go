package review

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// openRepo opens a local repository (a working tree, from any directory inside it, or a
// bare one), or fetches every branch and tag of a URL into memory: a CI runner has the
// checkout, a reviewer's laptop may only have the URL.
func openRepo(ctx context.Context, repo string) (*git.Repository, error) {
	path := strings.TrimPrefix(repo, "file://")
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		r, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
		if err != nil {
			return nil, fmt.Errorf("--repo %s: %w", repo, err)
		}
		return r, nil
	}
	if !strings.Contains(repo, "://") && !strings.Contains(repo, "@") {
		return nil, fmt.Errorf("--repo %s: no such directory, and not a URL", repo)
	}
	r, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, err
	}
	remote, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{repo}})
	if err != nil {
		return nil, err
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []gitconfig.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
		Tags:     git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("--repo %s: fetch: %w", repo, err)
	}
	// HEAD names the remote's default branch, as a clone would.
	refs, err := remote.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("--repo %s: %w", repo, err)
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.HEAD {
			if ref.Type() == plumbing.SymbolicReference {
				err = r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, ref.Target()))
			} else {
				err = r.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, ref.Hash()))
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// resolve finds the commit a revision names, as git rev-parse does (branches, tags,
// remote branches, hashes, HEAD~2…).
func resolve(r *git.Repository, flag, rev string) (*object.Commit, error) {
	if rev == "" {
		return nil, fmt.Errorf("%s: no revision given", flag)
	}
	h, err := r.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (a shallow clone lacks the base: fetch it, e.g. git fetch origin main, or check out with full history)", flag, rev, err)
	}
	c, err := r.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("%s %s: commit %s: %w (a shallow clone lacks it: fetch the history)", flag, rev, h, err)
	}
	return c, nil
}
