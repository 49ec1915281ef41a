package hostsynce2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/e2e/harness/staticpod"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/etcd"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// etcdClientFromHost is an etcd client with the healthcheck certificate mk8s rendered
// on the host, read back from it.
func etcdClientFromHost(t *testing.T, l *hosts.Lab, h *hosts.Host) *etcd.Client {
	t.Helper()
	pair, err := tls.X509KeyPair(hostFile(t, h, "/etc/kubernetes/pki/etcd/healthcheck-client.crt"), hostFile(t, h, "/etc/kubernetes/pki/etcd/healthcheck-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(hostFile(t, h, "/etc/kubernetes/pki/etcd/ca.crt")) {
		t.Fatal("etcd ca.crt")
	}
	return etcd.New(etcd.Options{Dial: l.Dial, TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}})
}

// kubeClient reads a kubeconfig mk8s rendered on the host and dials through the lab.
func kubeClient(t *testing.T, l *hosts.Lab, h *hosts.Host, path string) (*rest.Config, *kubernetes.Clientset) {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(hostFile(t, h, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg.Dial = l.Dial
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// poll calls f until it succeeds, failing the test with its last error after timeout.
func poll(t *testing.T, ctx context.Context, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (last error: %v)", what, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func startPod(t *testing.T, ctx context.Context, h *hosts.Host, manifest string, bins map[string]string) *staticpod.Process {
	t.Helper()
	p, err := staticpod.Start(ctx, h, manifest, staticpod.Options{Binaries: bins})
	if err != nil {
		t.Fatalf("%s on %s: %v", manifest, h.Name, err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping %s: %v", manifest, err)
		}
		if t.Failed() {
			t.Logf("%s on %s (%s):\n%s", manifest, h.Name, p.State(), p.Log())
		}
	})
	return p
}

// The rendered control plane runs: a bootstrap+etcd+master node converged by mk8s runs
// etcd and kube-apiserver with exactly the command lines of the static pod manifests
// mk8s wrote, on the certificates, keys and kubeconfigs it wrote (the testenv binaries
// stand in for the images). The admin kubeconfig reaches the API server (/readyz, a
// ConfigMap); the rendered healthcheck certificate checks etcd. Then a second etcd
// member is added on another host: mk8s adds it to the cluster, converges the host and
// waits for it to be healthy (the gate between members); the cluster has two healthy
// members, and the next reconcile changes nothing.
func TestRenderedControlPlaneRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	assets, err := kubeenv.AssetsDir(ctx)
	if err != nil {
		kubeenv.SkipOrFail(t, err)
	}
	bins := map[string]string{"etcd": filepath.Join(assets, "etcd"), "kube-apiserver": filepath.Join(assets, "kube-apiserver")}
	l := startLab(t, ctx, hosts.Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	site := labSite(l, nodeOf(l, "node-1", h1, schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster))
	site.Cluster.Kubernetes.APIServer.FeatureGates = nil
	po := planOpts(l)
	if _, res, err := converge(t, ctx, site, po, hostsync.ApplyOptions{}); err != nil {
		t.Fatalf("%v: %v", err, res)
	}

	etcd1 := startPod(t, ctx, h1, "/etc/kubernetes/manifests/etcd.yaml", bins)
	if a := strings.Join(etcd1.Args(), " "); !strings.Contains(a, "--initial-cluster-state=new") || !strings.Contains(a, "--cert-file=/etc/kubernetes/pki/etcd/server.crt") {
		t.Fatalf("etcd command line: %s", a)
	}
	ec := etcdClientFromHost(t, l, h1)
	defer ec.CloseIdleConnections()
	ep1 := "https://" + h1.IP + ":2379"
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer hcancel()
	if err := ec.WaitHealthy(hctx, ep1, 200*time.Millisecond); err != nil {
		t.Fatalf("etcd on node-1: %v", err)
	}

	startPod(t, ctx, h1, "/etc/kubernetes/manifests/kube-apiserver.yaml", bins)
	adminCfg, admin := kubeClient(t, l, h1, "/etc/kubernetes/admin.conf")
	if !strings.HasPrefix(adminCfg.Host, "https://"+h1.IP+":6443") {
		t.Fatalf("admin.conf server: %s", adminCfg.Host)
	}
	poll(t, ctx, 2*time.Minute, "/readyz with admin.conf", func() error {
		body, err := admin.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) != "ok" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	})
	// As kubeadm does at init: super-admin.conf (system:masters) binds the group of
	// admin.conf's user to cluster-admin.
	_, super := kubeClient(t, l, h1, "/etc/kubernetes/super-admin.conf")
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:cluster-admins"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "kubeadm:cluster-admins"}}}
	if _, err := super.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("binding kubeadm:cluster-admins: %v", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "proof", Namespace: "default"}, Data: map[string]string{"runs": "yes"}}
	// admin.conf's permissions come from that binding once the API server's RBAC cache
	// has it.
	poll(t, ctx, 30*time.Second, "ConfigMap with admin.conf", func() error {
		_, err := admin.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	// The Secret is encrypted at rest with the rendered EncryptionConfiguration: the API
	// server started with it and stores Secrets.
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Secret: %v", err)
	}

	// A second etcd member on another host.
	site.Nodes = append(site.Nodes, nodeOf(l, "node-2", h2, schema.RoleEtcd))
	started := make(chan *staticpod.Process, 1)
	startErr := make(chan error, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		// Start node-2's etcd as kubelet would: as soon as its manifest appears.
		manifest := filepath.Join(h2.Dir(), "upper/etc/kubernetes/manifests/etcd.yaml")
		for {
			if _, err := os.Stat(manifest); err == nil {
				p, err := staticpod.Start(watchCtx, h2, "/etc/kubernetes/manifests/etcd.yaml", staticpod.Options{Binaries: bins})
				if err != nil {
					startErr <- err
					return
				}
				started <- p
				return
			}
			select {
			case <-watchCtx.Done():
				startErr <- watchCtx.Err()
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	r := &hostsync.Reconciler{PlanOptions: po, ApplyOptions: hostsync.ApplyOptions{EtcdHealthTimeout: 3 * time.Minute}}
	res, err := r.Apply(ctx, site)
	var etcd2 *staticpod.Process
	select {
	case etcd2 = <-started:
		t.Cleanup(func() {
			if err := etcd2.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("etcd on node-2 (%s):\n%s", etcd2.State(), etcd2.Log())
			}
		})
	case err := <-startErr:
		t.Fatalf("starting etcd on node-2: %v (apply: %v)", err, res)
	}
	if err != nil {
		t.Fatalf("adding node-2: %v\n%v", err, res)
	}
	var added bool
	for _, e := range res {
		if e.Subject == "EtcdMember node-2" && e.Action == change.Created {
			added = true
		}
	}
	if !added {
		t.Fatalf("no member add reported: %v", res)
	}
	if a := strings.Join(etcd2.Args(), " "); !strings.Contains(a, "--initial-cluster-state=existing") ||
		!strings.Contains(a, "node-1=https://"+h1.IP+":2380") || !strings.Contains(a, "node-2=https://"+h2.IP+":2380") {
		t.Fatalf("node-2 etcd command line: %s", a)
	}
	ms, err := ec.MemberList(ctx, ep1)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members: %v %v", ms, err)
	}
	for _, ep := range []string{ep1, "https://" + h2.IP + ":2379"} {
		if err := ec.Health(ctx, ep); err != nil {
			t.Errorf("member %s: %v", ep, err)
		}
	}
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if c := changed(p.Entries()); len(c) != 0 {
		t.Fatalf("after the second member: %v", c)
	}
	if _, err := admin.CoreV1().ConfigMaps("default").Get(ctx, "proof", metav1.GetOptions{}); err != nil {
		t.Fatalf("the API server lost its data: %v", err)
	}
}
