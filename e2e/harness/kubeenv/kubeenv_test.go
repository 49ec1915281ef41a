package kubeenv_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// The helper gives a working rest.Config and kubeconfig file for the real kubectl,
// and the counter sees requests by verb, dry-runs apart.
func TestStartKubectlAndCounter(t *testing.T) {
	env := kubeenv.StartT(t)
	out, err := env.RunKubectl(context.Background(), "get", "namespace", "default", "-o", "name")
	if err != nil || strings.TrimSpace(string(out)) != "namespace/default" {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	var counter kubeenv.RequestCounter
	c, err := client.New(counter.Wrap(env.Config), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "probe", "default"
	if err := c.Create(ctx, cm.DeepCopy(), client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	if counter.Writes() != 1 || counter.DryRuns() != 1 || counter.Counts()["GET"] < 1 {
		t.Errorf("counts: %s", counter.String())
	}
}
