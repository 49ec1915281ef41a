package hostsync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

func TestWavesOrder(t *testing.T) {
	h := func(n string, roles ...string) *HostPlan { return &HostPlan{Node: n, Roles: roles} }
	waves := Waves([]*HostPlan{
		h("w2", "node"), h("m2", "master"), h("e2", "etcd", "master"), h("boot", "bootstrap", "etcd", "master"),
		h("e1", "etcd"), h("w1", "infra", "node"), h("m1", "master"),
	})
	got := fmt.Sprint(func() [][]string {
		var out [][]string
		for _, w := range waves {
			var names []string
			for _, x := range w {
				names = append(names, x.Node)
			}
			out = append(out, names)
		}
		return out
	}())
	if want := "[[boot] [e1] [e2] [m1] [m2] [w2 w1]]"; got != want {
		t.Fatalf("waves %s, want %s", got, want)
	}
}

func TestBackoffDoublesAndClears(t *testing.T) {
	var b Backoff
	now := time.Unix(0, 0)
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		b.fail("n", now, "boom")
		if got := b.Hosts["n"].NextAttempt.Sub(now); got != want || b.Hosts["n"].Failures != i+1 {
			t.Fatalf("failure %d: delay %s, want %s", i+1, got, want)
		}
	}
	for range 20 {
		b.fail("n", now, "boom")
	}
	if d := b.Hosts["n"].NextAttempt.Sub(now); d != BackoffMax {
		t.Fatalf("delay %s, want the max", d)
	}
	if _, deferred := b.deferred("n", now.Add(time.Minute)); !deferred {
		t.Fatal("not deferred")
	}
	if _, deferred := b.deferred("n", now.Add(BackoffMax)); deferred {
		t.Fatal("deferred past NextAttempt")
	}
	b.succeed("n")
	if len(b.Hosts) != 0 {
		t.Fatal("not cleared")
	}
}

// The Reconciler adapter has the shape of the pipeline's host half.
var _ interface {
	Plan(context.Context, *schema.Site) (change.Set, error)
	Apply(context.Context, *schema.Site) (change.Set, error)
} = (*Reconciler)(nil)
