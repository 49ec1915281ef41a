package seed

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/schema"
)

const siteExample = "../site-example"

// site-example is a complete site the loader accepts: 6 nodes (a bootstrap, two more
// masters with etcd, three workers of which one is infra), each with a pinned host key
// in the lab range, the service volumes, service overrides, a ClusterRoleBinding, and a
// solution run by an environment.
func TestSiteExample(t *testing.T) {
	site := validateSite(t, siteExample)

	roles := map[string][]string{}
	for _, n := range site.Nodes {
		roles[n.Name] = n.Roles
		if !strings.HasPrefix(n.SSH.HostKey, "ssh-ed25519 AAAA") {
			t.Errorf("node %s: host key %q not pinned", n.Name, n.SSH.HostKey)
		}
		if !strings.HasPrefix(n.SSH.Host, "10.213.1.") {
			t.Errorf("node %s: ssh host %s outside the lab control plane", n.Name, n.SSH.Host)
		}
	}
	want := map[string][]string{
		"bootstrap": {"bootstrap", "etcd", "infra", "master"},
		"master-1":  {"etcd", "master"},
		"master-2":  {"etcd", "master"},
		"worker-1":  {"infra", "node"},
		"worker-2":  {"node"},
		"worker-3":  {"node"},
	}
	if len(roles) != len(want) {
		t.Errorf("nodes = %v, want %v", roles, want)
	}
	for n, r := range want {
		if !slices.Equal(roles[n], r) {
			t.Errorf("node %s: roles %v, want %v", n, roles[n], r)
		}
	}

	apps := map[string]int{}
	for _, v := range site.Volumes {
		apps[v.TemplateLabels["app.kubernetes.io/name"]]++
	}
	for _, app := range []string{"prometheus-operator-prometheus", "prometheus-operator-alertmanager", "loki"} {
		if apps[app] == 0 {
			t.Errorf("no volume for %s", app)
		}
	}
	for _, kind := range []string{"AlertmanagerConfig", "DexConfig", "LokiConfig", "PrometheusConfig"} {
		if _, ok := site.Service(kind); !ok {
			t.Errorf("no %s override", kind)
		}
	}
	if site.Solutions == nil || len(site.Solutions.Archives) != 0 {
		t.Errorf("solutions = %+v", site.Solutions)
	}
	if len(site.Environments) != 1 {
		t.Errorf("environments = %+v", site.Environments)
	}
	if !slices.ContainsFunc(site.Manifests, func(m schema.Manifest) bool { return m.Kind == "ClusterRoleBinding" }) {
		t.Errorf("no ClusterRoleBinding among the manifests")
	}
}

// site-example holds no private key.
func TestSiteExampleHoldsNoPrivateKey(t *testing.T) {
	n := 0
	err := filepath.WalkDir(siteExample, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "PRIVATE KEY") {
			t.Errorf("%s holds a private key", p)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walk %s: %d files, %v", siteExample, n, err)
	}
}
