package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/reconciler/source/iso"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// ImportOptions says what `mk8s iso import` (and inspect) does.
type ImportOptions struct {
	// ISO is the image file.
	ISO string
	// RepoInISO is the bare repository's directory in the image; iso.DefaultRepo when empty.
	RepoInISO string
	// Repo is the local bare site repository to fast-forward.
	Repo string
	// Ref is the branch, in the image and locally.
	Ref string
	// Mode is the verification mode (range by default).
	Mode verify.Mode
	// Trust is the set of trusted keys (for the manifest and the commits).
	Trust *verify.Trust
	// DryRun verifies everything and changes nothing (inspect).
	DryRun bool
}

// ImportResult is what an import found and did.
type ImportResult struct {
	ISO      string                   `json:"iso"`
	Files    int                      `json:"files"`
	Manifest verify.Signed            `json:"manifestSignedBy"`
	Ref      string                   `json:"ref"`
	From     string                   `json:"from,omitempty"`
	To       string                   `json:"to"`
	Commits  []verify.CommitSignature `json:"commits"`
	// Imported is true when the local branch was moved; false for a dry run or when the
	// branch already pointed at To.
	Imported bool `json:"imported"`
	// Objects is how many git objects were copied.
	Objects int `json:"objects"`
}

// Import checks an ISO's integrity, verifies the commits of the repository it carries
// from the local branch head to the image's branch head, and fast-forwards the local
// branch. A refusal (*iso.IntegrityError, *verify.RefusedError) leaves the local
// repository untouched: objects are copied only after everything was verified.
func Import(ctx context.Context, opts ImportOptions) (*ImportResult, error) {
	if opts.RepoInISO == "" {
		opts.RepoInISO = iso.DefaultRepo
	}
	if opts.Ref == "" {
		opts.Ref = "main"
	}
	img, err := iso.Open(opts.ISO)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	manifest, err := img.Check(opts.Trust)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{ISO: opts.ISO, Files: len(manifest.Files), Manifest: manifest.Signed, Ref: opts.Ref}
	tmp, err := os.MkdirTemp("", "mk8s-iso-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := img.Extract(opts.RepoInISO, filepath.Join(tmp, "repo.git")); err != nil {
		return nil, err
	}
	src, err := git.PlainOpen(filepath.Join(tmp, "repo.git"))
	if err != nil {
		return nil, fmt.Errorf("ISO %s: /%s: %w", opts.ISO, opts.RepoInISO, err)
	}
	branch := plumbing.NewBranchReferenceName(opts.Ref)
	head, err := src.Reference(branch, true)
	if err != nil {
		return nil, fmt.Errorf("ISO %s: /%s: branch %s: %w", opts.ISO, opts.RepoInISO, opts.Ref, err)
	}
	res.To = head.Hash().String()
	local, err := git.PlainOpen(localPath(opts.Repo)) // a file:// source.url names it too
	if err != nil {
		return nil, fmt.Errorf("local site repository %s: %w", opts.Repo, err)
	}
	from := plumbing.ZeroHash
	cur, err := local.Reference(branch, true)
	switch {
	case err == nil:
		from = cur.Hash()
		res.From = from.String()
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return nil, fmt.Errorf("local site repository %s: %w", opts.Repo, err)
	}
	if !from.IsZero() {
		if _, err := src.CommitObject(from); err != nil {
			return nil, &verify.RefusedError{Commit: res.To, Reason: verify.ReasonNotDescendant,
				Detail: fmt.Sprintf("the image does not carry the local head %s of %s: it cannot fast-forward it", from, opts.Ref)}
		}
	}
	rr, err := opts.Trust.VerifyRange(ctx, src.Storer, verify.RangeOptions{From: from, To: head.Hash(), Mode: opts.Mode})
	if err != nil {
		return nil, err
	}
	res.Commits = rr.Commits
	if opts.DryRun || head.Hash() == from {
		return res, nil
	}
	if res.Objects, err = copyObjects(ctx, src.Storer, local.Storer, head.Hash()); err != nil {
		return nil, fmt.Errorf("import into %s: %w", opts.Repo, err)
	}
	newRef := plumbing.NewHashReference(branch, head.Hash())
	if from.IsZero() {
		err = local.Storer.SetReference(newRef)
	} else {
		err = local.Storer.CheckAndSetReference(newRef, cur)
	}
	if err != nil {
		return nil, fmt.Errorf("import into %s: move %s: %w", opts.Repo, opts.Ref, err)
	}
	res.Imported = true
	return res, nil
}
