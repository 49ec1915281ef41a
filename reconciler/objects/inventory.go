package objects

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/fluxcd/cli-utils/pkg/object"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/reconciler/render"
)

// InventoryNamespace holds mk8s's own bookkeeping. It is never part of a render, so it
// is never pruned.
const InventoryNamespace = "mk8s-system"

// Data keys of the inventory ConfigMap.
const (
	inventoryKey = "inventory.json" // Flux's shape: {"entries":[{"id":…,"v":…}]}
	stateKey     = "state.json"     // id -> desired digest and last-seen resourceVersion
)

// InventoryName is the name of the inventory ConfigMap of a site.
func InventoryName(site string) string { return "mk8s-inventory-" + site }

// InventoryEntry is one object mk8s applied, in Flux's inventory shape:
// id "<namespace>_<name>_<group>_<Kind>" and v, the API version.
type InventoryEntry struct {
	ID      string `json:"id"`
	Version string `json:"v"`
}

// Inventory is the list of objects mk8s owns for a site.
type Inventory struct {
	Entries []InventoryEntry `json:"entries"`
}

// objectState is what mk8s remembers about an object it applied: for the no-op fast
// path, the digest of the desired object last applied and the resourceVersion the
// server returned then (or that we saw when it was found unchanged); for prune, the UID
// of the object if mk8s created it.
type objectState struct {
	Digest          string `json:"digest"`
	ResourceVersion string `json:"rv,omitempty"`
	// CreatedUID is the UID of the object mk8s's own apply created. It is empty for an
	// object that existed before mk8s first applied it (adopted): prune never deletes
	// those, nor an object recreated by someone else under the same name.
	CreatedUID string `json:"createdUID,omitempty"`
}

// inventory is the in-memory form of the inventory ConfigMap.
type inventory struct {
	entries map[string]InventoryEntry
	state   map[string]objectState
	// found and resourceVersion of the ConfigMap, for an optimistic-concurrency update.
	found           bool
	resourceVersion string
	raw             map[string]string
	// lazyRV are resourceVersions worth remembering only if the inventory is written
	// for another reason: recording them alone would make a no-op write.
	lazyRV map[string]string
}

func newInventory() *inventory {
	return &inventory{entries: map[string]InventoryEntry{}, state: map[string]objectState{}, lazyRV: map[string]string{}}
}

// loadInventory reads the inventory of the site (empty when absent).
func (m *Manager) loadInventory(ctx context.Context) (*inventory, error) {
	inv := newInventory()
	cm := &corev1.ConfigMap{}
	err := m.client.Get(ctx, client.ObjectKey{Namespace: InventoryNamespace, Name: InventoryName(m.site)}, cm)
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory ConfigMap %s/%s: %w", InventoryNamespace, InventoryName(m.site), err)
	}
	inv.found, inv.resourceVersion, inv.raw = true, cm.ResourceVersion, cm.Data
	var stored Inventory
	if s := cm.Data[inventoryKey]; s != "" {
		if err := json.Unmarshal([]byte(s), &stored); err != nil {
			return nil, fmt.Errorf("inventory ConfigMap %s/%s: %s: %w", InventoryNamespace, cm.Name, inventoryKey, err)
		}
	}
	for _, e := range stored.Entries {
		if _, err := object.ParseObjMetadata(e.ID); err != nil {
			return nil, fmt.Errorf("inventory ConfigMap %s/%s: %w", InventoryNamespace, cm.Name, err)
		}
		inv.entries[e.ID] = e
	}
	if s := cm.Data[stateKey]; s != "" {
		// The state is only an optimisation: a damaged one costs dry-runs, not safety.
		_ = json.Unmarshal([]byte(s), &inv.state)
	}
	return inv, nil
}

// data serialises the inventory deterministically.
func (inv *inventory) data() (map[string]string, error) {
	ids := slices.Sorted(maps.Keys(inv.entries))
	stored := Inventory{Entries: make([]InventoryEntry, 0, len(ids))}
	state := map[string]objectState{}
	for _, id := range ids {
		stored.Entries = append(stored.Entries, inv.entries[id])
		if s, ok := inv.state[id]; ok {
			state[id] = s
		}
	}
	a, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	return map[string]string{inventoryKey: string(a), stateKey: string(b)}, nil
}

// saveInventory writes the inventory when it differs from what was read; an unchanged
// inventory costs no request. A concurrent writer makes the update fail (optimistic
// concurrency on the resourceVersion read).
func (m *Manager) saveInventory(ctx context.Context, inv *inventory) error {
	data, err := inv.data()
	if err != nil {
		return err
	}
	if inv.found && maps.Equal(data, inv.raw) {
		return nil
	}
	if !inv.found && len(inv.entries) == 0 {
		return nil
	}
	if len(inv.lazyRV) > 0 {
		for id, rv := range inv.lazyRV {
			if st, ok := inv.state[id]; ok {
				st.ResourceVersion = rv
				inv.state[id] = st
			}
		}
		inv.lazyRV = map[string]string{}
		if data, err = inv.data(); err != nil {
			return err
		}
	}
	name := InventoryName(m.site)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: InventoryNamespace,
			Labels: render.OwnershipLabels(m.site), ResourceVersion: inv.resourceVersion},
		Data: data,
	}
	if inv.found {
		err = m.client.Update(ctx, cm, client.FieldOwner(FieldManager))
	} else {
		if err := m.ensureInventoryNamespace(ctx); err != nil {
			return err
		}
		err = m.client.Create(ctx, cm, client.FieldOwner(FieldManager))
	}
	if err != nil {
		return fmt.Errorf("write inventory ConfigMap %s/%s: %w", InventoryNamespace, name, err)
	}
	inv.found, inv.resourceVersion, inv.raw = true, cm.ResourceVersion, data
	return nil
}

func (m *Manager) ensureInventoryNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{}
	err := m.client.Get(ctx, client.ObjectKey{Name: InventoryNamespace}, ns)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read namespace %s: %w", InventoryNamespace, err)
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: InventoryNamespace,
		Labels: map[string]string{render.LabelManagedBy: render.ManagedByValue}}}
	if err := m.client.Create(ctx, ns, client.FieldOwner(FieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", InventoryNamespace, err)
	}
	return nil
}

// ReadInventory returns the site's inventory as stored in the cluster.
func (m *Manager) ReadInventory(ctx context.Context) (Inventory, error) {
	inv, err := m.loadInventory(ctx)
	if err != nil {
		return Inventory{}, err
	}
	out := Inventory{Entries: []InventoryEntry{}}
	for _, id := range slices.Sorted(maps.Keys(inv.entries)) {
		out.Entries = append(out.Entries, inv.entries[id])
	}
	return out, nil
}

// stub builds an object carrying only the identity of an inventory entry.
func (e InventoryEntry) stub() (*unstructured.Unstructured, error) {
	md, err := object.ParseObjMetadata(e.ID)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: md.GroupKind.Group, Version: e.Version, Kind: md.GroupKind.Kind})
	u.SetNamespace(md.Namespace)
	u.SetName(md.Name)
	return u, nil
}
