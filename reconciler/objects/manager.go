package objects

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// FieldManager is mk8s's server-side apply field manager. Changing it would orphan the
// fields of every object mk8s manages.
const FieldManager = "mk8s"

// OwnerGroup prefixes mk8s's own labels and annotations.
const OwnerGroup = "mk8s.metalk8s.scality.com"

// Manager converges the objects of one site against one cluster. It is not safe for
// concurrent Apply/Plan calls.
type Manager struct {
	client      client.Client
	mapper      meta.RESTMapper
	rm          *ssa.ResourceManager
	site        string
	concurrency int

	// applied records what the API server returned for each real (non dry-run) apply,
	// so the inventory can remember what we last wrote and whether we created it.
	mu      sync.Mutex
	applied map[string]written
	// writes counts the real writes attempted (applies and deletes, successful or not):
	// an apply that failed before the first one changed nothing.
	writes int
}

// written is what a real server-side apply returned for one object.
type written struct {
	resourceVersion string
	uid             string
	// onlyMk8s: mk8s is the only field manager of the object. Right after the apply
	// that created it this is always true; it is false when someone else created the
	// object first, even a moment before.
	onlyMk8s bool
	// created: the server answered 201, this apply created the object.
	created bool
}

// createdKey carries, in a request's context, where to record that the server answered
// 201 Created: the only sure sign that an apply created the object (its change-set
// entry is lost when the apply stops on another object).
type createdKey struct{}

type createdRecorder struct{ next http.RoundTripper }

func (c createdRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusCreated {
		if p, ok := req.Context().Value(createdKey{}).(*atomic.Bool); ok {
			p.Store(true)
		}
	}
	return resp, err
}

// NewOptions configure New.
type NewOptions struct {
	// Site is the site name: the value of the site ownership label and the key of the
	// inventory. Required.
	Site string
	// Concurrency bounds the requests in flight while applying; default 16.
	Concurrency int
}

// New builds a Manager on a REST config.
func New(cfg *rest.Config, opts NewOptions) (*Manager, error) {
	if err := ValidateSiteName(opts.Site); err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 16
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return createdRecorder{next: rt} })
	// The defaults (5 QPS) would make a first apply of 1,000 objects take minutes.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 200, 400
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("objects: HTTP client: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("objects: REST mapper: %w", err)
	}
	base, err := client.NewWithWatch(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("objects: client: %w", err)
	}
	m := &Manager{mapper: mapper, site: opts.Site, concurrency: opts.Concurrency, applied: map[string]written{}}
	m.client = interceptor.NewClient(base, interceptor.Funcs{Patch: m.recordApply, Delete: m.countDelete})
	poller := polling.NewStatusPoller(m.client, mapper, polling.Options{})
	m.rm = ssa.NewResourceManager(m.client, poller, ssa.Owner{Field: FieldManager, Group: OwnerGroup})
	m.rm.SetConcurrency(2)
	return m, nil
}

// ValidateSiteName checks that a site name can be the value of the site label and part
// of the inventory ConfigMap's name: a DNS-1123 label (at most 63 characters).
func ValidateSiteName(site string) error {
	if site == "" {
		return fmt.Errorf("no site name")
	}
	if len(validation.IsDNS1123Label(site)) > 0 {
		return fmt.Errorf("invalid site name %q: it must be at most 63 lower case alphanumeric characters or '-', and start and end with an alphanumeric character", site)
	}
	return nil
}

// Client is the controller-runtime client the Manager uses.
func (m *Manager) Client() client.Client { return m.client }

// recordApply passes every patch through and remembers the resourceVersion of the
// objects that a real server-side apply wrote.
func (m *Manager) recordApply(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	po := &client.PatchOptions{}
	po.ApplyOptions(opts)
	if len(po.DryRun) == 0 {
		m.mu.Lock()
		m.writes++
		m.mu.Unlock()
	}
	var created atomic.Bool
	if err := c.Patch(context.WithValue(ctx, createdKey{}, &created), obj, patch, opts...); err != nil {
		return err
	}
	if len(po.DryRun) > 0 || !strings.HasPrefix(string(patch.Type()), "application/apply-patch") {
		return nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	m.mu.Lock()
	m.applied[objectID(u)] = written{resourceVersion: u.GetResourceVersion(), uid: string(u.GetUID()), onlyMk8s: onlyManagedBy(u, FieldManager), created: created.Load()}
	m.mu.Unlock()
	return nil
}

// countDelete counts a real deletion as a write attempt and passes it through.
func (m *Manager) countDelete(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
	do := &client.DeleteOptions{}
	do.ApplyOptions(opts)
	if len(do.DryRun) == 0 {
		m.mu.Lock()
		m.writes++
		m.mu.Unlock()
	}
	return c.Delete(ctx, obj, opts...)
}

// takeApplied returns what the real applies since the last call returned, and how many
// writes were attempted.
func (m *Manager) takeApplied() (map[string]written, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, n := m.applied, m.writes
	m.applied, m.writes = map[string]written{}, 0
	return out, n
}

// onlyManagedBy reports whether every field of the object is managed by one manager.
func onlyManagedBy(u *unstructured.Unstructured, manager string) bool {
	mfs := u.GetManagedFields()
	for _, mf := range mfs {
		if mf.Manager != manager {
			return false
		}
	}
	return len(mfs) > 0
}

// objectID is the Flux inventory id of an object: <namespace>_<name>_<group>_<Kind>.
func objectID(u *unstructured.Unstructured) string {
	return object.UnstructuredToObjMetadata(u).String()
}

// subjectOf names an object as change entries do: Kind/namespace/name, or Kind/name
// for a cluster-scoped object (the form Flux and kubectl users know).
func subjectOf(u *unstructured.Unstructured) string {
	return utils.FmtUnstructured(u)
}

func clientKey(u *unstructured.Unstructured) client.ObjectKey { return client.ObjectKeyFromObject(u) }
