package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/object"
	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/reconciler/source/gitfs"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// ErrInvalid means a revision does not validate (or render): Result.Diagnostics lists
// every error with its file and line.
var ErrInvalid = errors.New("a revision is not valid")

// Options of Plan.
type Options struct {
	// Repo is a repository directory (working tree or bare) or a URL.
	Repo string
	// From is the base (what the reconciler applies today: main), To the change (the
	// pull request's head); revisions as git understands them.
	From, To string
	// SiteName is the site label value; reconciler.DefaultSiteName when empty.
	SiteName string
	// Trust checks the commits of From..To as the reconciler would; nil skips it.
	Trust *verify.Trust
	// TrustMode is the reconciler's trust.mode (range or head).
	TrustMode verify.Mode
	// Decrypt reads encrypted credentials. Without it they are compared by a digest of
	// their ciphertext: a CI runner has no key, and a reviewer needs no plaintext.
	Decrypt render.DecryptFunc
	// Live, when set, plans To against the cluster and reports its drift from From.
	Live *LiveOptions
	// OpenArchive opens the Solution archives the revisions import (solution.Open).
	// Offline, an archive it cannot open (or no OpenArchive: a CI runner has no ISO)
	// leaves the objects of Solutions out of the comparison, with a skipped entry naming
	// the archive; live, the plan needs them as a reconcile does.
	OpenArchive solution.OpenFunc
}

// LiveOptions reach the cluster and, optionally, the hosts.
type LiveOptions struct {
	Kube *rest.Config
	// Hosts probes the hosts over SSH; nil compares their rendered state offline.
	Hosts reconciler.HostReconciler
	// Volumes plans the Volumes phase (storage on the nodes, PersistentVolumes); used
	// only with Hosts.
	Volumes reconciler.VolumeReconciler
	// AllowPruneAll as for mk8s plan.
	AllowPruneAll bool
}

// Revision is one side of the change.
type Revision struct {
	Revision string `json:"revision"`
	Commit   string `json:"commit"`
	Subject  string `json:"subject"`
}

// Diagnostics are the warnings and errors of loading each revision.
type Diagnostics struct {
	From diag.List `json:"from,omitempty"`
	To   diag.List `json:"to,omitempty"`
}

// Result is the review of a change.
type Result struct {
	// Mode is "offline" (two renders compared) or "live" (To planned against the cluster).
	Mode string   `json:"mode"`
	From Revision `json:"from"`
	To   Revision `json:"to"`
	// Descends is false when To does not descend from From: a rewind or replaced
	// history, which the reconciler refuses (short of the operator's allow-rollback).
	Descends    bool        `json:"descends"`
	Diagnostics Diagnostics `json:"diagnostics"`
	// Signatures is the verdict on every commit of the range; nil when no trust was given.
	Signatures *verify.RangeReview `json:"signatures,omitempty"`
	// Objects and Hosts are what the change does. Offline, objects are compared between
	// the renders; live, they are the plan of To against the cluster.
	Objects change.Set `json:"objects"`
	Hosts   change.Set `json:"hosts"`
	// HostsMode says how Hosts were computed: "offline" (rendered state compared) or
	// "probed" (over SSH, against the hosts).
	HostsMode string `json:"hostsMode"`
	// Volumes are, live with probed hosts, the steps of the Volumes phase: storage
	// prepared or released on the nodes, PersistentVolumes, Volume status.
	Volumes change.Set `json:"volumes,omitempty"`
	// Drift is, live, what the cluster differs from From: what a reconcile of From would
	// change now (edits made outside the repository, or From not applied yet).
	Drift change.Set `json:"drift,omitempty"`
}

// WouldBeRefused reports whether the reconciler would refuse the push of To over From.
func (r *Result) WouldBeRefused() bool {
	return !r.Descends || (r.Signatures != nil && r.Signatures.Refused())
}

// Changes are the object entries, the host entries, then the Volumes phase's.
func (r *Result) Changes() change.Set {
	return append(append(append(change.Set{}, r.Objects...), r.Hosts...), r.Volumes...)
}

// Plan reviews the change From..To of a site repository, changing nothing anywhere.
// An invalid revision returns ErrInvalid with the diagnostics in the result.
func Plan(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{Mode: "offline", HostsMode: "offline", Objects: change.Set{}, Hosts: change.Set{}}
	if opts.Live != nil {
		res.Mode = "live"
		if opts.Live.Hosts != nil {
			res.HostsMode = "probed"
		}
	}
	if opts.SiteName == "" {
		opts.SiteName = reconciler.DefaultSiteName
	}

	// The two commits, read from git objects as the reconciler reads them.
	repo, err := openRepo(ctx, opts.Repo)
	if err != nil {
		return res, err
	}
	from, err := resolve(repo, "--from", opts.From)
	if err != nil {
		return res, err
	}
	to, err := resolve(repo, "--to", opts.To)
	if err != nil {
		return res, err
	}
	res.From, res.To = revision(opts.From, from), revision(opts.To, to)

	// Would the reconciler take the push? A rewind never; an unsigned commit not either.
	if res.Descends, err = descends(from, to); err != nil {
		return res, err
	}
	if opts.Trust != nil {
		res.Signatures, err = opts.Trust.ReviewRange(ctx, repo.Storer, verify.RangeOptions{From: from.Hash, To: to.Hash, Mode: opts.TrustMode})
		if err != nil {
			return res, fmt.Errorf("checking the signatures of %s..%s: %w", opts.From, opts.To, err)
		}
	}

	// Both revisions must be valid sites: every error of each is reported.
	fromSite, fromDiags, err := load(ctx, from)
	if err != nil {
		return res, fmt.Errorf("--from %s: %w", opts.From, err)
	}
	toSite, toDiags, err := load(ctx, to)
	if err != nil {
		return res, fmt.Errorf("--to %s: %w", opts.To, err)
	}
	res.Diagnostics = Diagnostics{From: fromDiags, To: toDiags}
	if fromSite == nil || toSite == nil {
		return res, invalid(res.Diagnostics, fromSite == nil, toSite == nil)
	}

	if opts.Live != nil {
		return res, planLive(ctx, res, fromSite, toSite, opts)
	}

	// Offline: what each revision renders, compared.
	decrypt := opts.Decrypt
	if decrypt == nil {
		decrypt = ciphertextDigest
	}
	archives, unread, refused, err := openArchives(ctx, opts.OpenArchive, fromSite, toSite)
	if err != nil {
		return res, err
	}
	more, toRefused := refuseArchives(res, toSite, refused)
	if toRefused {
		return res, invalid(res.Diagnostics, false, true)
	}
	unread = append(unread, more...)
	ro := render.Options{SiteName: opts.SiteName, Decrypt: decrypt, Archives: archives, WithoutArchives: len(unread) > 0}
	fromObjs, err := render.Objects(fromSite, ro)
	if err != nil {
		return res, renderError("--from "+opts.From, &res.Diagnostics.From, err)
	}
	toObjs, err := render.Objects(toSite, ro)
	if err != nil {
		return res, renderError("--to "+opts.To, &res.Diagnostics.To, err)
	}
	if res.Objects, err = objects.Compare(fromObjs, toObjs); err != nil {
		return res, err
	}
	res.Objects = append(res.Objects, unread...)
	if res.Hosts, err = hostsync.Compare(fromSite, toSite, hostsync.CompareOptions{}); err != nil {
		return res, fmt.Errorf("hosts: %w", err)
	}
	return res, nil
}

// planLive is the plan of To against the cluster, as mk8s plan --dir prints it, and
// the drift the cluster has from From: the plan of From, whose changes are what the
// cluster holds that From does not say.
func planLive(ctx context.Context, res *Result, fromSite, toSite *schema.Site, opts Options) error {
	lo := opts.Live
	base := reconciler.Options{SiteName: opts.SiteName, Kube: lo.Kube, Hosts: lo.Hosts, ObjectsOnly: lo.Hosts == nil,
		Volumes:       lo.Volumes,
		AllowPruneAll: lo.AllowPruneAll, Decrypt: opts.Decrypt, OpenArchive: opts.OpenArchive}
	planOf := func(site *schema.Site) (reconciler.Result, error) {
		o := base
		o.Site = site
		return reconciler.Plan(ctx, o)
	}
	var errs []error
	toPlan, err := planOf(toSite)
	res.Objects = nonNil(toPlan.Objects)
	if err != nil {
		errs = append(errs, fmt.Errorf("plan of --to %s: %w", opts.To, err))
	}
	if lo.Hosts != nil {
		res.Hosts = nonNil(toPlan.Hosts)
		res.Volumes = toPlan.Volumes
	} else if res.Hosts, err = hostsync.Compare(fromSite, toSite, hostsync.CompareOptions{}); err != nil {
		errs = append(errs, fmt.Errorf("hosts: %w", err))
	}
	fromPlan, err := planOf(fromSite)
	if err != nil {
		errs = append(errs, fmt.Errorf("drift from --from %s: %w", opts.From, err))
	}
	for _, e := range fromPlan.Changes() {
		if e.Action != change.Unchanged && e.Action != change.Skipped {
			res.Drift = append(res.Drift, e)
		}
	}
	return errors.Join(errs...)
}

func nonNil(s change.Set) change.Set {
	if s == nil {
		return change.Set{}
	}
	return s
}

func revision(name string, c *object.Commit) Revision {
	return Revision{Revision: name, Commit: c.Hash.String(), Subject: firstLine(c.Message)}
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// descends reports whether to is from or one of its descendants.
func descends(from, to *object.Commit) (bool, error) {
	if from.Hash == to.Hash {
		return true, nil
	}
	ok, err := from.IsAncestor(to)
	if err != nil {
		return false, fmt.Errorf("is %s an ancestor of %s: %w", from.Hash, to.Hash, err)
	}
	return ok, nil
}

// load reads and validates the site of a commit; a nil site with the diagnostics when
// it is not valid.
func load(ctx context.Context, c *object.Commit) (*schema.Site, diag.List, error) {
	fsys, err := gitfs.New(c)
	if err != nil {
		return nil, nil, err
	}
	site, diags := schema.Load(ctx, fsys)
	return site, diags, nil
}

func invalid(d Diagnostics, from, to bool) error {
	var which []string
	if from {
		which = append(which, fmt.Sprintf("--from has %d error(s)", len(d.From.Errors())))
	}
	if to {
		which = append(which, fmt.Sprintf("--to has %d error(s)", len(d.To.Errors())))
	}
	return fmt.Errorf("%w: %v", ErrInvalid, which)
}

// renderError reports a render refused for a located reason (an encrypted credential
// the given key cannot read, a version of a Solution that is not imported) as
// diagnostics of that revision, like validation errors.
func renderError(which string, diags *diag.List, err error) error {
	var located interface{ Diagnostics() diag.List }
	if errors.As(err, &located) {
		*diags = append(*diags, located.Diagnostics()...)
		return fmt.Errorf("%w: %s: %w", ErrInvalid, which, err)
	}
	return fmt.Errorf("%s: %w", which, err)
}

// ciphertextDigest stands in for decryption in a review without the reconciler's key:
// the value becomes a digest of its ciphertext, so a credential that was re-encrypted
// or changed shows as changed (and is masked in diffs like any credential), and nothing
// secret is ever needed or shown.
func ciphertextDigest(value string) (string, error) {
	sum := sha256.Sum256([]byte(value))
	return "encrypted:sha256:" + hex.EncodeToString(sum[:8]), nil
}
