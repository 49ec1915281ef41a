package hostsynce2e_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func startLab(t *testing.T, ctx context.Context, opts hosts.Options) *hosts.Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("real sshd hosts need root")
	}
	l, err := hosts.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	// One login first, so that sshd's own writes (lastlog, wtmp) are already in the
	// upper layer before a test snapshots it.
	for _, h := range l.Hosts {
		if _, err := l.Run(ctx, h, "true"); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// nodeOf points a site node at a lab host, with its pinned key.
func nodeOf(l *hosts.Lab, name string, h *hosts.Host, roles ...string) schema.Node {
	sort.Strings(roles)
	return schema.Node{Name: name, Roles: roles,
		SSH: schema.SSH{Host: h.IP, Port: 22, User: "root", KeyPath: l.KeyPath, HostKey: h.HostKey}}
}

// labSite is the site-example shape (a bootstrap node that is also etcd and master, a
// second control-plane node, a worker) on lab hosts.
func labSite(l *hosts.Lab, nodes ...schema.Node) *schema.Site {
	cidr := fmt.Sprintf("10.213.%d.0/24", l.Subnet)
	return &schema.Site{
		Cluster: schema.Cluster{
			APIVersion: schema.APIVersionBootstrapV1alpha3, Version: "2.10.0",
			Networks: schema.Networks{ControlPlane: schema.ControlPlane{CIDRs: []string{cidr}},
				WorkloadPlane: schema.WorkloadPlane{CIDRs: []string{cidr}, MTU: 1460},
				Pods:          "10.233.0.0/16", Services: "10.96.0.0/12"},
			Proxies:    &schema.Proxies{HTTP: "http://proxy.lab.invalid:3128", HTTPS: "http://proxy.lab.invalid:3128", NoProxy: []string{".svc"}},
			Kubernetes: schema.Kubernetes{APIServer: schema.APIServer{FeatureGates: map[string]bool{"InPlacePodVerticalScaling": true}}},
		},
		Nodes: nodes,
	}
}

func planOpts(l *hosts.Lab) hostsync.PlanOptions {
	// The PKI backup lives with the lab (removed by Close); 2048-bit CAs keep the tests
	// fast (the product's CAs are 4096-bit, as MetalK8s').
	return hostsync.PlanOptions{Dial: l.Dial, Packages: resource.PackagesProbeOnly,
		PKI: hostsync.PKIOptions{BackupDir: filepath.Join(l.Dir, "pki-backup"), CAKeyBits: 2048}}
}

// converge plans and applies; it fails the test on a plan error but returns apply's.
func converge(t *testing.T, ctx context.Context, site *schema.Site, po hostsync.PlanOptions, ao hostsync.ApplyOptions) (*hostsync.HostsPlan, change.Set, error) {
	t.Helper()
	p, err := hostsync.Plan(ctx, site, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	res, err := hostsync.Apply(ctx, p, ao)
	return p, res, err
}

// changed returns the entries that change something (not unchanged, not skipped).
func changed(s change.Set) change.Set {
	var out change.Set
	for _, e := range s {
		if e.Action != change.Unchanged && e.Action != change.Skipped {
			out = append(out, e)
		}
	}
	return out
}

// upperFiles lists the regular files a host has written (its overlay upper layer), as
// host paths.
func upperFiles(t *testing.T, h *hosts.Host) map[string]bool {
	t.Helper()
	up := filepath.Join(h.Dir(), "upper")
	out := map[string]bool{}
	err := filepath.WalkDir(up, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out[strings.TrimPrefix(p, up)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newFiles(before, after map[string]bool) []string {
	var out []string
	for p := range after {
		if !before[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// statAll returns `path mode owner:group inode mtime ctime` per path, read on the host.
func statAll(t *testing.T, ctx context.Context, l *hosts.Lab, h *hosts.Host, paths []string) map[string]string {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "stat -c '%%n|%%a|%%U:%%G|%%i|%%y|%%z' '%s'\n", p)
	}
	out, err := l.Run(ctx, h, b.String())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		n, rest, _ := strings.Cut(line, "|")
		m[n] = rest
	}
	return m
}
