package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/schema"
)

func generateAll(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, g := range Groups() {
		f, err := GenerateGroup(g, 1024, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(out, f)
	}
	return out
}

func refusal(t *testing.T, err error, wants ...string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal, got %v", err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
}

func TestResolve(t *testing.T) {
	now := time.Now()
	live := generateAll(t)
	base := func() ResolveInput {
		return ResolveInput{Bootstrap: "boot", Live: map[string][]byte{}, Backup: &Backup{Dir: "/state/pki", Files: map[string][]byte{}}, CAKeyBits: 1024, Now: now}
	}
	t.Run("fresh cluster: everything generated and to back up", func(t *testing.T) {
		r, err := Resolve(base())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Origin) != len(allPaths()) || len(r.ToBackup) != len(allPaths()) || len(r.Authority.CAs) != 6 {
			t.Fatalf("origin %d, backup %d, CAs %d", len(r.Origin), len(r.ToBackup), len(r.Authority.CAs))
		}
	})
	t.Run("live authority adopted, backed up, never regenerated", func(t *testing.T) {
		in := base()
		in.Live = live
		r, err := Resolve(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Origin) != 0 || string(r.Authority.CAs[CAKubernetes].CertPEM) != string(live["/etc/kubernetes/pki/ca.crt"]) || len(r.ToBackup) != len(allPaths()) {
			t.Fatalf("origin %v", r.Origin)
		}
	})
	t.Run("missing with an installed backup is refused; restore puts it back", func(t *testing.T) {
		in := base()
		in.Live = maps.Clone(live)
		in.Backup.Files, in.Backup.Installed = maps.Clone(live), true
		delete(in.Live, "/etc/kubernetes/pki/etcd/ca.crt")
		delete(in.Live, "/etc/kubernetes/pki/etcd/ca.key")
		_, err := Resolve(in)
		refusal(t, err, "node boot", "/etc/kubernetes/pki/etcd/ca.crt, /etc/kubernetes/pki/etcd/ca.key is missing", "mk8s installed it", "--restore-ca")
		in.Recovery = RecoveryRestore
		r, err := Resolve(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Origin) != 2 || !strings.Contains(r.Origin["/etc/kubernetes/pki/etcd/ca.key"], "restored") {
			t.Fatalf("origin %v", r.Origin)
		}
	})
	t.Run("interrupted first install finishes from the backup", func(t *testing.T) {
		in := base()
		in.Backup.Files = maps.Clone(live)
		in.Live = map[string][]byte{"/etc/kubernetes/pki/ca.crt": live["/etc/kubernetes/pki/ca.crt"]}
		in.Evidence = []string{"boot:/etc/kubernetes/pki/apiserver.crt"}
		r, err := Resolve(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Origin) != len(allPaths())-1 {
			t.Fatalf("origin %v", r.Origin)
		}
	})
	t.Run("no backup, nodes hold certificates: refused; recreate makes a new CA", func(t *testing.T) {
		in := base()
		in.Evidence = []string{"node-2:/etc/kubernetes/kubelet.conf"}
		_, err := Resolve(in)
		refusal(t, err, "the cluster already runs (node-2:/etc/kubernetes/kubelet.conf)")
		in.Recovery = RecoveryRecreate
		if _, err := Resolve(in); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("partial, unreadable, mismatched, unlike the backup", func(t *testing.T) {
		in := base()
		in.Live = maps.Clone(live)
		delete(in.Live, "/etc/kubernetes/pki/sa.pub")
		_, err := Resolve(in)
		refusal(t, err, "partial CA material", "/etc/kubernetes/pki/sa.pub missing")

		in.Live = maps.Clone(live)
		in.Live["/etc/kubernetes/pki/ca.crt"] = []byte("garbage")
		_, err = Resolve(in)
		refusal(t, err, "node boot", "/etc/kubernetes/pki/ca.crt: not a PEM certificate")

		in.Live = maps.Clone(live)
		in.Live["/etc/kubernetes/pki/ca.key"] = live["/etc/kubernetes/pki/etcd/ca.key"]
		_, err = Resolve(in)
		refusal(t, err, "/etc/kubernetes/pki/ca.key: the key does not match the CA certificate")

		in.Live = maps.Clone(live)
		in.Unreadable = map[string]string{"/etc/kubernetes/pki/ca.key": "Permission denied"}
		_, err = Resolve(in)
		refusal(t, err, "unreadable /etc/kubernetes/pki/ca.key (Permission denied)")

		in.Unreadable = nil
		other := generateAll(t)
		in.Backup.Files = other
		_, err = Resolve(in)
		refusal(t, err, "differs from mk8s' backup", "move the backup directory /state/pki aside")
	})
}

func TestLeafCheckAndRenewal(t *testing.T) {
	files := generateAll(t)
	a, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	ca := a.CAs[CAKubernetes]
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	l := Leaf{Path: "/x.crt", KeyPath: "/x.key", CA: CAKubernetes, CN: "kube-apiserver", DNS: []string{"kubernetes"}, IPs: []net.IP{net.IPv4(10, 96, 0, 1)}, Usage: Server}
	now := time.Now()
	cert, err := l.Sign(ca, &k.PublicKey, now)
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Check(cert, &k.PublicKey, ca, now, DefaultRenew); r != "" {
		t.Fatalf("fresh certificate: %s", r)
	}
	// 90 of 365 days left is the edge: 276 days later it is due, 274 days later not.
	if r := l.Check(cert, &k.PublicKey, ca, now.Add(274*24*time.Hour), DefaultRenew); r != "" {
		t.Fatalf("274 days later: %s", r)
	}
	if r := l.Check(cert, &k.PublicKey, ca, now.Add(276*24*time.Hour), DefaultRenew); !strings.Contains(r, "lifetime left") {
		t.Fatalf("276 days later: %q", r)
	}
	if r := l.Check(cert, &k.PublicKey, ca, now.Add(200*24*time.Hour), 0.5); !strings.Contains(r, "less than 50%") {
		t.Fatalf("fraction 0.5: %q", r)
	}
	k2, _ := rsa.GenerateKey(rand.Reader, 1024)
	if r := l.Check(cert, &k2.PublicKey, ca, now, DefaultRenew); !strings.Contains(r, "another key") {
		t.Fatalf("other key: %q", r)
	}
	if r := l.Check(cert, &k.PublicKey, a.CAs[CAEtcd], now, DefaultRenew); !strings.Contains(r, "not signed by the current") {
		t.Fatalf("other CA: %q", r)
	}
	l2 := l
	l2.IPs = append(l2.IPs, net.IPv4(10, 213, 1, 10))
	if r := l2.Check(cert, &k.PublicKey, ca, now, DefaultRenew); !strings.Contains(r, "SANs") {
		t.Fatalf("new SAN: %q", r)
	}
	if strings.Contains(string(Describe(cert)), "PRIVATE") || !strings.Contains(string(Describe(cert)), "IP:10.96.0.1") {
		t.Fatalf("describe: %s", Describe(cert))
	}
}

func TestForNodeRefusesWrongSANSource(t *testing.T) {
	site := &schema.Site{
		Cluster: schema.Cluster{Networks: schema.Networks{Services: "10.96.0.0/12"}},
		Nodes: []schema.Node{
			{Name: "boot", Roles: []string{schema.RoleBootstrap, schema.RoleMaster}, SSH: schema.SSH{Host: "10.213.1.10"},
				Source: schema.Source{File: "nodes/boot.yaml", Line: 1}},
			{Name: "w", Roles: []string{schema.RoleNode}, SSH: schema.SSH{Host: "w.example.invalid"}, Source: schema.Source{File: "nodes/w.yaml", Line: 1}},
		},
	}
	if _, err := ForNode(site, "boot"); err != nil {
		t.Fatal(err)
	}
	_, err := ForNode(site, "w")
	if err == nil || !strings.Contains(err.Error(), "nodes/w.yaml:1: node w") || !strings.Contains(err.Error(), "/var/lib/kubelet/pki/kubelet.crt") {
		t.Fatalf("hostname ssh-host: %v", err)
	}
	site.Cluster.Networks.ControlPlane.IngressIP = "not-an-ip"
	_, err = ForNode(site, "boot")
	if err == nil || !strings.Contains(err.Error(), "node boot: /etc/kubernetes/pki/apiserver.crt: networks.controlPlane.ingressIP \"not-an-ip\"") {
		t.Fatalf("bad ingress IP: %v", err)
	}
	site.Cluster.Networks.ControlPlane.IngressIP = ""
	site.Cluster.Networks.Services = "fd00::/108"
	if _, err = ForNode(site, "boot"); err == nil || !strings.Contains(err.Error(), "networks.services") {
		t.Fatalf("IPv6 services: %v", err)
	}
}
