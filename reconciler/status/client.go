package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ErrNotFound means the Site (or its CRD) does not exist: no reconciler has run yet.
var ErrNotFound = errors.New("site not found")

// Client reads and writes Site objects and their Events.
type Client struct {
	dyn  dynamic.Interface
	core kubernetes.Interface
}

// NewClient builds a Client for the cluster cfg points at.
func NewClient(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{dyn: dyn, core: core}, nil
}

// Dynamic returns the dynamic client (the daemon watches Site objects with it).
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

func (c *Client) sites() dynamic.ResourceInterface { return c.dyn.Resource(GVR) }

// FromUnstructured converts an API object into a Site.
func FromUnstructured(u *unstructured.Unstructured) (*Site, error) {
	s := &Site{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
		return nil, fmt.Errorf("decode Site %s: %w", u.GetName(), err)
	}
	return s, nil
}

func notFound(name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: Site %q does not exist in the cluster (has `mk8s run` started?): %v", ErrNotFound, name, err)
	}
	return fmt.Errorf("Site %q: %w", name, err)
}

// Get reads one Site.
func (c *Client) Get(ctx context.Context, name string) (*Site, error) {
	u, err := c.sites().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, notFound(name, err)
	}
	return FromUnstructured(u)
}

// List reads every Site, sorted by name.
func (c *Client) List(ctx context.Context) ([]Site, error) {
	l, err := c.sites().List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: the Site CRD %s is not installed (has `mk8s run` started?)", ErrNotFound, CRDName)
		}
		return nil, fmt.Errorf("list Sites: %w", err)
	}
	out := make([]Site, 0, len(l.Items))
	for i := range l.Items {
		s, err := FromUnstructured(&l.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Resolve returns the Site named name, or the only Site when name is empty.
func (c *Client) Resolve(ctx context.Context, name string) (*Site, error) {
	if name != "" {
		return c.Get(ctx, name)
	}
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	switch len(all) {
	case 0:
		return nil, fmt.Errorf("%w: no Site object in the cluster (has `mk8s run` started?)", ErrNotFound)
	case 1:
		return &all[0], nil
	}
	names := make([]string, len(all))
	for i := range all {
		names[i] = all[i].Name
	}
	return nil, fmt.Errorf("%d Sites in the cluster (%v): choose one with --site", len(all), names)
}

// Ensure creates the Site if it is missing and records source in spec.source, by
// server-side apply with the reconciler's field manager (spec.suspend belongs to the
// CLI's manager and is left alone).
func (c *Client) Ensure(ctx context.Context, name string, source *SourceRef) (*Site, error) {
	obj := map[string]any{"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": name}}
	if source != nil {
		obj["spec"] = map[string]any{"source": map[string]any{"url": source.URL, "ref": source.Ref}}
	}
	u, err := c.sites().Apply(ctx, name, &unstructured.Unstructured{Object: obj}, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("apply Site %q: %w", name, err)
	}
	return FromUnstructured(u)
}

// WriteStatus stores site.Status through the status subresource by server-side apply
// (field manager "mk8s", which owns the whole status) and returns the stored Site.
func (c *Client) WriteStatus(ctx context.Context, site *Site) (*Site, error) {
	st, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&site.Status)
	if err != nil {
		return nil, fmt.Errorf("encode status of Site %q: %w", site.Name, err)
	}
	obj := map[string]any{"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": site.Name}, "status": st}
	u, err := c.sites().ApplyStatus(ctx, site.Name, &unstructured.Unstructured{Object: obj}, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("write status of Site %q: %w", site.Name, notFound(site.Name, err))
	}
	return FromUnstructured(u)
}

// SetSuspend sets spec.suspend (mk8s suspend / mk8s resume) with a merge patch owned
// by the CLI's field manager.
func (c *Client) SetSuspend(ctx context.Context, name string, suspend bool) (*Site, error) {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"suspend": suspend}})
	u, err := c.sites().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: CLIFieldManager})
	if err != nil {
		return nil, notFound(name, err)
	}
	return FromUnstructured(u)
}

// RequestReconcile sets the requestedAt annotation to token; the daemon watching the
// Site reconciles at once and records token in status.lastHandledReconcileAt.
func (c *Client) RequestReconcile(ctx context.Context, name, token string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{RequestedAtAnnotation: token}}})
	if _, err := c.sites().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: CLIFieldManager}); err != nil {
		return notFound(name, err)
	}
	return nil
}
