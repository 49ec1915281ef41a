package hostsynce2e_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// The plan for a changed cluster setting (the apiserver's feature gates) shows the static
// pod diff on each master and nothing else; apply performs exactly that, and then the
// hosts are converged.
func TestPlanShowsStaticPodDiffThatApplyPerforms(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	site := threeNodeSite(l)
	if _, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	site.Cluster.Kubernetes.APIServer.FeatureGates = map[string]bool{"InPlacePodVerticalScaling": true, "SidecarContainers": false}
	p, err := hostsync.Plan(ctx, site, planOpts(l))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	planned := changed(p.Entries())
	var subjects []string
	for _, e := range planned {
		subjects = append(subjects, e.Host+" "+e.Subject+" "+string(e.Action))
	}
	want := []string{
		"node-1 StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml configured",
		"node-2 StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml configured",
	}
	if !slices.Equal(subjects, want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(subjects, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range planned {
		if !strings.Contains(e.Diff, "-    - --feature-gates=InPlacePodVerticalScaling=true\n") ||
			!strings.Contains(e.Diff, "+    - --feature-gates=InPlacePodVerticalScaling=true,SidecarContainers=false\n") {
			t.Fatalf("%s diff:\n%s", e.Host, e.Diff)
		}
	}
	// Nothing was written by the plan.
	if out, _ := l.Run(ctx, l.Hosts[0], "grep -c SidecarContainers /etc/kubernetes/manifests/kube-apiserver.yaml || true"); out != "0\n" {
		t.Fatalf("plan wrote the manifest: %q", out)
	}
	res, err := hostsync.Apply(ctx, p, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applied := changed(res)
	if len(applied) != len(planned) {
		t.Fatalf("apply did %v, plan said %v", applied, planned)
	}
	for i := range applied {
		a, b := applied[i], planned[i]
		if a.Host != b.Host || a.Subject != b.Subject || a.Action != b.Action || a.Diff != b.Diff {
			t.Fatalf("apply entry %v differs from plan entry %v", a, b)
		}
	}
	for _, h := range l.Hosts[:2] {
		if out, _ := l.Run(ctx, h, "grep -c 'feature-gates=InPlacePodVerticalScaling=true,SidecarContainers=false' /etc/kubernetes/manifests/kube-apiserver.yaml"); out != "1\n" {
			t.Fatalf("%s manifest not updated: %q", h.Name, out)
		}
	}
	p2, err := hostsync.Plan(ctx, site, planOpts(l))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if c := changed(p2.Entries()); len(c) != 0 {
		t.Fatalf("not converged: %v", c)
	}
}

// A certificate the apiserver mounts changes: the manifest's config digest changes, so
// kubelet restarts that pod, and only that one.
func TestStaticPodDigestFollowsMountedCertificate(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	site := threeNodeSite(l)
	if _, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	// A certificate replaced on the host (here by garbage) is re-issued, and the only
	// other change is the manifest of the pod that mounts it: the other pods of the node
	// (controller-manager, scheduler, etcd) keep their digest and are not restarted.
	if _, err := l.Run(ctx, l.Hosts[1], "echo garbage > /etc/kubernetes/pki/apiserver.crt"); err != nil {
		t.Fatal(err)
	}
	p, err := hostsync.Plan(ctx, site, planOpts(l))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := changed(p.Entries())
	if len(c) != 2 || c[0].Host != "node-2" || c[0].Subject != "Certificate /etc/kubernetes/pki/apiserver.crt" ||
		!strings.Contains(c[0].Message, "re-issued: the live certificate is unreadable") ||
		c[1].Subject != "StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml" ||
		c[1].Action != change.Configured || !strings.Contains(c[1].Diff, "metalk8s.scality.com/config-digest") {
		t.Fatalf("plan: %v", c)
	}
}
