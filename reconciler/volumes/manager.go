package volumes

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// Finalizer protects a Volume and its PersistentVolume until the storage is released,
// as MetalK8s' storage operator does.
const Finalizer = "storage.metalk8s.scality.com/volume-protection"

// Storage prepares and releases the storage of Volumes on their nodes
// (hostsync.VolumeStorage over SSH): every Volume of a run in one call, so that the
// host half can plan a node once for all its Volumes. With apply false it only says
// what it would do; Info is then zero. The outcomes are in the order of specs; one
// Volume's failure is its outcome's Err, not the others'.
type Storage interface {
	Prepare(ctx context.Context, site *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome
	Release(ctx context.Context, site *schema.Site, specs []volume.Spec, apply bool) []volume.Outcome
}

// Options of New.
type Options struct {
	Kube *rest.Config
	// SiteName is the mk8s.metalk8s.scality.com/site label of the site's objects.
	SiteName string
	Storage  Storage
}

// Manager converges the Volumes of one site.
type Manager struct {
	client  client.Client
	site    string
	storage Storage
}

// New connects to the cluster.
func New(opts Options) (*Manager, error) {
	if opts.Storage == nil {
		return nil, errors.New("volumes: no Storage to prepare volumes with")
	}
	if opts.SiteName == "" {
		return nil, errors.New("volumes: no site name")
	}
	c, err := client.New(opts.Kube, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	return &Manager{client: c, site: opts.SiteName, storage: opts.Storage}, nil
}

// Reconcile converges every Volume of the site; a Volume that fails is reported (and
// its status says why) and the others go on.
func (m *Manager) Reconcile(ctx context.Context, site *schema.Site) (change.Set, error) {
	return m.run(ctx, site, true)
}

// Plan is what Reconcile would do, changing nothing.
func (m *Manager) Plan(ctx context.Context, site *schema.Site) (change.Set, error) {
	return m.run(ctx, site, false)
}
