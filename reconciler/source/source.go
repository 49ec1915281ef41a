package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/gitfs"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// Source fetches and verifies one configured site repository. It is not safe for
// concurrent use: one reconciler owns one state directory.
type Source struct {
	cfg   *config.Config
	trust *verify.Trust
	auth  remoteAuth
	log   *slog.Logger
}

// Options tunes New.
type Options struct {
	// Logger receives progress at debug and info level; discarded when nil.
	Logger *slog.Logger
	// Now is the clock OpenPGP key expiry is judged against; time.Now when nil.
	Now func() time.Time
}

// New loads the trusted keys and the remote credentials named by cfg.
func New(cfg *config.Config, opts Options) (*Source, error) {
	trust, err := verify.LoadTrust(verify.TrustOptions{
		OpenPGPKeyFiles: cfg.Trust.OpenPGPKeyFiles, AllowedSignersFile: cfg.Trust.AllowedSignersFile, Now: opts.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	auth, err := newRemoteAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, trust: trust, auth: auth, log: log}, nil
}

// Trust returns the trusted keys, for callers verifying something else (an ISO).
func (s *Source) Trust() *verify.Trust { return s.trust }

// Revision is a verified revision of the site.
type Revision struct {
	// Commit is the full hash of the head.
	Commit string `json:"commit"`
	// Ref is the branch it is the head of.
	Ref string `json:"ref"`
	// Changed is false when the head and the config digest are those last applied: the
	// caller may skip the whole reconcile.
	Changed bool `json:"changed"`
	// Verified lists the commits whose signatures were checked (empty when unchanged).
	Verified []verify.CommitSignature `json:"verified,omitempty"`
	// Rollback is true when the operator's override accepted a non-descendant head.
	Rollback bool `json:"rollback,omitempty"`
	// From is the revision applied before this one.
	From string `json:"from,omitempty"`
	// FS is the tree of Commit, read from git objects.
	FS fs.FS `json:"-"`

	configDigest string
}

// SyncOptions tunes one Sync.
type SyncOptions struct {
	// AllowRollbackTo is a one-shot operator override: accept this commit as the new head
	// even if it does not descend from the last applied revision. Also read from the state
	// (AllowRollback) so that it survives a restart.
	AllowRollbackTo string
}

// Sync brings the mirror up to date with the source and verifies the new head. It does
// nothing but one ls-remote when the head and the config are those last applied. A
// refusal is a *verify.RefusedError (or *UnknownHostError, *iso.IntegrityError) and
// changes neither the applied revision nor its ref.
func (s *Source) Sync(ctx context.Context, opts SyncOptions) (*Revision, error) {
	unlock, err := lockState(ctx, s.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := ReadState(s.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	head, err := s.remoteHead(ctx)
	if err != nil {
		return nil, err
	}
	mirror, err := s.openMirror()
	if err != nil {
		return nil, err
	}
	rev := &Revision{Commit: head.String(), Ref: s.cfg.Source.Ref, From: st.Applied, configDigest: s.cfg.Digest}
	if head.String() == st.Applied && s.cfg.Digest == st.ConfigDigest {
		// The mirror normally has it; if it was lost, fetch and verify it again below.
		if rev.FS, err = treeFS(mirror, head); err == nil {
			s.log.Debug("source unchanged", "commit", head.String())
			return rev, nil
		}
	}
	rev.Changed = true
	s.log.Info("fetching", "url", s.cfg.Source.URL, "ref", s.cfg.Source.Ref, "commit", head.String())
	if err := s.fetch(ctx, mirror, head); err != nil {
		return nil, err
	}
	from := plumbing.NewHash(st.Applied)
	if st.Applied == "" {
		from = plumbing.ZeroHash
		if s.cfg.Trust.Anchor != "" {
			from = plumbing.NewHash(s.cfg.Trust.Anchor)
			if _, err := mirror.CommitObject(from); err != nil {
				return nil, &verify.RefusedError{Commit: head.String(), Reason: verify.ReasonNotDescendant,
					Detail: fmt.Sprintf("the trust anchor %s is not in its history", s.cfg.Trust.Anchor)}
			}
		}
	}
	override := head.String() == opts.AllowRollbackTo || head.String() == st.AllowRollbackTo
	var res *verify.RangeResult
	if head == from {
		// Same commit, new config (a key removed, say): the head must still pass.
		c, err := mirror.CommitObject(head)
		if err != nil {
			return nil, err
		}
		signed, err := s.trust.Commit(c)
		if err != nil {
			return nil, err
		}
		res = &verify.RangeResult{Commits: []verify.CommitSignature{{Commit: head.String(), Signed: signed}}}
	} else {
		res, err = s.trust.VerifyRange(ctx, mirror.Storer, verify.RangeOptions{
			From: from, To: head, Mode: verify.Mode(s.cfg.Trust.Mode), AllowNonDescendant: override,
		})
		if err != nil {
			return nil, err
		}
	}
	rev.Verified, rev.Rollback = res.Commits, res.Rollback
	s.log.Info("verified", "commit", head.String(), "commits", len(res.Commits), "rollback", res.Rollback)
	if rev.FS, err = treeFS(mirror, head); err != nil {
		return nil, err
	}
	return rev, nil
}

// MarkApplied records rev as the last applied revision: state.json and the mirror's
// refs/mk8s/applied. Call it only after the revision was applied successfully.
func (s *Source) MarkApplied(ctx context.Context, rev *Revision) error {
	unlock, err := lockState(ctx, s.cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := ReadState(s.cfg.StateDir)
	if err != nil {
		return err
	}
	if st.Applied != rev.From && rev.Changed {
		return fmt.Errorf("mark %s applied: the last applied revision moved from %s to %s meanwhile", rev.Commit, rev.From, st.Applied)
	}
	now := time.Now().UTC()
	if rev.Rollback {
		st.Rollbacks = append(st.Rollbacks, Rollback{From: st.Applied, To: rev.Commit, At: now})
	}
	if st.AllowRollbackTo == rev.Commit || rev.Rollback {
		st.AllowRollbackTo = ""
	}
	st.Applied, st.AppliedAt, st.ConfigDigest = rev.Commit, now, rev.configDigest
	st.URL, st.Ref = s.cfg.Source.URL, rev.Ref
	mirror, err := s.openMirror()
	if err != nil {
		return err
	}
	if err := mirror.Storer.SetReference(plumbing.NewHashReference(refApplied, plumbing.NewHash(rev.Commit))); err != nil {
		return fmt.Errorf("mark %s applied: %w", rev.Commit, err)
	}
	return writeState(s.cfg.StateDir, st)
}

// State returns the recorded state.
func (s *Source) State() (State, error) { return ReadState(s.cfg.StateDir) }

func (s *Source) openMirror() (*git.Repository, error) {
	dir := filepath.Join(s.cfg.StateDir, "mirror.git")
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", dir, err)
	}
	return repo, nil
}

func treeFS(repo *git.Repository, h plumbing.Hash) (fs.FS, error) {
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return gitfs.New(c)
}
