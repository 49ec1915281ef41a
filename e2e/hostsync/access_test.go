package hostsynce2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

func fingerprint(t *testing.T, authorizedKey string) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

func otherKey(t *testing.T) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// A wrong pinned host key is refused with a message naming the node and both
// fingerprints, and nothing is written on that host; the other host converges.
func TestWrongPinnedHostKeyIsRefused(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 2})
	bad, good := l.Hosts[0], l.Hosts[1]
	n1 := nodeOf(l, "node-1", bad, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster)
	wrong := otherKey(t)
	n1.SSH.HostKey = wrong
	site := labSite(l, n1, nodeOf(l, "node-2", good, schema.RoleNode))
	before := upperFiles(t, bad)
	p, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{})
	var fh *hostsync.FailedHostsError
	if !errors.As(err, &fh) || !slices.Equal(fh.Nodes, []string{"node-1"}) {
		t.Fatalf("want node-1 failed: %v", err)
	}
	hk, ok := hostsync.HostKeyError(p.Hosts[0].Err)
	if !ok {
		t.Fatalf("not a host key error: %v", p.Hosts[0].Err)
	}
	msg := hk.Error()
	for _, want := range []string{"node-1", fingerprint(t, wrong), fingerprint(t, bad.HostKey), "mismatch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	var n1Entries []change.Entry
	for _, e := range res {
		if e.Host == "node-1" {
			n1Entries = append(n1Entries, e)
		}
	}
	if len(n1Entries) != 1 || n1Entries[0].Action != change.Failed || n1Entries[0].Message != msg {
		t.Fatalf("node-1 entries: %v", n1Entries)
	}
	if got := newFiles(before, upperFiles(t, bad)); len(got) != 0 {
		t.Fatalf("files written on the refused host: %v", got)
	}
	if _, err := l.Run(ctx, good, "test -f /etc/kubernetes/manifests/apiserver-proxy.yaml"); err != nil {
		t.Fatalf("node-2 not converged: %v", err)
	}
}

// No pinned key: refused (naming the key to pin) unless trust on first use is asked for
// explicitly, and then the presented key is reported for pinning.
func TestUnpinnedHostKeyNeedsExplicitTrustOnFirstUse(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	h := l.Hosts[0]
	n := nodeOf(l, "node-1", h, schema.RoleNode)
	n.SSH.HostKey = ""
	site := labSite(l, n)
	// A node with the node role needs a bootstrap node to render; add one that is pinned
	// to a key nobody has, so it is refused and never written to.
	boot := nodeOf(l, "node-0", h, schema.RoleBootstrap)
	boot.SSH.HostKey = otherKey(t)
	site.Nodes = append([]schema.Node{boot}, site.Nodes...)
	po := planOpts(l)
	po.Nodes = []string{"node-1"}
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	hk, ok := hostsync.HostKeyError(p.Hosts[0].Err)
	if !ok || hk.Pinned != "" || !strings.Contains(hk.Error(), h.HostKey) || !strings.Contains(hk.Error(), "node-1") {
		t.Fatalf("unpinned host: %v", p.Hosts[0].Err)
	}
	po.TrustOnFirstUse = true
	p, err = hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Hosts[0].Err != nil || p.Hosts[0].PresentedKey != h.HostKey {
		t.Fatalf("trust on first use: err %v, presented %q", p.Hosts[0].Err, p.Hosts[0].PresentedKey)
	}
	if e := p.Entries(); !strings.Contains(e[0].Message, "pin metalk8s.scality.com/ssh-host-key: "+h.HostKey) {
		t.Fatalf("key to pin not reported: %v", e[0])
	}
}

// A node whose ssh-user is not root converges through sudo; without ssh-sudo it cannot.
func TestSudoUserConverges(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1, SudoUser: "mk8sop"})
	h := l.Hosts[0]
	n := nodeOf(l, "node-1", h, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster)
	n.SSH.User = "mk8sop"
	site := labSite(l, n)
	// Without sudo the user cannot write /etc: the host fails with the remote stderr.
	_, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{})
	if err == nil {
		t.Fatal("a non-root user without sudo converged")
	}
	var failed []change.Entry
	for _, e := range res {
		if e.Action == change.Failed {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Message, "Permission denied") {
		t.Fatalf("want one failed resource with the remote stderr: %v", failed)
	}
	site.Nodes[0].SSH.Sudo = true
	_, res, err = converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("through sudo: %v: %v", err, res)
	}
	out, err := l.Run(ctx, h, "stat -c '%a %U:%G' /etc/kubernetes/manifests/kube-apiserver.yaml /var/lib/kubelet; tail -n 200 /var/log/auth.log 2>/dev/null | grep -c 'mk8sop.*COMMAND=/bin/sh -s' || true")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "600 root:root\n750 root:root\n") {
		t.Fatalf("through sudo: %q", out)
	}
	p, err := hostsync.Plan(ctx, site, planOpts(l))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Changed() {
		t.Fatalf("not converged through sudo: %v", changed(p.Entries()))
	}
}
