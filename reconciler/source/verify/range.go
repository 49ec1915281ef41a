package verify

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Mode says which commits must be signed.
type Mode string

const (
	// ModeRange verifies every commit in (last applied, new head], merges and all their
	// parents included. The default.
	ModeRange Mode = "range"
	// ModeHead verifies the new head only.
	ModeHead Mode = "head"
)

// RangeOptions is what VerifyRange and ReviewRange check.
type RangeOptions struct {
	// From is the last applied revision; plumbing.ZeroHash when nothing was applied yet,
	// and then every commit reachable from To is verified (in range mode).
	From plumbing.Hash
	// To is the new head.
	To   plumbing.Hash
	Mode Mode
	// AllowNonDescendant accepts a To that does not descend from From: the operator's
	// one-shot rollback override. The commits reachable from To and not from From are
	// still verified.
	AllowNonDescendant bool
}

// CommitSignature is one verified commit.
type CommitSignature struct {
	Commit string `json:"commit"`
	// Subject is the first line of the commit message.
	Subject string `json:"subject"`
	Signed
}

// RangeResult lists the commits verified, newest first.
type RangeResult struct {
	Commits []CommitSignature `json:"commits"`
	// Rollback is true when To did not descend from From and the override allowed it.
	Rollback bool `json:"rollback,omitempty"`
}

// VerifyRange checks that To descends from From and that the commits between them are
// signed by trusted keys. The first refusal is returned as a *RefusedError.
func (t *Trust) VerifyRange(ctx context.Context, s storer.EncodedObjectStorer, opts RangeOptions) (*RangeResult, error) {
	res := &RangeResult{}
	if opts.To == opts.From {
		return res, nil
	}
	w, err := walkRange(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	if w.notDescendant != nil {
		if !opts.AllowNonDescendant {
			return nil, w.notDescendant
		}
		res.Rollback = true
	}
	for _, c := range w.commits {
		signed, err := t.Commit(c)
		if err != nil {
			return nil, err
		}
		res.Commits = append(res.Commits, CommitSignature{Commit: c.Hash.String(), Subject: firstLine(c.Message), Signed: signed})
	}
	return res, nil
}

// walked is the outcome of walkRange: what the reconciler judges for one push.
type walked struct {
	// commits are the commits to verify, newest first: every commit in range, or only the
	// head in head mode.
	commits []*object.Commit
	// notDescendant is the refusal of a To that does not descend from From, nil when it
	// does; the caller decides whether an override accepts it.
	notDescendant *RefusedError
}

// walkRange computes the commits in range and the descent check, so that VerifyRange and
// ReviewRange cannot disagree on what is judged. From must differ from To. Only real
// failures (a missing object, ctx cancelled) are errors.
func walkRange(ctx context.Context, s storer.EncodedObjectStorer, opts RangeOptions) (*walked, error) {
	if opts.Mode == "" {
		opts.Mode = ModeRange
	}
	head, err := object.GetCommit(s, opts.To)
	if err != nil {
		return nil, fmt.Errorf("new head %s: %w", opts.To, err)
	}
	// Everything the last applied revision already brought is out of the range.
	applied := map[plumbing.Hash]bool{}
	if !opts.From.IsZero() {
		if applied, err = ancestors(ctx, s, opts.From); err != nil {
			return nil, fmt.Errorf("last applied %s: %w", opts.From, err)
		}
	}
	// Walk the new history, every parent of every merge, down to what was applied. Head
	// mode walks too: the descent check needs it.
	var inRange []*object.Commit
	reachedFrom := opts.From.IsZero()
	seen := map[plumbing.Hash]bool{head.Hash: true}
	queue := []*object.Commit{head}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := queue[0]
		queue = queue[1:]
		inRange = append(inRange, c)
		for _, p := range c.ParentHashes {
			if p == opts.From {
				reachedFrom = true
			}
			if seen[p] || applied[p] {
				continue
			}
			seen[p] = true
			pc, err := object.GetCommit(s, p)
			if err != nil {
				return nil, fmt.Errorf("commit %s, parent of %s: %w", p, c.Hash, err)
			}
			queue = append(queue, pc)
		}
	}
	w := &walked{commits: inRange}
	if !reachedFrom {
		detail := fmt.Sprintf("does not descend from the last applied revision %s (history was replaced)", opts.From)
		if applied[opts.To] {
			detail = fmt.Sprintf("is an ancestor of the last applied revision %s: the branch was rewound", opts.From)
		}
		w.notDescendant = &RefusedError{Commit: opts.To.String(), Reason: ReasonNotDescendant,
			Detail: detail + "; to apply it anyway, the operator runs the one-shot override `mk8s allow-rollback " + opts.To.String() + "`"}
	}
	if opts.Mode == ModeHead || len(inRange) == 0 {
		w.commits = []*object.Commit{head}
	}
	return w, nil
}

// ancestors returns h and every commit reachable from it.
func ancestors(ctx context.Context, s storer.EncodedObjectStorer, h plumbing.Hash) (map[plumbing.Hash]bool, error) {
	out := map[plumbing.Hash]bool{h: true}
	stack := []plumbing.Hash{h}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, err := object.GetCommit(s, cur)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", cur, err)
		}
		for _, p := range c.ParentHashes {
			if !out[p] {
				out[p] = true
				stack = append(stack, p)
			}
		}
	}
	return out, nil
}
