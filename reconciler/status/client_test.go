package status

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// TestStatusRoundTripOnARealAPIServer installs the CRD, writes a Site status through
// the status subresource and reads it back, with kubectl's printer columns, Events
// carrying the revision, and suspend kept across the reconciler's own applies.
func TestStatusRoundTripOnARealAPIServer(t *testing.T) {
	env := kubeenv.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before the CRD exists = %v, want ErrNotFound", err)
	}
	for range 2 { // idempotent
		if err := c.EnsureCRD(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Resolve(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve with no Site = %v, want ErrNotFound", err)
	}
	site, err := c.Ensure(ctx, "example", &SourceRef{URL: "file:///srv/site.git", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	MarkReconciling(&site.Status, site.Generation, "main@sha1:1111", "", now)
	if site, err = c.WriteStatus(ctx, site); err != nil {
		t.Fatal(err)
	}
	MarkResult(&site.Status, site.Generation, Result{
		Revision: "main@sha1:1111", Reason: ReasonSucceeded, Trigger: "webhook", StartedAt: now, Duration: 2 * time.Second,
		Nodes:     []NodeResult{{Name: "node-1", Converged: true}, {Name: "node-2", FailingResource: "Unit kubelet.service", Message: "failed to start"}},
		Inventory: []InventoryEntry{{ID: "metalk8s-monitoring_metalk8s-prometheus-config_apps_ConfigMap", V: "v1"}},
	}, now)
	want := site.Status
	if _, err = c.WriteStatus(ctx, site); err != nil {
		t.Fatal(err)
	}

	got, err := c.Resolve(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsReady() || got.Status.LastAppliedRevision != "main@sha1:1111" || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("read back %+v", got.Status)
	}
	if r := got.Status.Condition(ConditionReady); r.Message != want.Condition(ConditionReady).Message || r.Reason != ReasonSucceeded {
		t.Fatalf("Ready read back %+v", r)
	}
	if len(got.Status.Nodes) != 2 || got.Status.Nodes[1].FailingResource != "Unit kubelet.service" || got.Status.Nodes[0].Revision != "main@sha1:1111" {
		t.Fatalf("nodes read back %+v", got.Status.Nodes)
	}
	if got.Status.Inventory == nil || len(got.Status.Inventory.Entries) != 1 || got.Status.Inventory.Entries[0].V != "v1" {
		t.Fatalf("inventory read back %+v", got.Status.Inventory)
	}
	if len(got.Status.History) != 1 || got.Status.History[0].Trigger != "webhook" {
		t.Fatalf("history read back %+v", got.Status.History)
	}
	if got.Spec.Source == nil || got.Spec.Source.Ref != "main" {
		t.Fatalf("spec.source = %+v", got.Spec.Source)
	}

	out, err := env.RunKubectl(ctx, "get", "sites.mk8s.metalk8s.scality.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"READY", "STATUS", "REVISION", "AGE", "example", "True", "Applied revision: main@sha1:1111"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("kubectl get sites lacks %q:\n%s", s, out)
		}
	}

	// suspend belongs to the CLI's field manager: the reconciler's own apply keeps it.
	if _, err := c.SetSuspend(ctx, "example", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ensure(ctx, "example", &SourceRef{URL: "file:///srv/site.git", Ref: "main"}); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, "example")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Spec.Suspend || got.Generation < 2 {
		t.Fatalf("after suspend + Ensure: suspend=%v generation=%d", got.Spec.Suspend, got.Generation)
	}
	if got.Status.LastAppliedRevision != "main@sha1:1111" {
		t.Fatal("a spec change lost the status")
	}
	if _, err := c.SetSuspend(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetSuspend of a missing Site = %v, want ErrNotFound", err)
	}

	// Events carry the revision; a repeat bumps the count instead of adding an Event.
	rec := c.NewRecorder("test-host")
	for range 2 {
		if err := rec.Emit(ctx, got, EventOptions{Warning: true, Reason: ReasonValidationFailed, Revision: "main@sha1:2222",
			Message: "nodes/node-2.yaml:7: spec.taints[0].effect: \"NoSchedul\" is not one of NoSchedule, PreferNoSchedule, NoExecute"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Emit(ctx, got, EventOptions{Reason: ReasonSucceeded, Revision: "main@sha1:1111", Message: "Applied revision: main@sha1:1111"}); err != nil {
		t.Fatal(err)
	}
	events, err := c.ListEvents(ctx, "example")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(events), events)
	}
	ev := events[0]
	if ev.Type != "Warning" || ev.Count != 2 || ev.Annotations[RevisionAnnotation] != "main@sha1:2222" ||
		!strings.Contains(ev.Message, "main@sha1:2222") || ev.InvolvedObject.UID != got.UID {
		t.Fatalf("event = %+v", ev)
	}
	if events[1].Reason != ReasonSucceeded || strings.Count(events[1].Message, "main@sha1:1111") != 1 {
		t.Fatalf("success event = %+v", events[1])
	}
}
