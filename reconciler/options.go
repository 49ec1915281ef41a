package reconciler

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// DefaultSiteName names the site when Options.SiteName is empty: the value of the
// mk8s.metalk8s.scality.com/site label and the key of the inventory.
const DefaultSiteName = "default"

// HostReconciler converges the hosts of a site (the host half, hostsync). Plan probes
// and reports what Apply would do; Apply converges. Both return one entry per host
// resource.
type HostReconciler interface {
	Plan(ctx context.Context, site *schema.Site) (change.Set, error)
	Apply(ctx context.Context, site *schema.Site) (change.Set, error)
}

// VolumeReconciler makes the site's Volumes real once their objects exist
// (reconciler/volumes): storage prepared on the nodes, PersistentVolumes, status, and
// the safe release of removed ones. Plan reports what Reconcile would do.
type VolumeReconciler interface {
	Plan(ctx context.Context, site *schema.Site) (change.Set, error)
	Reconcile(ctx context.Context, site *schema.Site) (change.Set, error)
}

// CertificateReporter is a HostReconciler that also says which certificates its last
// Plan or Apply found or left on the hosts (hostsync.Reconciler): Reconcile and Plan
// copy them into Result.Certificates, for status, metrics and the renewal timer.
type CertificateReporter interface {
	Certificates() []pki.Certificate
}

// Options of one reconcile or plan. The site comes from Site, else FS, else Dir.
type Options struct {
	// Site is an already loaded and validated site.
	Site *schema.Site
	// FS is a site tree (for example a revision read from git objects by the source).
	FS fs.FS
	// Dir is a site directory.
	Dir string
	// SiteName: see DefaultSiteName.
	SiteName string

	// Kube is the cluster's REST config; required unless HostsOnly.
	Kube *rest.Config
	// Hosts converges the hosts; nil means hosts are not converged (reported as a
	// skipped entry unless ObjectsOnly).
	Hosts HostReconciler
	// Volumes runs after the objects are applied, when both halves run; nil leaves
	// Volumes as objects only.
	Volumes VolumeReconciler

	// ObjectsOnly and HostsOnly run one half alone.
	ObjectsOnly bool
	HostsOnly   bool

	// AllowPruneAll lets a render that keeps none of the managed objects prune them all.
	AllowPruneAll bool
	// Wait for applied objects to be healthy; WaitTimeout bounds it (default 2m).
	Wait        bool
	WaitTimeout time.Duration

	// Decrypt reads the encrypted credentials of the site (render.Options.Decrypt),
	// typically (*secrets.Identities).Decrypt; nil when the reconciler has no age
	// identity, in which case a site holding an encrypted value is not rendered.
	Decrypt render.DecryptFunc

	// OpenArchive opens and validates a Solution archive (solution.Open, possibly
	// behind a cache). Every archive of solutions.yaml is opened before anything is
	// touched, hosts included, and one that cannot be opened refuses the revision with
	// a diagnostic. Nil is an error for a site that imports archives.
	OpenArchive solution.OpenFunc

	// Logger receives progress at info level; nil discards.
	Logger *slog.Logger
}

// Result of a reconcile or plan.
type Result struct {
	// Diagnostics of loading and validating the site (warnings, or the errors that
	// stopped everything).
	Diagnostics diag.List `json:"diagnostics,omitempty"`
	// Hosts and Objects are the actions taken (or, for a plan, pending).
	Hosts   change.Set `json:"hosts,omitempty"`
	Objects change.Set `json:"objects,omitempty"`
	// Volumes are the steps of the Volumes phase: storage on the nodes, PersistentVolumes,
	// Volume status and finalizers.
	Volumes change.Set `json:"volumes,omitempty"`
	// Inventory is the object inventory after the run (nil for a plan or when objects
	// were not reached).
	Inventory *objects.Inventory `json:"inventory,omitempty"`
	// Certificates are those on the hosts after the run (for a plan: after the apply it
	// plans); nil when the hosts were not reached or the host half does not report them.
	Certificates []pki.Certificate `json:"certificates,omitempty"`
}

// Changes returns every entry, hosts first.
func (r Result) Changes() change.Set {
	out := append(change.Set{}, r.Hosts...)
	out = append(out, r.Objects...)
	return append(out, r.Volumes...)
}
