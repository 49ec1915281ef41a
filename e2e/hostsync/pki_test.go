package hostsynce2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// hostFile reads a file as the host wrote it (its overlay upper layer).
func hostFile(t *testing.T, h *hosts.Host, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Dir(), "upper", p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCert(t *testing.T, b []byte, what string) *x509.Certificate {
	t.Helper()
	c, err := pki.ParseCertificate(b)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c
}

// openssl verify runs the real openssl against the files the hosts hold.
func opensslVerify(t *testing.T, caPEM, leafPEM []byte, purpose string) {
	t.Helper()
	dir := t.TempDir()
	ca, leaf := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "leaf.crt")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leaf, leafPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "verify", "-purpose", purpose, "-CAfile", ca, leaf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify -purpose %s: %v: %s", purpose, err, out)
	}
}

type kubeconfigFile struct {
	Clusters []struct {
		Cluster struct {
			CA     string `json:"certificate-authority-data"`
			Server string `json:"server"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		User struct {
			Cert string `json:"client-certificate-data"`
			Key  string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
}

func readKubeconfig(t *testing.T, b []byte) (server string, ca, cert, key []byte) {
	t.Helper()
	var k kubeconfigFile
	if err := yaml.Unmarshal(b, &k); err != nil || len(k.Clusters) != 1 || len(k.Users) != 1 {
		t.Fatalf("kubeconfig: %v\n%s", err, b)
	}
	dec := func(s string) []byte {
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("kubeconfig data: %v", err)
		}
		return d
	}
	return k.Clusters[0].Cluster.Server, dec(k.Clusters[0].Cluster.CA), dec(k.Users[0].User.Cert), dec(k.Users[0].User.Key)
}

// Every leaf certificate the hosts hold verifies against its CA with openssl, for the
// purpose its policy gives; subjects, SANs and key usages are those MetalK8s sets
// (written down here independently of pki.ForNode); every kubeconfig embeds the CA and
// a client certificate that pairs with its embedded key.
func TestPKICertificatesVerifyWithSANsAndUsagesAsMetalK8s(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	site := threeNodeSite(l)
	site.Cluster.Networks.ControlPlane.IngressIP = "10.213.250.7"
	if _, res, err := converge(t, ctx, site, planOpts(l), hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	boot := l.Hosts[0]
	kubeCA := hostFile(t, boot, "/etc/kubernetes/pki/ca.crt")
	etcdCA := hostFile(t, boot, "/etc/kubernetes/pki/etcd/ca.crt")
	proxyCA := hostFile(t, boot, "/etc/kubernetes/pki/front-proxy-ca.crt")
	for _, p := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt",
		"/etc/metalk8s/pki/nginx-ingress/ca.crt", "/etc/metalk8s/pki/dex/ca.crt", "/etc/metalk8s/pki/backup-server/ca.crt"} {
		c := parseCert(t, hostFile(t, boot, p), p)
		if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 || c.NotAfter.Sub(c.NotBefore) < 3649*24*time.Hour {
			t.Errorf("%s: not a 10-year CA: CA %v usage %v %s..%s", p, c.IsCA, c.KeyUsage, c.NotBefore, c.NotAfter)
		}
	}
	// Every node got the same cluster CA.
	for _, h := range l.Hosts[1:] {
		if got := hostFile(t, h, "/etc/kubernetes/pki/ca.crt"); string(got) != string(kubeCA) {
			t.Errorf("%s has another ca.crt", h.Name)
		}
	}
	type leaf struct {
		path, cn, org, purpose string
		ca                     []byte
		dns, ips               []string
		usages                 []x509.ExtKeyUsage
	}
	server, client := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for i, name := range []string{"node-1", "node-2"} {
		h := l.Hosts[i]
		ip := h.IP
		leaves := []leaf{
			{"/etc/kubernetes/pki/apiserver.crt", "kube-apiserver", "", "sslserver", kubeCA,
				[]string{name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
				[]string{"10.96.0.1", ip, "10.213.250.7", "127.0.0.1"}, server},
			{"/etc/kubernetes/pki/apiserver-etcd-client.crt", "kube-apiserver-etcd-client", "system:masters", "sslclient", etcdCA, nil, nil, client},
			{"/etc/kubernetes/pki/apiserver-kubelet-client.crt", "kube-apiserver-kubelet-client", "system:masters", "sslclient", kubeCA, nil, nil, client},
			{"/etc/kubernetes/pki/front-proxy-client.crt", "front-proxy-client", "", "sslclient", proxyCA, nil, nil, client},
			{"/etc/kubernetes/pki/etcd/server.crt", name, "", "sslserver", etcdCA, []string{name, "localhost"}, []string{ip, "127.0.0.1"}, both},
			{"/etc/kubernetes/pki/etcd/peer.crt", name, "", "sslclient", etcdCA, []string{name, "localhost"}, []string{ip, "127.0.0.1"}, both},
			{"/etc/kubernetes/pki/etcd/healthcheck-client.crt", "kube-etcd-healthcheck-client", "system:masters", "sslclient", etcdCA, nil, nil, client},
			{"/var/lib/kubelet/pki/kubelet.crt", "system:node:" + name, "system:nodes", "sslserver", kubeCA, []string{name}, []string{ip}, server},
		}
		for _, lf := range leaves {
			pemBytes := hostFile(t, h, lf.path)
			opensslVerify(t, lf.ca, pemBytes, lf.purpose)
			c := parseCert(t, pemBytes, name+lf.path)
			if c.Subject.CommonName != lf.cn || strings.Join(c.Subject.Organization, ",") != lf.org {
				t.Errorf("%s %s: subject %s", name, lf.path, c.Subject)
			}
			var ips []string
			for _, x := range c.IPAddresses {
				ips = append(ips, x.String())
			}
			if !slices.Equal(sorted(c.DNSNames), sorted(lf.dns)) || !slices.Equal(sorted(ips), sorted(lf.ips)) {
				t.Errorf("%s %s: SANs %v %v, want %v %v", name, lf.path, c.DNSNames, ips, lf.dns, lf.ips)
			}
			if !slices.Equal(c.ExtKeyUsage, lf.usages) || c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment || c.IsCA {
				t.Errorf("%s %s: usages %v %v CA %v", name, lf.path, c.ExtKeyUsage, c.KeyUsage, c.IsCA)
			}
			if d := c.NotAfter.Sub(c.NotBefore); d < 364*24*time.Hour || d > 366*24*time.Hour {
				t.Errorf("%s %s: lifetime %s, want 365 days", name, lf.path, d)
			}
			if pub, ok := c.PublicKey.(interface{ Size() int }); !ok || pub.Size() != 256 {
				t.Errorf("%s %s: not an RSA 2048 key", name, lf.path)
			}
		}
	}
	// Kubeconfigs: the CA embedded, a client certificate signed by it for the embedded key.
	for _, kc := range []struct {
		host              *hosts.Host
		path, cn, org, at string
	}{
		{l.Hosts[0], "/etc/kubernetes/admin.conf", "kubernetes-admin", "kubeadm:cluster-admins", "https://" + l.Hosts[0].IP + ":6443"},
		{l.Hosts[0], "/etc/kubernetes/super-admin.conf", "kubernetes-super-admin", "system:masters", "https://" + l.Hosts[0].IP + ":6443"},
		{l.Hosts[1], "/etc/kubernetes/controller-manager.conf", "system:kube-controller-manager", "", "https://127.0.0.1:7443"},
		{l.Hosts[1], "/etc/kubernetes/scheduler.conf", "system:kube-scheduler", "", "https://127.0.0.1:7443"},
		{l.Hosts[2], "/etc/kubernetes/kubelet.conf", "system:node:node-3", "system:nodes", "https://127.0.0.1:7443"},
	} {
		srv, ca, cert, key := readKubeconfig(t, hostFile(t, kc.host, kc.path))
		if srv != kc.at || string(ca) != string(kubeCA) {
			t.Errorf("%s: server %s, CA embedded %v", kc.path, srv, string(ca) == string(kubeCA))
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			t.Errorf("%s: embedded certificate and key do not pair: %v", kc.path, err)
		}
		opensslVerify(t, kubeCA, cert, "sslclient")
		c := parseCert(t, cert, kc.path)
		if c.Subject.CommonName != kc.cn || strings.Join(c.Subject.Organization, ",") != kc.org {
			t.Errorf("%s: subject %s", kc.path, c.Subject)
		}
	}
	// The backup holds the authority, 0600 files in 0700 directories.
	backup := planOpts(l).PKI.BackupDir
	err := filepath.Walk(backup, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("backup %s: mode %o, want %o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(backup, "files/etc/kubernetes/pki/ca.key")); err != nil || string(b) != string(hostFile(t, boot, "/etc/kubernetes/pki/ca.key")) {
		t.Errorf("backup of ca.key: %v", err)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// A certificate near its end (less than 90 of 365 days left) is re-issued, for the same
// key; only the pod that reads it restarts; the next reconcile changes nothing.
func TestPKINearExpiryCertificateRenewedOnlyItsUsersRestart(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 2})
	site := labSite(l,
		nodeOf(l, "node-1", l.Hosts[0], schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster),
		nodeOf(l, "node-2", l.Hosts[1], schema.RoleNode))
	po := planOpts(l)
	if _, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	// Re-sign apiserver-etcd-client.crt with the backed-up etcd CA so that it has 30
	// days left: what a year-old cluster looks like, for one certificate.
	h := l.Hosts[0]
	const path = "/etc/kubernetes/pki/apiserver-etcd-client.crt"
	old := parseCert(t, hostFile(t, h, path), path)
	backup, err := pki.ReadBackup(po.PKI.BackupDir)
	if err != nil {
		t.Fatal(err)
	}
	d := pki.CADefs()[1]
	ca, err := pki.ParseCA(d, backup.Files[d.CertPath], backup.Files[d.KeyPath])
	if err != nil {
		t.Fatal(err)
	}
	spec, err := pki.ForNode(site, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	var lf pki.Leaf
	for _, x := range spec.Leaves {
		if x.Path == path {
			lf = x
		}
	}
	aged, err := lf.Sign(ca, old.PublicKey, time.Now().Add(-335*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, h, "cat > "+path+" <<'EOF'\n"+string(aged)+"EOF"); err != nil {
		t.Fatal(err)
	}
	p, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	c := changed(p.Entries())
	if len(c) != 2 || c[0].Subject != "Certificate "+path || !strings.Contains(c[0].Message, "re-issued: expires on") ||
		!strings.Contains(c[0].Diff, "valid:") || c[1].Subject != "StaticPod /etc/kubernetes/manifests/kube-apiserver.yaml" {
		t.Fatalf("renewal plan: %v", c)
	}
	if strings.Contains(c[0].Diff, "PRIVATE KEY") {
		t.Fatalf("a diff shows key material: %s", c[0].Diff)
	}
	renewed := parseCert(t, hostFile(t, h, path), path)
	if !pki.SamePublicKey(renewed.PublicKey, old.PublicKey) || time.Until(renewed.NotAfter) < 364*24*time.Hour {
		t.Fatalf("renewed certificate: same key %v, until %s", pki.SamePublicKey(renewed.PublicKey, old.PublicKey), renewed.NotAfter)
	}
	p2, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if c := changed(p2.Entries()); len(c) != 0 {
		t.Fatalf("after renewal: %v", c)
	}
	// What status and metrics are told: every certificate with its expiry, leaves with
	// the time their renewal is due (90 of 365 days left), CAs never.
	var sawRenewed, sawKubelet bool
	for _, ct := range p2.Certificates() {
		switch {
		case ct.CA && !ct.RenewAt.IsZero():
			t.Errorf("CA %s %s has a renewal time", ct.Node, ct.Path)
		case !ct.CA && (ct.RenewAt.IsZero() || ct.NotAfter.Sub(ct.RenewAt).Round(time.Hour) != 90*24*time.Hour):
			t.Errorf("%s %s: renewal at %s for expiry %s, want 90 days before", ct.Node, ct.Path, ct.RenewAt, ct.NotAfter)
		}
		sawRenewed = sawRenewed || ct.Node == "node-1" && ct.Path == path && ct.NotAfter.Equal(renewed.NotAfter)
		sawKubelet = sawKubelet || ct.Node == "node-2" && ct.Path == "/etc/kubernetes/kubelet.conf"
	}
	if !sawRenewed || !sawKubelet {
		t.Fatalf("certificates reported: renewed %v, node-2 kubelet.conf %v: %+v", sawRenewed, sawKubelet, p2.Certificates())
	}
	// The test clock: a year later every leaf is due, no CA is.
	po.PKI.Now = func() time.Time { return time.Now().Add(300 * 24 * time.Hour) }
	p3, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p3.Close()
	var reissued []string
	for _, e := range changed(p3.Entries()) {
		if strings.HasPrefix(e.Subject, "Certificate ") || strings.HasPrefix(e.Subject, "Kubeconfig ") {
			reissued = append(reissued, e.Host+" "+e.Subject)
		}
		if strings.Contains(e.Subject, "/ca.crt") || strings.HasSuffix(e.Subject, "ca.key") {
			t.Errorf("a CA is renewed with its leaves: %v", e)
		}
	}
	if len(reissued) < 10 || !slices.Contains(reissued, "node-2 Kubeconfig /etc/kubernetes/kubelet.conf") {
		t.Fatalf("a year later: %v", reissued)
	}
}

// A CA removed from the bootstrap node of a running cluster is refused, loudly and
// without touching any host; --restore-ca puts the backup back; --recreate-ca creates a
// new CA and re-issues what it signed. Without any backup, the certificates on the
// nodes are the evidence that refuses a silent re-creation.
func TestPKIMissingCAIsRefusedThenRestoredOrRecreated(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 2})
	site := labSite(l,
		nodeOf(l, "node-1", l.Hosts[0], schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster),
		nodeOf(l, "node-2", l.Hosts[1], schema.RoleNode))
	po := planOpts(l)
	if _, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	boot := l.Hosts[0]
	origKey := hostFile(t, boot, "/etc/kubernetes/pki/ca.key")
	if _, err := l.Run(ctx, boot, "rm /etc/kubernetes/pki/ca.key"); err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]string{}
	for _, h := range l.Hosts {
		before[h.Name] = snapshot(t, h)
	}
	refusedPlan := func(po hostsync.PlanOptions, wants ...string) {
		t.Helper()
		r := &hostsync.Reconciler{PlanOptions: po}
		_, err := r.Apply(ctx, site)
		var re *pki.RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("want a refusal, got %v", err)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("refusal %q lacks %q", err, w)
			}
		}
		for _, h := range l.Hosts {
			if after := snapshot(t, h); !equalMaps(before[h.Name], after) {
				t.Fatalf("%s changed by a refused reconcile", h.Name)
			}
		}
	}
	refusedPlan(po, "node node-1", "partial CA material", "/etc/kubernetes/pki/ca.key missing", "--restore-ca", "--recreate-ca")

	// --restore-ca: the backup's key is back, nothing else changes.
	restore := po
	restore.PKI.Recovery = pki.RecoveryRestore
	p, res, err := converge(t, ctx, site, restore, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	if c := changed(p.Entries()); len(c) != 1 || c[0].Subject != "File /etc/kubernetes/pki/ca.key" || c[0].Action != change.Created {
		t.Fatalf("restore: %v", c)
	}
	if got := hostFile(t, boot, "/etc/kubernetes/pki/ca.key"); string(got) != string(origKey) {
		t.Fatal("restored key differs from the original")
	}

	// No backup, CA gone: the nodes' certificates are the evidence.
	if err := os.RemoveAll(po.PKI.BackupDir); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, boot, "rm /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/ca.crt"); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		before[h.Name] = snapshot(t, h)
	}
	refusedPlan(po, "node node-1", "/etc/kubernetes/pki/ca.crt", "the cluster already runs", "node-2:")

	// --recreate-ca: a new cluster CA, and everything it signed is re-issued on every
	// node; the etcd and front-proxy CAs (still there) are kept.
	recreate := po
	recreate.PKI.Recovery = pki.RecoveryRecreate
	oldEtcdCA := hostFile(t, boot, "/etc/kubernetes/pki/etcd/ca.crt")
	p, res, err = converge(t, ctx, site, recreate, hostsync.ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	newCA := hostFile(t, boot, "/etc/kubernetes/pki/ca.crt")
	for _, h := range l.Hosts {
		if got := hostFile(t, h, "/etc/kubernetes/pki/ca.crt"); string(got) != string(newCA) {
			t.Errorf("%s: ca.crt not the new CA", h.Name)
		}
		_, _, cert, _ := readKubeconfig(t, hostFile(t, h, "/etc/kubernetes/kubelet.conf"))
		opensslVerify(t, newCA, cert, "sslclient")
	}
	opensslVerify(t, newCA, hostFile(t, boot, "/etc/kubernetes/pki/apiserver.crt"), "sslserver")
	if string(hostFile(t, boot, "/etc/kubernetes/pki/etcd/ca.crt")) != string(oldEtcdCA) {
		t.Error("the etcd CA was re-created although it was there")
	}
	for _, e := range changed(p.Entries()) {
		if strings.Contains(e.Subject, "/etc/kubernetes/pki/etcd/") {
			t.Errorf("etcd material changed with the cluster CA: %v", e)
		}
	}
	p2, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if c := changed(p2.Entries()); len(c) != 0 {
		t.Fatalf("after re-creation: %v", c)
	}
}

// Bad PKI input is refused with the node and file named, and nothing changes: an
// unreadable CA certificate, a CA key that is not the certificate's, a CA that differs
// from mk8s' backup.
func TestPKIBadCAIsRefusedNamingNodeAndFile(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	boot := l.Hosts[0]
	site := labSite(l, nodeOf(l, "node-1", boot, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster))
	po := planOpts(l)
	if _, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}
	good, err := l.Run(ctx, boot, "cat /etc/kubernetes/pki/front-proxy-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pkiGenerateCA(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, script string
		wants        []string
	}{
		{"unreadable", "echo not-a-cert > /etc/kubernetes/pki/front-proxy-ca.crt", []string{"node node-1", "/etc/kubernetes/pki/front-proxy-ca.crt", "not a PEM certificate"}},
		{"mismatched", "cat > /etc/kubernetes/pki/front-proxy-ca.crt <<'EOF'\n" + string(other) + "EOF", []string{"node node-1", "/etc/kubernetes/pki/front-proxy-ca.key", "does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := l.Run(ctx, boot, tc.script); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := l.Run(context.Background(), boot, "cat > /etc/kubernetes/pki/front-proxy-ca.crt <<'EOF'\n"+good+"EOF"); err != nil {
					t.Error(err)
				}
			})
			snap := snapshot(t, boot)
			_, err := (&hostsync.Reconciler{PlanOptions: po}).Apply(ctx, site)
			var re *pki.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("want a refusal, got %v", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q lacks %q", err, w)
				}
			}
			if !equalMaps(snap, snapshot(t, boot)) {
				t.Fatal("the host changed")
			}
		})
	}
	// A wrong SAN source: the control-plane ingress IP, which apiserver.crt carries, is
	// not an IP. The site as a whole is refused before any host is reached.
	t.Run("wrong SAN source", func(t *testing.T) {
		bad := *site
		bad.Cluster.Networks.ControlPlane.IngressIP = "cp.example.invalid"
		snap := snapshot(t, boot)
		_, err := (&hostsync.Reconciler{PlanOptions: po}).Apply(ctx, &bad)
		var re *pki.RefusedError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "node node-1: /etc/kubernetes/pki/apiserver.crt") ||
			!strings.Contains(err.Error(), `"cp.example.invalid"`) {
			t.Fatalf("want a refusal naming the node and file, got %v", err)
		}
		if !equalMaps(snap, snapshot(t, boot)) {
			t.Fatal("the host changed")
		}
	})
	// A CA and key that pair, but are not the CA mk8s installed (its backup).
	otherCert, otherKey, err := pkiGenerateCA(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, boot, "cat > /etc/kubernetes/pki/front-proxy-ca.crt <<'EOF'\n"+string(otherCert)+"EOF\ncat > /etc/kubernetes/pki/front-proxy-ca.key <<'EOF'\n"+string(otherKey)+"EOF"); err != nil {
		t.Fatal(err)
	}
	_, err = (&hostsync.Reconciler{PlanOptions: po}).Apply(ctx, site)
	if err == nil || !strings.Contains(err.Error(), "/etc/kubernetes/pki/front-proxy-ca.crt differs from mk8s' backup") || !strings.Contains(err.Error(), "node node-1") {
		t.Fatalf("CA unlike the backup: %v", err)
	}
}

func pkiGenerateCA(t *testing.T) (cert, key []byte, err error) {
	t.Helper()
	g := pki.Groups()[2] // the front-proxy CA's files
	files, err := pki.GenerateGroup(g, 2048, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return files[g[0]], files[g[1]], nil
}

// snapshot is every file a host wrote with its content checksum and mode.
func snapshot(t *testing.T, h *hosts.Host) map[string]string {
	t.Helper()
	out := map[string]string{}
	up := filepath.Join(h.Dir(), "upper")
	err := filepath.Walk(up, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		if strings.Contains(p, "/var/log/") || strings.HasSuffix(p, "lastlog") || strings.Contains(p, "/run/") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, up)] = fi.Mode().String() + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
