package verify

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// RangeReview is every commit of a range with its verdict, newest first.
type RangeReview struct {
	Commits []CommitVerdict `json:"commits"`
	// NotDescendant is set when To does not descend from From (a rewind or replaced history): the reconciler refuses the push as a whole.
	NotDescendant *RefusedError `json:"notDescendant,omitempty"`
}

// CommitVerdict is one commit: Signed when accepted, Refused (with the reason) when the reconciler would refuse it.
type CommitVerdict struct {
	Commit  string        `json:"commit"`
	Subject string        `json:"subject"`
	Signed  *Signed       `json:"signed,omitempty"`
	Refused *RefusedError `json:"refused,omitempty"`
}

// Refused reports whether the reconciler would refuse the push (any refused commit or NotDescendant).
func (r *RangeReview) Refused() bool {
	if r.NotDescendant != nil {
		return true
	}
	for _, c := range r.Commits {
		if c.Refused != nil {
			return true
		}
	}
	return false
}

// ReviewRange is VerifyRange for a reviewer: the same walk and the same rules (mode range or head, merges' parents, what From already brought is out of the range), but it does not stop at the first refusal: every commit gets a verdict, and a To that does not descend from From is reported in NotDescendant (with the same detail text VerifyRange gives) while the commits reachable from To and not from From are still listed.
//
// A reviewer fixing a pull request needs the whole list at once, not one refusal per
// push. AllowNonDescendant is honoured as VerifyRange honours it (NotDescendant stays
// nil), since the review answers what the reconciler would do with these options. Only
// refusals become verdicts: a missing object or a cancelled ctx is still an error.
func (t *Trust) ReviewRange(ctx context.Context, s storer.EncodedObjectStorer, opts RangeOptions) (*RangeReview, error) {
	// An empty list rather than nil: the JSON says "commits": [] to tools.
	review := &RangeReview{Commits: []CommitVerdict{}}
	if opts.To == opts.From {
		return review, nil
	}
	w, err := walkRange(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	if !opts.AllowNonDescendant {
		review.NotDescendant = w.notDescendant
	}
	for _, c := range w.commits {
		// Verifying a long range takes a while; a reviewer's tool may give up on it.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := t.verdict(c)
		if err != nil {
			return nil, err
		}
		review.Commits = append(review.Commits, v)
	}
	return review, nil
}

// verdict judges one commit; the error is a failure to judge, never a refusal.
func (t *Trust) verdict(c *object.Commit) (CommitVerdict, error) {
	v := CommitVerdict{Commit: c.Hash.String(), Subject: firstLine(c.Message)}
	signed, err := t.Commit(c)
	var refused *RefusedError
	switch {
	case err == nil:
		v.Signed = &signed
	case errors.As(err, &refused):
		v.Refused = refused
	default:
		return CommitVerdict{}, err
	}
	return v, nil
}
