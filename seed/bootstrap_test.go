package seed

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const bootstrapV1alpha3YAML = `apiVersion: metalk8s.scality.com/v1alpha3
kind: BootstrapConfiguration
networks:
  controlPlane:
    cidr:
      - 10.213.1.0/24
      - 10.213.3.0/24
    ingress:
      ip: 10.213.1.10
    metalLB:
      enabled: true
  workloadPlane:
    cidr: 10.213.2.0/24
    mtu: 1500
  pods: 10.234.0.0/16
  services: 10.97.0.0/16
  portmap:
    cidr: 10.213.4.0/24
proxies:
  http: http://10.213.1.5:3128
  https: http://10.213.1.5:3128
  no_proxy:
    - localhost
    - 10.213.0.0/16
ca:
  minion: boot-1
archives:
  - /srv/scality/metalk8s-2.10.0.iso
kubernetes:
  apiServer:
    featureGates:
      SomeFeature: true
      OtherFeature: false
`

// A v1alpha3 bootstrap.yaml becomes cluster.yaml field for field; the node takes the
// name of ca.minion; a field mk8s does not know is reported, with its line.
func TestSeedFromBootstrapConfigV1alpha3(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	cfg := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(cfg, []byte(bootstrapV1alpha3YAML), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "site")
	o := flagOptions(dir, k.private)
	o.Network = Network{}
	o.Node.Name = ""
	o.BootstrapConfig = cfg
	res, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(res.Files, "nodes/boot-1.yaml") {
		t.Fatalf("files = %v, want nodes/boot-1.yaml (ca.minion)", res.Files)
	}
	warned := false
	for _, w := range res.Warnings {
		warned = warned || strings.Contains(w, cfg+":17: networks.portmap: not carried")
	}
	if !warned {
		t.Fatalf("warnings = %q, want one about networks.portmap at line 17", res.Warnings)
	}
	var got map[string]any
	readYAML(t, filepath.Join(dir, "cluster.yaml"), &got)
	want := map[string]any{
		"apiVersion": "metalk8s.scality.com/v1alpha3",
		"kind":       "BootstrapConfiguration",
		"version":    "2.10.0",
		"networks": map[string]any{
			"controlPlane": map[string]any{
				"cidr":    []any{"10.213.1.0/24", "10.213.3.0/24"},
				"ingress": map[string]any{"ip": "10.213.1.10"},
				"metalLB": map[string]any{"enabled": true},
			},
			"workloadPlane": map[string]any{"cidr": "10.213.2.0/24", "mtu": float64(1500)},
			"pods":          "10.234.0.0/16",
			"services":      "10.97.0.0/16",
		},
		"proxies": map[string]any{"http": "http://10.213.1.5:3128", "https": "http://10.213.1.5:3128",
			"no_proxy": []any{"localhost", "10.213.0.0/16"}},
		"ca":         map[string]any{"minion": "boot-1"},
		"archives":   []any{"/srv/scality/metalk8s-2.10.0.iso"},
		"kubernetes": map[string]any{"apiServer": map[string]any{"featureGates": map[string]any{"SomeFeature": true, "OtherFeature": false}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cluster.yaml =\n%v\nwant\n%v", got, want)
	}
	t.Run("validate", func(t *testing.T) { validateSite(t, dir) })
}

// A v1alpha2 bootstrap.yaml (MetalK8s 2.4) is converted: CIDR strings become the
// v1alpha3 networks, apiServer.host becomes the bootstrap node's SSH host; flags given
// with the file override its values.
func TestSeedFromBootstrapConfigV1alpha2(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	cfg := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: metalk8s.scality.com/v1alpha2
kind: BootstrapConfiguration
networks:
  controlPlane: 10.213.1.0/24
  workloadPlane: 10.213.2.0/24
ca:
  minion: old-boot
apiServer:
  host: 10.213.1.21
  keepalived:
    enabled: false
archives:
  - /srv/scality/metalk8s-2.4.1.iso
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "site")
	o := flagOptions(dir, k.private)
	o.Network = Network{Archives: []string{"/srv/scality/metalk8s-2.10.0.iso"}} // overrides the file
	o.Node = Node{}
	o.BootstrapConfig = cfg
	res, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "converted from metalk8s.scality.com/v1alpha2") ||
		!strings.Contains(strings.Join(res.Warnings, "\n"), cfg+":10: apiServer.keepalived: not carried") {
		t.Fatalf("warnings = %q", res.Warnings)
	}
	var c struct {
		APIVersion string `json:"apiVersion"`
		Networks   struct {
			ControlPlane struct {
				CIDR    string            `json:"cidr"`
				Ingress map[string]string `json:"ingress"`
			} `json:"controlPlane"`
			WorkloadPlane struct {
				CIDR string `json:"cidr"`
				MTU  int    `json:"mtu"`
			} `json:"workloadPlane"`
			Pods, Services string
		}
		CA       map[string]string `json:"ca"`
		Archives []string          `json:"archives"`
	}
	readYAML(t, filepath.Join(dir, "cluster.yaml"), &c)
	if c.APIVersion != "metalk8s.scality.com/v1alpha3" || c.Networks.ControlPlane.CIDR != "10.213.1.0/24" ||
		c.Networks.ControlPlane.Ingress["ip"] != "10.213.1.21" || c.Networks.WorkloadPlane.CIDR != "10.213.2.0/24" ||
		c.Networks.WorkloadPlane.MTU != 1460 || c.Networks.Pods != "10.233.0.0/16" || c.Networks.Services != "10.96.0.0/12" ||
		c.CA["minion"] != "old-boot" || !reflect.DeepEqual(c.Archives, []string{"/srv/scality/metalk8s-2.10.0.iso"}) {
		t.Fatalf("cluster.yaml = %+v", c)
	}
	var n struct {
		Metadata struct {
			Annotations map[string]string
		}
	}
	readYAML(t, filepath.Join(dir, "nodes/old-boot.yaml"), &n)
	if h := n.Metadata.Annotations["metalk8s.scality.com/ssh-host"]; h != "10.213.1.21" {
		t.Fatalf("ssh-host = %q, want apiServer.host", h)
	}
	t.Run("validate", func(t *testing.T) { validateSite(t, dir) })
}

// A bad bootstrap.yaml is refused with the file, line and field, and nothing is written.
func TestSeedBootstrapConfigErrors(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	cases := map[string]struct{ yaml, want string }{
		"apiVersion": {"kind: BootstrapConfiguration\napiVersion: metalk8s.scality.com/v9\n",
			`bootstrap.yaml:2: apiVersion: is "metalk8s.scality.com/v9"; metalk8s.scality.com/v1alpha3 or metalk8s.scality.com/v1alpha2`},
		"kind": {"apiVersion: metalk8s.scality.com/v1alpha3\nkind: Node\n",
			`bootstrap.yaml:2: kind: is "Node"; BootstrapConfiguration`},
		"type": {strings.Replace(bootstrapV1alpha3YAML, "mtu: 1500", "mtu: big", 1),
			"bootstrap.yaml:14: cannot unmarshal !!str `big` into int"},
		"minion": {strings.Replace(bootstrapV1alpha3YAML, "  minion: boot-1\n", "", 1),
			"bootstrap.yaml:25: ca.minion: is missing"},
		"cidr": {strings.Replace(bootstrapV1alpha3YAML, "10.213.3.0/24", "10.213.3.0/99", 1),
			`--control-plane-cidr: "10.213.3.0/99" is not a CIDR`},
		"not yaml": {"networks: [\n", "bootstrap.yaml:1: not YAML: did not find expected node content"},
		"cidr a mapping": {strings.Replace(bootstrapV1alpha3YAML, "cidr: 10.213.2.0/24", "cidr: {a: 10.213.2.0/24}", 1),
			"bootstrap.yaml:13: not a CIDR or a list of CIDRs"},
		"minion not a DNS label": {strings.Replace(bootstrapV1alpha3YAML, "minion: boot-1", "minion: Boot-1.example.com", 1),
			`bootstrap.yaml: ca.minion: "Boot-1.example.com" is not a DNS label`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "bootstrap.yaml")
			if err := os.WriteFile(cfg, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "site")
			o := flagOptions(dir, k.private)
			o.Network, o.Node.Name, o.BootstrapConfig = Network{}, "", cfg
			_, err := Seed(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatal("a refused seed created the directory")
			}
		})
	}
	t.Run("name differs from ca.minion", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "bootstrap.yaml")
		if err := os.WriteFile(cfg, []byte(bootstrapV1alpha3YAML), 0o644); err != nil {
			t.Fatal(err)
		}
		o := flagOptions(filepath.Join(t.TempDir(), "site"), k.private)
		o.Network, o.BootstrapConfig = Network{}, cfg
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "ca.minion") {
			t.Fatalf("err = %v", err)
		}
	})
}
