package schema_test

import (
	"fmt"
	"reflect"
	"testing"
)

// TestDefaultsApplied: what the site leaves out takes the seeds' defaults, and lists are
// sorted as types.go documents.
func TestDefaultsApplied(t *testing.T) {
	site := loadValid(t, "testdata/valid/minimal")
	n := site.Cluster.Networks
	if n.WorkloadPlane.MTU != 1460 || n.Pods != "10.233.0.0/16" || n.Services != "10.96.0.0/12" {
		t.Errorf("network defaults = %+v", n)
	}
	if n.ControlPlane.MetalLB || n.ControlPlane.IngressIP != "" || site.IngressIP() != "10.213.0.10" {
		t.Errorf("ingress = %+v / %s", n.ControlPlane, site.IngressIP())
	}
	b := site.BootstrapNode()
	if b == nil || b.Name != "bootstrap" {
		t.Fatalf("bootstrap node = %v", b)
	}
	if want := []string{"bootstrap", "etcd", "infra", "master"}; !reflect.DeepEqual(b.Roles, want) {
		t.Errorf("roles = %v, want %v (sorted)", b.Roles, want)
	}
	if b.SSH.User != "root" || b.SSH.Port != 22 || b.SSH.Sudo || b.SSH.KeyPath != "/etc/metalk8s/pki/salt-bootstrap" || b.SSH.HostKey != "" {
		t.Errorf("ssh = %+v", b.SSH)
	}
	if v := site.Volumes[0]; v.Mode != "Filesystem" || v.RawBlockDevice == nil || v.RawBlockDevice.DevicePath != "/dev/vdb" {
		t.Errorf("volume = %+v", v)
	}
	if site.Solutions == nil || site.Solutions.Active["example"] != "1.0.0" {
		t.Errorf("solutions = %+v", site.Solutions)
	}
}

func TestFullSite(t *testing.T) {
	site := loadValid(t, "testdata/valid/full")
	c := site.Cluster
	if c.Version != "2.10.0" || !c.Networks.ControlPlane.MetalLB || c.Networks.ControlPlane.IngressIP != "10.213.0.100" ||
		!reflect.DeepEqual(c.Networks.WorkloadPlane.CIDRs, []string{"10.213.1.0/24", "10.213.2.0/24"}) ||
		c.Networks.WorkloadPlane.MTU != 1500 || !c.Kubernetes.APIServer.FeatureGates["SomeGate"] ||
		c.Proxies == nil || len(c.Proxies.NoProxy) != 4 {
		t.Errorf("cluster = %+v", c)
	}
	var names []string
	for _, n := range site.Nodes {
		names = append(names, n.Name)
	}
	if !reflect.DeepEqual(names, []string{"bootstrap", "node-1", "node-2"}) {
		t.Errorf("nodes = %v", names)
	}
	n1, _ := site.Node("node-1")
	if n1.SSH.User != "admin" || !n1.SSH.Sudo || n1.SSH.Port != 2222 {
		t.Errorf("node-1 ssh = %+v", n1.SSH)
	}
	if b := site.BootstrapNode(); b.SSH.HostKey != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" || len(b.Taints) != 2 {
		t.Errorf("bootstrap = %+v", b)
	}
	var vols []string
	for _, v := range site.Volumes {
		vols = append(vols, v.Name)
	}
	if !reflect.DeepEqual(vols, []string{"bootstrap-alertmanager", "bootstrap-prometheus", "node-1-loki"}) {
		t.Errorf("volumes = %v", vols)
	}
	if v := site.Volumes[0]; v.Mode != "Block" || v.SparseLoopDevice == nil || v.SparseLoopDevice.Size != "1Gi" {
		t.Errorf("sparse volume = %+v", v)
	}
	if v := site.Volumes[2]; v.LVMLogicalVolume == nil || v.LVMLogicalVolume.VGName != "vg_metalk8s" {
		t.Errorf("lvm volume = %+v", v)
	}
	if v := site.Volumes[1]; v.TemplateLabels["app.kubernetes.io/name"] != "prometheus-operator-prometheus" {
		t.Errorf("template labels = %+v", v.TemplateLabels)
	}
	var kinds []string
	for _, s := range site.Services {
		kinds = append(kinds, s.Kind)
	}
	if want := []string{"AlertmanagerConfig", "DexConfig", "GrafanaConfig", "LokiConfig", "PrometheusConfig", "ShellUIConfig", "UIConfig"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("services = %v, want %v", kinds, want)
	}
	if dex, _ := site.Service("DexConfig"); dex.Override["kind"] != "DexConfiguration" {
		t.Errorf("dex override kind = %v (kept as written)", dex.Override["kind"])
	}
	if e := site.Environments[0]; e.Name != "prod" || e.Namespaces[0].Name != "prod-a" || e.Namespaces[1].Solutions["example-solution"] != "1.0.0" {
		t.Errorf("environment = %+v (namespaces sorted by name)", e)
	}
	// Sorted, each namespace still knows where the document writes it.
	if e := site.Environments[0]; e.Namespaces[0].Index != 1 || e.Namespaces[1].Index != 0 ||
		e.Source.LineOf(fmt.Sprintf("spec.namespaces[%d].name", e.Namespaces[0].Index)) != 11 {
		t.Errorf("environment namespaces lost their document index: %+v", e.Namespaces)
	}
	if len(site.Manifests) != 2 || site.Manifests[0].Kind != "ClusterRoleBinding" || site.Manifests[1].Kind != "PrometheusRule" ||
		site.Manifests[1].Namespace != "metalk8s-monitoring" || site.Manifests[1].Source.File != "manifests/rule.cue" {
		t.Errorf("manifests = %+v", site.Manifests)
	}
	sc := site.StorageClasses[0]
	if sc.Parameters["fsType"] != "ext4" || sc.Parameters["mkfsOptions"] != `["-m", "0"]` || sc.ReclaimPolicy != "Retain" {
		t.Errorf("storage class = %+v", sc)
	}
	// Source positions: file, document line and per-field lines.
	if src := n1.Source; src.File != "nodes/workers.yaml" || src.Line != 1 || src.LineOf(`metadata.annotations["metalk8s.scality.com/ssh-port"]`) != 11 {
		t.Errorf("node-1 source = %+v", src)
	}
	n2, _ := site.Node("node-2")
	if n2.Source.Line != 14 || n2.Source.LineOf("metadata.name") != 17 {
		t.Errorf("node-2 source = %+v (second document of the file)", n2.Source)
	}
}
