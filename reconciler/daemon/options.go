package daemon

import (
	"context"
	"log/slog"
	"net"
	"time"

	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// Trigger names for Trigger.Reasons.
const (
	TriggerStart     = "start"     // the daemon started leading
	TriggerPoll      = "poll"      // the poll interval elapsed
	TriggerWebhook   = "webhook"   // an authenticated push webhook
	TriggerGitPush   = "git-push"  // a ref of the watched local bare repository moved
	TriggerRequested = "requested" // the requestedAt annotation (mk8s reconcile --now)
	TriggerResume    = "resume"    // spec.suspend went back to false
	TriggerSuspend   = "suspend"   // spec.suspend became true (records Suspended)
)

// Trigger is what the pipeline is told about one reconcile.
type Trigger struct {
	// Reasons lists every trigger folded into this run, in arrival order, each once.
	Reasons []string
	// RequestedAt is the requestedAt annotation being handled, if any.
	RequestedAt string
	// LastAppliedRevision is the revision the Site records as applied: the base for
	// signature verification and the no-rollback rule.
	LastAppliedRevision string
	// Inventory is the recorded object inventory (what prune may delete).
	Inventory []status.InventoryEntry
	// RenewalDue says the recorded next certificate renewal has come: the pipeline
	// must converge the hosts even if the revision is the one already applied.
	RenewalDue bool
	// progress marks the Site Reconciling; see Progress.
	progress func(revision, message string)
}

// Progress marks the Site Reconciling at revision (Ready=Unknown, Reconciling=True,
// lastAttemptedRevision=revision). The pipeline calls it once it knows there is work
// to do, so a no-op poll writes nothing to the API; calling it again updates the
// message. A reconcile interrupted after Progress stays visibly Reconciling until the
// next start finishes it.
func (t Trigger) Progress(revision, message string) {
	if t.progress != nil {
		t.progress(revision, message)
	}
}

// Outcome is what the pipeline reports about one reconcile.
type Outcome struct {
	// Revision is the revision attempted (the source head); empty when the source
	// failed before resolving one.
	Revision string
	// NoOp means there was nothing to do (the revision and the reconciler's config are
	// those already applied): nothing is written to the Site unless it is not yet
	// recorded as Ready at that revision.
	NoOp bool
	// Reason classifies a failure (status.ReasonValidationFailed, …); empty means
	// status.ReasonFailed when the error is not nil. Ignored on success.
	Reason string
	// Hosts and Objects are the actions taken, for metrics, status and events; Volumes
	// those of the Volumes phase (storage on the nodes, PersistentVolumes, status).
	Hosts   change.Set
	Objects change.Set
	Volumes change.Set
	// Nodes is the per-node result; nil when hosts were not reached.
	Nodes []status.NodeResult
	// Inventory is the new inventory; nil keeps the recorded one.
	Inventory []status.InventoryEntry
	// Certificates are those on the hosts after the reconcile, for the expiry metrics
	// and the status summary; nil keeps the recorded ones (hosts not reached).
	Certificates []pki.Certificate
	// Note is an operator-facing remark recorded with a success (in the Ready
	// condition, the history and the event), e.g. a rollback accepted by the
	// operator's one-shot override.
	Note string
}

// ReconcileFunc runs one reconcile. It must honour ctx: on cancellation it returns
// promptly, leaving the next run to finish the job. A non-nil error is a failed
// reconcile, classified by Outcome.Reason.
type ReconcileFunc func(ctx context.Context, trigger Trigger) (Outcome, error)

// LeaseOptions tune the leader election.
type LeaseOptions struct {
	// Namespace and Name of the Lease; defaults "kube-system" and "mk8s-<site>".
	Namespace, Name string
	// Identity of this daemon in the Lease; default "<hostname>_<random>".
	Identity string
	// Duration, RenewDeadline and RetryPeriod default to 15s, 10s and 2s (those of
	// controller-runtime).
	Duration, RenewDeadline, RetryPeriod time.Duration
}

// Options configure Run.
type Options struct {
	// Config reaches the cluster where the Site, its Events and the Lease live.
	Config *rest.Config
	// Site names the Site object (one per cluster).
	Site string
	// Source is recorded in spec.source (informative).
	Source *status.SourceRef
	// Reconcile is the pipeline.
	Reconcile ReconcileFunc
	// Logger receives the daemon's logs; default discards.
	Logger *slog.Logger

	// Listen is the address of the HTTP server (/healthz, /readyz, /metrics, /webhook),
	// e.g. "127.0.0.1:9440"; Listener, when set, is used instead.
	Listen   string
	Listener net.Listener

	// PollInterval between reconciles, counted from the end of the previous one; 0
	// disables polling. PollJitter adds up to that fraction of the interval at random
	// (default 0.1) so that many sites do not poll in step.
	PollInterval time.Duration
	PollJitter   float64

	// WebhookSecretFile holds the HMAC-SHA256 secret of the push webhook; empty
	// disables the webhook (it is never served unauthenticated).
	WebhookSecretFile string
	// WebhookMaxBody bounds the request body; default 1 MiB.
	WebhookMaxBody int64

	// WatchRepo is a local bare repository whose refs trigger a reconcile when they
	// move (git push to the bootstrap node); empty disables the watch.
	WatchRepo string
	// WatchDebounce folds a burst of ref changes into one trigger; default 100ms.
	WatchDebounce time.Duration

	// Lease tunes the leader election.
	Lease LeaseOptions

	// ShutdownGrace is how long a reconcile running at shutdown may go on before it is
	// cancelled (it is then finished by the next start); default 20s.
	ShutdownGrace time.Duration
	// RetryInterval is the delay before retrying the daemon's own API calls (CRD,
	// Site) when they fail; default 5s.
	RetryInterval time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollJitter == 0 {
		o.PollJitter = 0.1
	}
	if o.WebhookMaxBody == 0 {
		o.WebhookMaxBody = 1 << 20
	}
	if o.WatchDebounce == 0 {
		o.WatchDebounce = 100 * time.Millisecond
	}
	if o.Lease.Namespace == "" {
		o.Lease.Namespace = "kube-system"
	}
	if o.Lease.Name == "" {
		o.Lease.Name = "mk8s-" + o.Site
	}
	if o.Lease.Duration == 0 {
		o.Lease.Duration = 15 * time.Second
	}
	if o.Lease.RenewDeadline == 0 {
		o.Lease.RenewDeadline = 10 * time.Second
	}
	if o.Lease.RetryPeriod == 0 {
		o.Lease.RetryPeriod = 2 * time.Second
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = 20 * time.Second
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 5 * time.Second
	}
}
