package status

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API identity of the Site resource.
const (
	Group      = "mk8s.metalk8s.scality.com"
	Version    = "v1alpha1"
	Kind       = "Site"
	Resource   = "sites"
	APIVersion = Group + "/" + Version

	// FieldManager owns what the reconciler writes (spec.source, status, the CRD).
	FieldManager = "mk8s"
	// CLIFieldManager owns what users flip with the CLI (spec.suspend, the annotation).
	CLIFieldManager = "mk8s-cli"

	// RequestedAtAnnotation asks the daemon for a reconcile now (Flux's
	// reconcile.fluxcd.io/requestedAt); any new value triggers one, and the handled
	// value is recorded in status.lastHandledReconcileAt.
	RequestedAtAnnotation = "reconcile.mk8s.metalk8s.scality.com/requestedAt"
	// RevisionAnnotation is set on every Event to the revision it is about.
	RevisionAnnotation = "mk8s.metalk8s.scality.com/revision"

	// HistoryLimit is how many reconciles status.history keeps.
	HistoryLimit = 10
)

// GVR is the resource of Site objects.
var GVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// GVK is the kind of Site objects.
func GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: Group, Version: Version, Kind: Kind}
}

// Condition types (kstatus-compatible: Reconciling and Stalled are "abnormal-true").
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Reasons of the conditions; one per way a reconcile ends.
const (
	ReasonSucceeded            = "ReconciliationSucceeded"
	ReasonProgressing          = "Progressing"
	ReasonProgressingWithRetry = "ProgressingWithRetry"
	ReasonSuspended            = "Suspended"
	ReasonSourceFailed         = "SourceFailed"
	ReasonVerificationFailed   = "VerificationFailed"
	ReasonValidationFailed     = "ValidationFailed"
	ReasonHostsFailed          = "HostsFailed"
	ReasonApplyFailed          = "ApplyFailed"
	ReasonPruneRefused         = "PruneRefused"
	ReasonHealthCheckFailed    = "HealthCheckFailed"
	ReasonInterrupted          = "Interrupted"
	ReasonFailed               = "ReconciliationFailed"
)

// Terminal reports whether a failure reason cannot heal by retrying the same revision:
// only a new commit (or a change of the reconciler's config) can fix it, so the Site is
// Stalled rather than Reconciling with retry.
func Terminal(reason string) bool {
	switch reason {
	case ReasonVerificationFailed, ReasonValidationFailed, ReasonPruneRefused:
		return true
	}
	return false
}

// Site is the custom resource, one per cluster.
type Site struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SiteSpec   `json:"spec,omitempty"`
	Status            SiteStatus `json:"status,omitempty"`
}

// SiteSpec holds what users may set.
type SiteSpec struct {
	// Suspend stops reconciles until it is false again.
	Suspend bool `json:"suspend,omitempty"`
	// Source says where the site comes from (informative).
	Source *SourceRef `json:"source,omitempty"`
}

// SourceRef names the git source, as the reconciler's config does.
type SourceRef struct {
	URL string `json:"url,omitempty"`
	Ref string `json:"ref,omitempty"`
}

// SiteStatus is what the reconciler records.
type SiteStatus struct {
	ObservedGeneration     int64              `json:"observedGeneration,omitempty"`
	Conditions             []metav1.Condition `json:"conditions,omitempty"`
	LastAppliedRevision    string             `json:"lastAppliedRevision,omitempty"`
	LastAttemptedRevision  string             `json:"lastAttemptedRevision,omitempty"`
	LastHandledReconcileAt string             `json:"lastHandledReconcileAt,omitempty"`
	Nodes                  []NodeState        `json:"nodes,omitempty"`
	Inventory              *Inventory         `json:"inventory,omitempty"`
	History                []HistoryEntry     `json:"history,omitempty"`
	// Certificates summarizes the certificates on the nodes, as of the last reconcile
	// that reached the hosts.
	Certificates *CertificatesStatus `json:"certificates,omitempty"`
}

// CertificatesStatus is what operators watch of the PKI: the certificate that expires
// first, when the next renewal is due, and the CAs (which mk8s never renews on its own).
type CertificatesStatus struct {
	// Count is how many certificates the nodes hold (CA copies and kubeconfigs included).
	Count int `json:"count"`
	// NextExpiry is the certificate that expires first.
	NextExpiry *CertificateRef `json:"nextExpiry,omitempty"`
	// NextRenewal is when a reconcile re-issues the first leaf certificate: the daemon
	// converges the hosts then even when the revision did not change.
	NextRenewal *metav1.Time `json:"nextRenewal,omitempty"`
	// Authorities are the CAs, once per path.
	Authorities []CertificateRef `json:"authorities,omitempty"`
}

// CertificateRef is one certificate of one node.
type CertificateRef struct {
	Node     string      `json:"node"`
	Path     string      `json:"path"`
	NotAfter metav1.Time `json:"notAfter"`
}

// NodeState is the convergence of one host.
type NodeState struct {
	Name string `json:"name"`
	// Revision is the last revision fully applied to this node.
	Revision string `json:"revision,omitempty"`
	// FailingResource names the host resource that failed in the last attempt
	// ("File /etc/kubernetes/kubelet.conf"); empty when the node converged.
	FailingResource string       `json:"failingResource,omitempty"`
	Message         string       `json:"message,omitempty"`
	LastTransition  *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// Inventory lists the objects mk8s applied, in Flux's ResourceRef format.
type Inventory struct {
	Entries []InventoryEntry `json:"entries"`
}

// InventoryEntry is one object: ID is "<namespace>_<name>_<group>_<kind>" (a
// cli-utils ObjMetadata string) and V its API version.
type InventoryEntry struct {
	ID string `json:"id"`
	V  string `json:"v"`
}

// HistoryEntry is one reconcile that did something or failed. Consecutive identical
// results (same revision and result) are folded into one entry with a Count.
type HistoryEntry struct {
	Revision  string      `json:"revision,omitempty"`
	Result    string      `json:"result"`
	Message   string      `json:"message,omitempty"`
	Trigger   string      `json:"trigger,omitempty"`
	StartedAt metav1.Time `json:"startedAt"`
	Duration  string      `json:"duration,omitempty"`
	Count     int64       `json:"count,omitempty"`
}

// Condition returns the condition of that type, or nil.
func (s *SiteStatus) Condition(t string) *metav1.Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// IsReady reports whether Ready is True.
func (s *Site) IsReady() bool {
	c := s.Status.Condition(ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue
}

// durationString renders a duration rounded for humans and status ("1.234s").
func durationString(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
