package verify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
)

// reviewWorld is a real repository with commits signed by the real gpg and ssh-keygen,
// and the trust of a reconciler that knows gpg and ssh but not stranger.
type reviewWorld struct {
	t        *testing.T
	gpg      *signing.GPGKey
	ssh      *signing.SSHKey
	stranger *signing.GPGKey
	work     *signing.Repo
	trust    *Trust
}

func newReviewWorld(t *testing.T) *reviewWorld {
	t.Helper()
	dir := t.TempDir()
	w := &reviewWorld{t: t}
	w.gpg = signing.NewGPGKey(t, "Ops PGP", "pgp@example.invalid", signing.GPGOptions{})
	w.ssh = signing.NewSSHKey(t, dir, "sshsign", "ssh@example.invalid")
	w.stranger = signing.NewGPGKey(t, "Stranger", "stranger@example.invalid", signing.GPGOptions{})
	w.work = signing.NewRepo(t, filepath.Join(dir, "work"))
	as := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(as, []byte(w.ssh.AllowedSigner("")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrust(TrustOptions{OpenPGPKeyFiles: []string{w.gpg.PublicKeyFile}, AllowedSignersFile: as})
	if err != nil {
		t.Fatal(err)
	}
	w.trust = tr
	return w
}

// storer opens the repository as it is now; go-git reads objects lazily, so open it after
// the commits are made.
func (w *reviewWorld) storer() storer.EncodedObjectStorer {
	w.t.Helper()
	repo, err := git.PlainOpen(w.work.Dir)
	if err != nil {
		w.t.Fatal(err)
	}
	return repo.Storer
}

func (w *reviewWorld) review(from, to string, mode Mode) *RangeReview {
	w.t.Helper()
	r, err := w.trust.ReviewRange(context.Background(), w.storer(), w.opts(from, to, mode))
	if err != nil {
		w.t.Fatalf("review %s..%s: %v", from, to, err)
	}
	return r
}

func (w *reviewWorld) opts(from, to string, mode Mode) RangeOptions {
	o := RangeOptions{To: plumbing.NewHash(to), Mode: mode}
	if from != "" {
		o.From = plumbing.NewHash(from)
	}
	return o
}

// want is the expected verdict of one commit: reason "" for accepted.
type want struct {
	commit string
	reason Reason
}

func assertVerdicts(t *testing.T, r *RangeReview, wants ...want) {
	t.Helper()
	if len(r.Commits) != len(wants) {
		t.Fatalf("%d verdicts, want %d: %s", len(r.Commits), len(wants), asJSON(t, r))
	}
	for i, w := range wants {
		v := r.Commits[i]
		if v.Commit != w.commit {
			t.Fatalf("verdict %d is for %s, want %s (newest first): %s", i, v.Commit, w.commit, asJSON(t, r))
		}
		if (v.Signed == nil) == (v.Refused == nil) {
			t.Fatalf("verdict %d must be exactly one of signed and refused: %s", i, asJSON(t, r))
		}
		switch {
		case w.reason == "" && v.Refused != nil:
			t.Fatalf("%s refused (%v), want accepted", v.Commit, v.Refused)
		case w.reason != "" && v.Refused == nil:
			t.Fatalf("%s accepted (%+v), want refused %s", v.Commit, *v.Signed, w.reason)
		case w.reason != "" && (v.Refused.Reason != w.reason || v.Refused.Commit != v.Commit):
			t.Fatalf("%s refused %s of %s, want %s", v.Commit, v.Refused.Reason, v.Refused.Commit, w.reason)
		}
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every refusal of a range is listed, not only the first, with the reason and the key;
// VerifyRange on the same range still stops at the first one, the newest.
func TestReviewRangeListsEveryRefusal(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", map[string]string{"cluster.yaml": "name: a\n"})
	good := w.work.Commit(w.ssh, "good", nil)
	unsigned := w.work.Commit(nil, "unsigned in the middle", nil)
	top := w.work.Commit(w.stranger, "by a stranger", nil)

	r := w.review(base, top, "")
	assertVerdicts(t, r, want{top, ReasonUntrustedKey}, want{unsigned, ReasonUnsigned}, want{good, ""})
	if !r.Refused() || r.NotDescendant != nil {
		t.Fatalf("Refused() = %v, NotDescendant = %v: want refused commits, not a refused push", r.Refused(), r.NotDescendant)
	}
	if r.Commits[0].Subject != "by a stranger" || r.Commits[1].Subject != "unsigned in the middle" {
		t.Fatalf("subjects: %s", asJSON(t, r))
	}
	if k := r.Commits[0].Refused.Key; !strings.HasSuffix(w.stranger.Fingerprint, k) || k == "" {
		t.Fatalf("key %q should identify the stranger's key %s", k, w.stranger.Fingerprint)
	}
	if s := r.Commits[2].Signed; s.Format != "ssh" || s.Signer != "ssh@example.invalid" {
		t.Fatalf("good commit signed by %+v", *s)
	}

	_, err := w.trust.VerifyRange(context.Background(), w.storer(), w.opts(base, top, ""))
	var first *RefusedError
	if !errors.As(err, &first) || *first != *r.Commits[0].Refused {
		t.Fatalf("VerifyRange refused %v, want the review's first refusal %v", err, r.Commits[0].Refused)
	}

	// A reviewer's tool reads the JSON: lower-case names, the reason's stable value.
	var doc struct {
		Commits []struct {
			Signed  map[string]string `json:"signed"`
			Refused map[string]string `json:"refused"`
		} `json:"commits"`
	}
	if err := json.Unmarshal([]byte(asJSON(t, r)), &doc); err != nil {
		t.Fatal(err)
	}
	refused := doc.Commits[1].Refused
	if refused["commit"] != unsigned || refused["reason"] != "unsigned" || !strings.Contains(refused["detail"], "carries no signature") {
		t.Fatalf("refused JSON: %s", asJSON(t, r))
	}
	if _, ok := refused["key"]; ok {
		t.Fatalf("an unsigned commit has no key; the JSON should not carry one: %s", asJSON(t, r))
	}
	if signed := doc.Commits[2].Signed; signed["format"] != "ssh" || !strings.HasPrefix(signed["key"], "SHA256:") {
		t.Fatalf("signed JSON: %s", asJSON(t, r))
	}

	// Nothing applied yet: every commit reachable from To, base included.
	r = w.review("", top, ModeRange)
	assertVerdicts(t, r, want{top, ReasonUntrustedKey}, want{unsigned, ReasonUnsigned}, want{good, ""}, want{base, ""})
}

// A range the reconciler accepts reviews clean, with the signers VerifyRange reports.
func TestReviewRangeAllGood(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", nil)
	one := w.work.Commit(w.ssh, "one", nil)
	two := w.work.Commit(w.gpg, "two", nil)

	r := w.review(base, two, ModeRange)
	assertVerdicts(t, r, want{two, ""}, want{one, ""})
	if r.Refused() {
		t.Fatalf("refused: %s", asJSON(t, r))
	}
	res, err := w.trust.VerifyRange(context.Background(), w.storer(), w.opts(base, two, ModeRange))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range res.Commits {
		if v := r.Commits[i]; v.Commit != c.Commit || v.Subject != c.Subject || *v.Signed != c.Signed {
			t.Fatalf("review %+v disagrees with VerifyRange %+v", v, c)
		}
	}
}

// From == To is nothing to review, and says so in JSON as an empty list.
func TestReviewRangeSameRevision(t *testing.T) {
	w := newReviewWorld(t)
	head := w.work.Commit(nil, "unsigned, but already applied", nil)
	r := w.review(head, head, "")
	if r.Refused() || len(r.Commits) != 0 {
		t.Fatalf("From == To: %s", asJSON(t, r))
	}
	if got := asJSON(t, r); got != `{"commits":[]}` {
		t.Fatalf("JSON %s", got)
	}
}

// A rewind and a replaced history refuse the push as a whole, with VerifyRange's words,
// and the commits the new head would bring are still judged.
func TestReviewRangeNotDescendant(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", nil)
	second := w.work.Commit(w.ssh, "second", nil)
	third := w.work.Commit(w.gpg, "third", nil)

	check := func(name, from, to, says string) *RangeReview {
		t.Helper()
		r := w.review(from, to, "")
		nd := r.NotDescendant
		if nd == nil || nd.Reason != ReasonNotDescendant || nd.Commit != to || !strings.Contains(nd.Detail, says) || !strings.Contains(nd.Detail, from) {
			t.Fatalf("%s: NotDescendant = %+v, want %s of %s saying %q", name, nd, ReasonNotDescendant, to, says)
		}
		if !r.Refused() {
			t.Fatalf("%s: not refused", name)
		}
		_, err := w.trust.VerifyRange(context.Background(), w.storer(), w.opts(from, to, ""))
		var vr *RefusedError
		if !errors.As(err, &vr) || *vr != *nd {
			t.Fatalf("%s: VerifyRange refused %v, review says %v", name, err, nd)
		}
		return r
	}

	// Rewind: the head is already applied; it is still judged, as with the override.
	r := check("rewind", third, second, "rewound")
	assertVerdicts(t, r, want{second, ""})

	// Replaced history: its unsigned commit is listed too, not hidden by the refusal.
	w.work.Git("reset", "-q", "--hard", base)
	unsigned := w.work.Commit(nil, "unsigned alternative", nil)
	other := w.work.Commit(w.gpg, "alternative history", nil)
	r = check("replaced", third, other, "history was replaced")
	assertVerdicts(t, r, want{other, ""}, want{unsigned, ReasonUnsigned})

	// The operator's override is a rule of the range too: with it the push is not refused
	// as a whole, only its unsigned commit is.
	o := w.opts(third, other, "")
	o.AllowNonDescendant = true
	r, err := w.trust.ReviewRange(context.Background(), w.storer(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.NotDescendant != nil {
		t.Fatalf("override: NotDescendant = %v", r.NotDescendant)
	}
	assertVerdicts(t, r, want{other, ""}, want{unsigned, ReasonUnsigned})
}

// Head mode judges the head only, and still refuses a head that does not descend.
func TestReviewRangeHeadMode(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", nil)
	w.work.Commit(nil, "unsigned", nil)
	head := w.work.Commit(w.ssh, "signed head", nil)
	r := w.review(base, head, ModeHead)
	assertVerdicts(t, r, want{head, ""})
	if r.Refused() {
		t.Fatalf("head mode: %s", asJSON(t, r))
	}

	unsignedHead := w.work.Commit(nil, "unsigned head", nil)
	r = w.review(base, unsignedHead, ModeHead)
	assertVerdicts(t, r, want{unsignedHead, ReasonUnsigned})
	if !r.Refused() {
		t.Fatal("an unsigned head is refused in head mode")
	}

	r = w.review(unsignedHead, base, ModeHead)
	assertVerdicts(t, r, want{base, ""})
	if r.NotDescendant == nil {
		t.Fatal("head mode: a rewind must still be refused")
	}
}

// A merge's second parent brings its own commits into the range; an unsigned one is listed.
func TestReviewRangeMergeSecondParent(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", nil)
	w.work.Git("checkout", "-q", "-b", "feature")
	unsigned := w.work.Commit(nil, "unsigned on the branch", map[string]string{"f.yaml": "f: 1\n"})
	w.work.Git("checkout", "-q", "main")
	mainline := w.work.Commit(w.ssh, "signed on main", map[string]string{"m.yaml": "m: 1\n"})
	merge := w.work.Merge(w.gpg, "feature", "merge feature")

	r := w.review(base, merge, "")
	assertVerdicts(t, r, want{merge, ""}, want{mainline, ""}, want{unsigned, ReasonUnsigned})
	if !r.Refused() {
		t.Fatal("refused commit behind a merge: not refused")
	}
}

// Failing to judge is an error, never a verdict: a reviewer must not read "no refusal"
// into a range that could not be read.
func TestReviewRangeErrors(t *testing.T) {
	w := newReviewWorld(t)
	base := w.work.Commit(w.gpg, "base", nil)
	head := w.work.Commit(w.gpg, "head", nil)

	missing := strings.Repeat("ab", 20)
	for name, o := range map[string]RangeOptions{
		"missing head": w.opts(base, missing, ""),
		"missing from": w.opts(missing, head, ""),
	} {
		r, err := w.trust.ReviewRange(context.Background(), w.storer(), o)
		var refused *RefusedError
		if err == nil || errors.As(err, &refused) || !errors.Is(err, plumbing.ErrObjectNotFound) || r != nil {
			t.Fatalf("%s: want a not-found error, got %v, %v", name, r, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.trust.ReviewRange(ctx, w.storer(), w.opts(base, head, "")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
