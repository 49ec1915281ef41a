package sitegen

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing/fstest"
)

// Options of a generated site.
type Options struct {
	// Nodes is the number of nodes (the first one is the bootstrap node, the next two
	// are masters, the rest workers). Default 200.
	Nodes int
	// VolumesPerNode is the number of volumes per node, one file each. Default 10.
	VolumesPerNode int
}

func (o Options) withDefaults() Options {
	if o.Nodes <= 0 {
		o.Nodes = 200
	}
	if o.VolumesPerNode < 0 {
		o.VolumesPerNode = 0
	} else if o.VolumesPerNode == 0 {
		o.VolumesPerNode = 10
	}
	return o
}

// Files returns the site as path -> content. The same options always give the same bytes.
func Files(o Options) map[string][]byte {
	o = o.withDefaults()
	files := map[string][]byte{}
	add := func(name, format string, args ...any) { files[name] = fmt.Appendf(nil, format, args...) }
	add("cluster.yaml", `apiVersion: metalk8s.scality.com/v1alpha3
kind: BootstrapConfiguration
version: 2.10.0
networks:
  controlPlane:
    cidr: 10.213.0.0/20
    ingress:
      ip: 10.213.15.250
  workloadPlane:
    cidr: 10.213.16.0/20
    mtu: 1460
  pods: 10.233.0.0/16
  services: 10.96.0.0/12
ca:
  minion: node-000
archives:
  - /srv/scality/metalk8s-2.10.0.iso
`)
	add("storageclasses/metalk8s.yaml", `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: metalk8s
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
mountOptions:
  - rw
parameters:
  fsType: ext4
  mkfsOptions: '["-m", "0"]'
`)
	add("storageclasses/metalk8s-xfs.yaml", `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: metalk8s-xfs
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
parameters:
  fsType: xfs
`)
	base := netip.MustParseAddr("10.213.0.10")
	for i := range o.Nodes {
		name := fmt.Sprintf("node-%03d", i)
		ip := base
		for range i {
			ip = ip.Next()
		}
		labels, taints := "    node-role.kubernetes.io/node: ''\n", ""
		switch {
		case i == 0:
			labels = "    node-role.kubernetes.io/bootstrap: ''\n    node-role.kubernetes.io/master: ''\n    node-role.kubernetes.io/etcd: ''\n    node-role.kubernetes.io/infra: ''\n"
			taints = "spec:\n  taints:\n    - key: node-role.kubernetes.io/bootstrap\n      effect: NoSchedule\n    - key: node-role.kubernetes.io/infra\n      effect: NoSchedule\n"
		case i < 3:
			labels = "    node-role.kubernetes.io/master: ''\n    node-role.kubernetes.io/etcd: ''\n"
			taints = "spec:\n  taints:\n    - key: node-role.kubernetes.io/master\n      effect: NoSchedule\n    - key: node-role.kubernetes.io/etcd\n      effect: NoSchedule\n"
		}
		add("nodes/"+name+".yaml", `apiVersion: v1
kind: Node
metadata:
  name: %s
  labels:
    metalk8s.scality.com/version: '2.10.0'
%s  annotations:
    metalk8s.scality.com/ssh-host: %s
    metalk8s.scality.com/ssh-user: root
    metalk8s.scality.com/ssh-port: '22'
    metalk8s.scality.com/ssh-sudo: 'false'
    metalk8s.scality.com/ssh-key-path: /etc/metalk8s/pki/salt-bootstrap
%s`, name, labels, ip, taints)
		for v := range o.VolumesPerNode {
			vname := fmt.Sprintf("%s-vol-%02d", name, v)
			class := "metalk8s"
			if v%2 == 1 {
				class = "metalk8s-xfs"
			}
			source := fmt.Sprintf("  rawBlockDevice:\n    devicePath: /dev/vd%c\n", 'b'+rune(v%20))
			if v%3 == 2 {
				source = fmt.Sprintf("  sparseLoopDevice:\n    size: %dGi\n", 1+v)
			}
			add("volumes/"+vname+".yaml", `apiVersion: storage.metalk8s.scality.com/v1alpha1
kind: Volume
metadata:
  name: %s
spec:
  nodeName: %s
  storageClassName: %s
  mode: Filesystem
%s  template:
    metadata:
      labels:
        app.kubernetes.io/name: bench-%02d
`, vname, name, class, source, v)
		}
	}
	add("services/alertmanager.yaml", `apiVersion: addons.metalk8s.scality.com
kind: AlertmanagerConfig
spec:
  deployment:
    replicas: 2
  notification:
    config:
      global:
        resolve_timeout: 5m
`)
	add("services/prometheus.yaml", `apiVersion: addons.metalk8s.scality.com
kind: PrometheusConfig
spec:
  deployment:
    replicas: 2
  config:
    retention_time: 30d
    retention_size: 90GB
`)
	add("solutions.yaml", `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: SolutionsConfiguration
archives:
  - /solutions/bench-solution-1.0.0.iso
active:
  bench-solution: 1.0.0
`)
	add("environments/bench.yaml", `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: Environment
metadata:
  name: bench
spec:
  description: Benchmark environment
  namespaces:
    - name: bench-a
      solutions:
        bench-solution: 1.0.0
`)
	add("manifests/namespace.yaml", `apiVersion: v1
kind: Namespace
metadata:
  name: bench-tools
`)
	return files
}

// FS returns the site as an in-memory file system.
func FS(o Options) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, b := range Files(o) {
		fsys[name] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return fsys
}

// WriteDir writes the site under dir (created if needed).
func WriteDir(dir string, o Options) error {
	files := Files(o)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write site %s: %w", p, err)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return fmt.Errorf("write site %s: %w", p, err)
		}
	}
	return nil
}
