package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
)

// InitialNodes are the site-example nodes the sandbox site starts with, on the first
// lab hosts in this order. Further lab hosts are spares for nodes a test adds.
var InitialNodes = []string{"bootstrap", "master-1", "worker-1"}

var (
	annHost    = regexp.MustCompile(`(?m)^(\s*metalk8s\.scality\.com/ssh-host:).*$`)
	annHostKey = regexp.MustCompile(`(?m)^(\s*metalk8s\.scality\.com/ssh-host-key:).*$`)
	annKeyPath = regexp.MustCompile(`(?m)^(\s*metalk8s\.scality\.com/ssh-key-path:).*$`)
	replicas   = regexp.MustCompile(`(?m)^(\s*replicas:)\s*\d+\s*$`)
	nodeNameRe = regexp.MustCompile(`(?m)^\s*nodeName:\s*(\S+)\s*$`)
	lvmRe      = regexp.MustCompile(`(?m)^(\s*)lvmLogicalVolume:.*\n\s*vgName:.*\n`)
	devPathRe  = regexp.MustCompile(`(?m)^(\s*devicePath:)\s*(\S+).*$`)
)

// DiskFunc gives the lab's stand-in for a node's disk: the path of a block device
// the hosts see.
type DiskFunc func(node, devicePath string) (string, error)

// PointNode rewrites a site-example node document so that it names host h: address,
// pinned host key (the key the lab's sshd really has) and the lab's client key.
func PointNode(doc string, l *hosts.Lab, h *hosts.Host) string {
	doc = annHost.ReplaceAllString(doc, "${1} "+h.IP)
	doc = annHostKey.ReplaceAllString(doc, fmt.Sprintf("${1} %q", h.HostKey))
	return annKeyPath.ReplaceAllString(doc, "${1} "+l.KeyPath)
}

// SetReplicas rewrites the replicas of a service override document.
func SetReplicas(doc string, n int) string {
	return replicas.ReplaceAllString(doc, fmt.Sprintf("${1} %d", n))
}

// writeSite copies site-example into dir, keeps the nodes of InitialNodes (pointed at
// the first lab hosts) and the volumes on them (as the lab can make them: labVolume),
// moves the cluster's control-plane network to the lab's subnet, and starts Prometheus
// with one replica.
func writeSite(example, dir string, l *hosts.Lab, disk DiskFunc) error {
	keep := map[string]*hosts.Host{}
	for i, n := range InitialNodes {
		keep[n] = l.Hosts[i]
	}
	return filepath.WalkDir(example, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(example, p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		doc := string(b)
		switch {
		case strings.HasPrefix(rel, "nodes/"):
			h, ok := keep[strings.TrimSuffix(filepath.Base(rel), ".yaml")]
			if !ok {
				return nil
			}
			doc = PointNode(doc, l, h)
		case strings.HasPrefix(rel, "volumes/"):
			m := nodeNameRe.FindStringSubmatch(doc)
			if m == nil || keep[m[1]] == nil {
				return nil
			}
			if doc, err = labVolume(doc, m[1], disk); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		case rel == "cluster.yaml":
			doc = labNetworks(doc, l.Subnet)
		case rel == "services/prometheus.yaml":
			doc = SetReplicas(doc, 1)
		}
		return os.WriteFile(dst, []byte(doc), 0o644)
	})
}

// labVolume rewrites a site-example Volume for the lab: an LVM logical volume becomes
// a sparse file of the same size (the lab's kernel has no device-mapper), and a raw
// block device becomes the disk the sandbox gives that node (a loop device).
func labVolume(doc, node string, disk DiskFunc) (string, error) {
	doc = lvmRe.ReplaceAllString(doc, "${1}sparseLoopDevice:  # the lab has no LVM (no device-mapper): a sparse file\n")
	m := devPathRe.FindStringSubmatch(doc)
	if m == nil {
		return doc, nil
	}
	dev, err := disk(node, m[2])
	if err != nil {
		return "", err
	}
	return devPathRe.ReplaceAllString(doc, "${1} "+dev+"  # the lab's stand-in for "+m[2]), nil
}

// labNetworks moves site-example's control plane (10.213.1.0/24) to the lab's subnet,
// and its workload plane off it when they would collide.
func labNetworks(doc string, subnet int) string {
	work := "10.213.2."
	if subnet == 2 {
		work = "10.213.3."
	}
	doc = strings.ReplaceAll(doc, "10.213.2.", "\x00")
	doc = strings.ReplaceAll(doc, "10.213.1.", fmt.Sprintf("10.213.%d.", subnet))
	return strings.ReplaceAll(doc, "\x00", work)
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
