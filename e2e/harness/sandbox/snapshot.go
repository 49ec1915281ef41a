package sandbox

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// ObjectVersions maps every object of the Site's inventory (Flux id) to its live
// resourceVersion ("absent" when it does not exist). Two equal snapshots mean no write
// reached any managed object in between. It also returns the inventory ids in order,
// so callers can check that no id is listed twice.
func (s *Sandbox) ObjectVersions(ctx context.Context, site *status.Site) (map[string]string, []string, error) {
	if site == nil || site.Status.Inventory == nil {
		return nil, nil, fmt.Errorf("the Site has no inventory")
	}
	c, err := client.New(s.Kube.Config, client.Options{})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	var ids []string
	for _, e := range site.Status.Inventory.Entries {
		ids = append(ids, e.ID)
		md, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("inventory id %q: %w", e.ID, err)
		}
		// Flux's inventory keeps the group in the id and only the version in v.
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: md.GroupKind.Group, Version: e.V, Kind: md.GroupKind.Kind})
		err = c.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: md.Name}, u)
		switch {
		case err == nil:
			out[e.ID] = u.GetResourceVersion()
		case client.IgnoreNotFound(err) == nil:
			out[e.ID] = "absent"
		default:
			return nil, nil, fmt.Errorf("get %s: %w", e.ID, err)
		}
	}
	return out, ids, nil
}

// ManagedHostDirs are the directories where mk8s writes on a host.
var ManagedHostDirs = []string{"/etc/kubernetes", "/etc/containerd", "/etc/crictl.yaml", "/etc/systemd/system",
	"/etc/sysctl.d", "/etc/modules-load.d", "/etc/yum.repos.d", "/var/lib/kubelet", "/var/lib/metalk8s", "/etc/fstab"}

// HostFiles maps every file under ManagedHostDirs on h to "sha256 mode mtime-ns inode"
// ("mode mtime-ns inode" for the sparse files of Volumes): equal snapshots mean nothing
// was written, not even the same bytes again.
func (s *Sandbox) HostFiles(ctx context.Context, h *hosts.Host) (map[string]string, error) {
	// The sparse files of Volumes (gigabytes, mostly holes) are compared by their
	// mode, mtime and inode only: hashing them would read every hole.
	script := "cd / && find " + strings.Join(ManagedHostDirs, " ") +
		" -xdev -type f -printf '%p %m %T@ %i\\n' 2>/dev/null | sort; echo ---; find " + strings.Join(ManagedHostDirs, " ") +
		" -xdev -path " + volume.SparseDir + " -prune -o -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum"
	out, err := s.Lab.Run(ctx, h, script)
	if err != nil {
		return nil, err
	}
	meta, sums, _ := strings.Cut(out, "---\n")
	files := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(sums), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			files[f[1]] = f[0]
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(meta), "\n") {
		if f := strings.Fields(l); len(f) == 4 {
			files[f[0]] += " " + strings.Join(f[1:], " ")
		}
	}
	return files, nil
}

// AllHostFiles is HostFiles of every node of the site, keyed node:path.
func (s *Sandbox) AllHostFiles(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	var names []string
	for n := range s.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files, err := s.HostFiles(ctx, s.Nodes[n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		for p, v := range files {
			out[n+":"+p] = v
		}
	}
	return out, nil
}

// Diff lists the keys whose values differ between two snapshots.
func Diff(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return d
}

// AddNode adds site-example's node name to the working clone, on the next spare lab
// host, and returns that host.
func (s *Sandbox) AddNode(name string) (*hosts.Host, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if len(s.Nodes) >= len(s.Lab.Hosts) {
		return nil, fmt.Errorf("no spare lab host for node %s", name)
	}
	h := s.Lab.Hosts[len(s.Nodes)]
	doc, err := readFile(root + "/site-example/nodes/" + name + ".yaml")
	if err != nil {
		return nil, err
	}
	if err := s.WriteFile("nodes/"+name+".yaml", PointNode(doc, s.Lab, h)); err != nil {
		return nil, err
	}
	s.Nodes[name] = h
	return h, nil
}
