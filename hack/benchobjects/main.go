// Command benchobjects measures the Kubernetes half of mk8s against a real
// kube-apiserver (hack/testenv.sh), side by side with `kubectl apply --server-side` of
// the same objects against the same apiserver: a first apply of 1,000 objects (50
// Nodes, 500 Volumes, 10 namespaces, 440 ConfigMaps) and a no-op re-apply. Each round
// uses fresh object names for each tool, so every first apply is a real first apply.
//
// A third column is the floor: the same 1,000 objects written by a bare HTTP client,
// one server-side apply each, 16 in flight, with no discovery, no dry-run and no
// inventory. No client can create them faster against this apiserver on this machine,
// so kubectl's time over the floor bounds the first-apply ratio any tool can reach here.
// It prints a markdown table for BENCHMARKS.md; run it through hack/bench-objects.sh.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds (each: kubectl and mk8s, first apply then no-op)")
	inFlight := flag.Int("floor-concurrency", 16, "requests in flight of the floor writer (16 is mk8s's default)")
	flag.Parse()
	if err := run(*rounds, *inFlight); err != nil {
		fmt.Fprintln(os.Stderr, "benchobjects:", err)
		os.Exit(1)
	}
}

type sample struct{ first, noop time.Duration }

func run(rounds, inFlight int) error {
	ctx := context.Background()
	env, err := kubeenv.Start(ctx, kubeenv.StartOptions{})
	if err != nil {
		return err
	}
	defer env.Stop()
	dir, err := os.MkdirTemp("", "mk8s-bench-objects-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The Volume CRD is installed once, outside the measurements.
	crdObjs, err := render.Objects(&schema.Site{}, render.Options{SiteName: "bench-crd",
		EffectiveConfig: func(*schema.Site, string) (map[string]any, error) { return map[string]any{}, nil }})
	if err != nil {
		return err
	}
	var crd []*unstructured.Unstructured
	for _, o := range crdObjs {
		if o.GetKind() == "CustomResourceDefinition" {
			crd = append(crd, o)
		}
	}
	m, err := objects.New(env.Config, objects.NewOptions{Site: "bench-crd"})
	if err != nil {
		return err
	}
	if _, err := m.Apply(ctx, objects.ApplyOptions{Objects: crd, Wait: true}); err != nil {
		return err
	}

	mapper, err := newMapper(env)
	if err != nil {
		return err
	}
	var mk, kc, fl []sample
	var cpu []map[string]time.Duration
	var noopCounts string
	for r := range rounds {
		// kubectl, then mk8s, on distinct names, same apiserver.
		kset := generate(fmt.Sprintf("k%d", r))
		file := filepath.Join(dir, fmt.Sprintf("k%d.yaml", r))
		b, err := render.Marshal(kset)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return err
		}
		var s sample
		if s.first, err = kubectl(env, file); err != nil {
			return err
		}
		if s.noop, err = kubectl(env, file); err != nil {
			return err
		}
		kc = append(kc, s)

		site := fmt.Sprintf("m%d", r)
		mset := generate(site)
		if s.first, _, err = mk8s(ctx, env, site, mset); err != nil {
			return err
		}
		var counter *kubeenv.RequestCounter
		if s.noop, counter, err = mk8s(ctx, env, site, mset); err != nil {
			return err
		}
		if counter.Writes() != 0 {
			return fmt.Errorf("mk8s no-op made %d writes: %s", counter.Writes(), counter.String())
		}
		noopCounts = counter.String()
		mk = append(mk, s)

		var f sample
		before := serverCPU()
		if f.first, err = floor(ctx, env, mapper, generate(fmt.Sprintf("f%d", r)), inFlight); err != nil {
			return err
		}
		used := serverCPU()
		for name := range used {
			used[name] -= before[name]
		}
		cpu = append(cpu, used)
		fl = append(fl, f)
		fmt.Fprintf(os.Stderr, "round %d: kubectl first %v noop %v | mk8s first %v noop %v (%s) | floor first %v\n",
			r+1, kc[r].first, kc[r].noop, s.first, s.noop, noopCounts, f.first)
	}

	km, mm, fm := median(kc), median(mk), median(fl)
	fmt.Printf("| 1,000 objects (50 Nodes, 500 Volumes, 10 Namespaces, 440 ConfigMaps), median of %d | kubectl apply --server-side | mk8s | ratio | floor (writes alone, %d in flight) | kubectl / floor |\n", rounds, inFlight)
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| first apply | %s | %s | %.1f× | %s | %.1f× |\n", fmtDur(km.first), fmtDur(mm.first), ratio(km.first, mm.first), fmtDur(fm.first), ratio(km.first, fm.first))
	fmt.Printf("| no-op re-apply | %s | %s | %.1f× | | |\n", fmtDur(km.noop), fmtDur(mm.noop), ratio(km.noop, mm.noop))
	fmt.Printf("\nmk8s no-op requests (by method): %s; writes: 0.\n", noopCounts)
	fmt.Printf("\nCPU per object created by the floor writer (median of %d rounds): kube-apiserver %s, etcd %s.\n",
		rounds, perObject(cpu, "kube-apiserver"), perObject(cpu, "etcd"))
	return nil
}

// mk8s applies objs as a reconcile does (a fresh Manager: discovery, inventory, one
// list per kind, apply, prune, inventory write), counting its requests.
func mk8s(ctx context.Context, env *kubeenv.Env, site string, objs []*unstructured.Unstructured) (time.Duration, *kubeenv.RequestCounter, error) {
	counter := &kubeenv.RequestCounter{}
	start := time.Now()
	m, err := objects.New(counter.Wrap(env.Config), objects.NewOptions{Site: site})
	if err != nil {
		return 0, counter, err
	}
	if _, err := m.Apply(ctx, objects.ApplyOptions{Objects: objs}); err != nil {
		return 0, counter, err
	}
	return time.Since(start), counter, nil
}

func kubectl(env *kubeenv.Env, file string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command(env.Kubectl, "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", file).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("kubectl apply: %v: %s", err, out)
	}
	return time.Since(start), nil
}

// generate builds 1,000 objects named for one run: the shapes render produces.
func generate(prefix string) []*unstructured.Unstructured {
	site := &schema.Site{Cluster: schema.Cluster{Version: "2.10.0"}}
	for i := range 50 {
		site.Nodes = append(site.Nodes, schema.Node{Name: fmt.Sprintf("%s-node-%02d", prefix, i),
			Roles: []string{"node"}, SSH: schema.SSH{Host: fmt.Sprintf("10.213.1.%d", i+10), User: "root", Port: 22}})
	}
	for i := range 500 {
		site.Volumes = append(site.Volumes, schema.Volume{Name: fmt.Sprintf("%s-vol-%03d", prefix, i),
			NodeName: fmt.Sprintf("%s-node-%02d", prefix, i%50), StorageClassName: "metalk8s", Mode: "Filesystem",
			SparseLoopDevice: &schema.SparseLoopDevice{Size: "10Gi"},
			TemplateLabels:   map[string]string{"app.kubernetes.io/name": "bench"}})
	}
	var out []*unstructured.Unstructured
	objs, _ := render.Objects(site, render.Options{SiteName: prefix,
		EffectiveConfig: func(*schema.Site, string) (map[string]any, error) { return map[string]any{}, nil }})
	for _, o := range objs {
		if o.GetKind() == "Node" || o.GetKind() == "Volume" {
			out = append(out, o)
		}
	}
	labels := render.OwnershipLabels(prefix)
	for n := range 10 {
		ns := fmt.Sprintf("%s-ns-%d", prefix, n)
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": ns}}}
		u.SetLabels(labels)
		out = append(out, u)
		for c := range 44 {
			cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": fmt.Sprintf("config-%02d", c), "namespace": ns},
				"data":     map[string]any{"config.yaml": fmt.Sprintf("replicas: %d\nretention: 30d\n", c)}}}
			cm.SetLabels(labels)
			out = append(out, cm)
		}
	}
	return out
}

func median(s []sample) sample {
	f := make([]time.Duration, len(s))
	n := make([]time.Duration, len(s))
	for i := range s {
		f[i], n[i] = s[i].first, s[i].noop
	}
	sort.Slice(f, func(i, j int) bool { return f[i] < f[j] })
	sort.Slice(n, func(i, j int) bool { return n[i] < n[j] })
	return sample{first: f[len(f)/2], noop: n[len(n)/2]}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func newMapper(env *kubeenv.Env) (meta.RESTMapper, error) {
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		return nil, err
	}
	return apiutil.NewDynamicRESTMapper(env.Config, hc)
}

// floor writes objs as fast as a client can: namespaces first (the rest needs them),
// then everything else, one server-side apply per object, inFlight at a time, nothing
// decoded. The REST mappings are resolved before the clock starts.
func floor(ctx context.Context, env *kubeenv.Env, mapper meta.RESTMapper, objs []*unstructured.Unstructured, inFlight int) (time.Duration, error) {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, err
	}
	host := strings.TrimSuffix(cfg.Host, "/")
	type write struct {
		url  string
		body []byte
	}
	var namespaces, others []write
	for _, o := range objs {
		mapping, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			return 0, err
		}
		path := "/apis/" + o.GetAPIVersion()
		if o.GetAPIVersion() == "v1" {
			path = "/api/v1"
		}
		if ns := o.GetNamespace(); ns != "" {
			path += "/namespaces/" + ns
		}
		body, err := json.Marshal(o.Object)
		if err != nil {
			return 0, err
		}
		w := write{url: host + path + "/" + mapping.Resource.Resource + "/" + o.GetName() + "?fieldManager=floor&force=true", body: body}
		if o.GetKind() == "Namespace" {
			namespaces = append(namespaces, w)
		} else {
			others = append(others, w)
		}
	}
	send := func(ws []write) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(inFlight)
		for _, w := range ws {
			g.Go(func() error {
				req, err := http.NewRequestWithContext(gctx, http.MethodPatch, w.url, bytes.NewReader(w.body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/apply-patch+yaml")
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					return err
				}
				if resp.StatusCode >= 300 {
					return fmt.Errorf("floor: PATCH %s: %s", w.url, resp.Status)
				}
				return nil
			})
		}
		return g.Wait()
	}
	start := time.Now()
	if err := send(namespaces); err != nil {
		return 0, err
	}
	if err := send(others); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// serverCPU reads the CPU time (user + system) used so far by the kube-apiserver and
// etcd processes this benchmark started (its children), from /proc.
func serverCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		stat := string(b)
		lp, rp := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if lp < 0 || rp < lp {
			continue
		}
		name, fields := stat[lp+1:rp], strings.Fields(stat[rp+1:])
		// fields[1] is the parent PID, fields[11] and [12] utime and stime in ticks.
		if len(fields) < 13 || (name != "kube-apiserver" && name != "etcd") || fields[1] != fmt.Sprint(os.Getpid()) {
			continue
		}
		var utime, stime int64
		fmt.Sscan(fields[11], &utime)
		fmt.Sscan(fields[12], &stime)
		out[name] += time.Duration(utime+stime) * time.Second / clockTicks
	}
	return out
}

// clockTicks is USER_HZ, 100 on Linux for every architecture Go supports here.
const clockTicks = 100

func perObject(rounds []map[string]time.Duration, name string) string {
	var d []time.Duration
	for _, r := range rounds {
		d = append(d, r[name]/1000)
	}
	if len(d) == 0 {
		return "n/a"
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("%.2f ms", float64(d[len(d)/2].Microseconds())/1000)
}
