package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/status"
)

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// TestStatusSuspendResumeCommands runs mk8s status, suspend and resume against a real
// apiserver holding a Site written by the status package.
func TestStatusSuspendResumeCommands(t *testing.T) {
	env := kubeenv.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := "--kubeconfig=" + env.Kubeconfig

	if _, _, err := runMk8s("status", kc); exitCodeOf(err) != 1 || !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("status without a Site: %v", err)
	}
	c, err := status.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureCRD(ctx); err != nil {
		t.Fatal(err)
	}
	site, err := c.Ensure(ctx, "default", &status.SourceRef{URL: "/srv/site.git", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runMk8s("status", kc)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "Site default: Unknown") {
		t.Fatalf("status of a Site with no status: exit %d\n%s", exitCodeOf(err), out)
	}

	rev := "main@sha1:" + strings.Repeat("ab", 20)
	now := time.Now()
	status.MarkResult(&site.Status, site.Generation, status.Result{Revision: rev, Reason: status.ReasonSucceeded, Trigger: "git-push",
		StartedAt: now, Duration: 1200 * time.Millisecond,
		Nodes: []status.NodeResult{{Name: "bootstrap", Converged: true}, {Name: "node-1", FailingResource: "Unit kubelet.service", Message: "exit 1"}},
		Certificates: status.SummarizeCertificates([]pki.Certificate{
			{Node: "bootstrap", Path: "/etc/kubernetes/pki/ca.crt", CA: true, NotAfter: now.Add(3650 * 24 * time.Hour)},
			{Node: "node-1", Path: "/etc/kubernetes/pki/ca.crt", CA: true, NotAfter: now.Add(3650 * 24 * time.Hour)},
			{Node: "bootstrap", Path: "/etc/kubernetes/pki/etcd/ca.crt", CA: true, NotAfter: now.Add(3000 * 24 * time.Hour)},
			{Node: "bootstrap", Path: "/etc/kubernetes/pki/apiserver.crt", NotAfter: now.Add(100*24*time.Hour + time.Hour), RenewAt: now.Add(10*24*time.Hour + time.Hour)},
			{Node: "node-1", Path: "/etc/kubernetes/kubelet.conf", NotAfter: now.Add(30*time.Hour + 30*time.Minute), RenewAt: now.Add(-time.Hour)},
		}),
	}, now)
	if site, err = c.WriteStatus(ctx, site); err != nil {
		t.Fatal(err)
	}
	out, _, err = runMk8s("status", kc)
	if err != nil {
		t.Fatalf("status of a Ready Site: %v\n%s", err, out)
	}
	t.Logf("mk8s status:\n%s", out)
	for _, want := range []string{"Site default: Ready (ReconciliationSucceeded)", "Last applied:    " + rev, "NODES",
		"bootstrap  main@sha1:abababababab  converged", "Unit kubelet.service", "HISTORY", "git-push", "1.2s",
		"Certificates:    5 on the nodes", "Next expiry:     node-1 /etc/kubernetes/kubelet.conf on ", "(in 30h", "Next renewal:    ", "(due 1h00m ago)",
		"CERTIFICATE AUTHORITIES", "/etc/kubernetes/pki/ca.crt       ", "in 3649d", "/etc/kubernetes/pki/etcd/ca.crt  "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runMk8s("status", kc, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v siteView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if v.Status.LastAppliedRevision != rev || v.Kind != "Site" || len(v.Status.Nodes) != 2 ||
		v.Status.Certificates == nil || len(v.Status.Certificates.Authorities) != 2 || v.Status.Certificates.NextExpiry.Path != "/etc/kubernetes/kubelet.conf" {
		t.Fatalf("status -o json = %+v", v)
	}

	// A refused revision: not Ready, exit 1, the reason shown.
	status.MarkResult(&site.Status, site.Generation, status.Result{Revision: "main@sha1:cd", Reason: status.ReasonValidationFailed,
		Message: `nodes/node-2.yaml:7: spec.taints[0].effect: "NoSchedul" is not one of NoSchedule, PreferNoSchedule, NoExecute`, StartedAt: now}, now)
	if site, err = c.WriteStatus(ctx, site); err != nil {
		t.Fatal(err)
	}
	out, _, err = runMk8s("status", kc)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "Stalled (ValidationFailed)") || !strings.Contains(out, "nodes/node-2.yaml:7") ||
		!strings.Contains(out, "Last applied:    "+rev) {
		t.Fatalf("status of a refused revision: exit %d\n%s", exitCodeOf(err), out)
	}
	t.Logf("mk8s status of a refused revision:\n%s", out)

	out, _, err = runMk8s("suspend", kc)
	if err != nil || !strings.Contains(out, "Site default suspended") {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	if s, err := c.Get(ctx, "default"); err != nil || !s.Spec.Suspend {
		t.Fatalf("after suspend: %+v %v", s, err)
	}
	out, _, err = runMk8s("resume", kc, "-o", "json")
	if err != nil || !strings.Contains(out, `"suspended": false`) {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if s, err := c.Get(ctx, "default"); err != nil || s.Spec.Suspend {
		t.Fatalf("after resume: %+v %v", s, err)
	}
	if _, _, err := runMk8s("suspend", kc, "--site-name", "nope"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("suspend of a missing Site: %v", err)
	}
}
