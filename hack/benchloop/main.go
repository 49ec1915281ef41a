// Command benchloop is the loop part of `make bench` (hack/bench-loop.sh): on the loop
// sandbox (e2e/harness/sandbox: real kube-apiserver and etcd, SSH hosts, a bare
// repository as the push target, `mk8s run` with hosts wired), it measures the
// push-to-applied latency of an object-only change, from the return of `git push` (plus,
// for the webhook, the POST of the push event) until the Site's lastAppliedRevision is
// the pushed commit and Ready, over N pushes, once with the local-repository watch and
// once with the webhook only; and the daemon's resident memory (VmRSS) while idle after
// the first reconcile of the site settled. It prints the numbers BENCHMARKS.md records.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
)

func main() {
	mk8s := flag.String("mk8s", "bin/mk8s", "the mk8s binary")
	pushes := flag.Int("pushes", 20, "pushes per trigger")
	idle := flag.Duration("idle", 10*time.Second, "how long the daemon idles before its RSS is read")
	objectsOnly := flag.Bool("objects-only", false, "run the daemon with --objects-only (no host probe), to see what the hosts half costs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *mk8s, *pushes, *idle, *objectsOnly); err != nil {
		fmt.Fprintln(os.Stderr, "benchloop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mk8s string, pushes int, idle time.Duration, objectsOnly bool) (err error) {
	abs, err := filepath.Abs(mk8s)
	if err != nil {
		return err
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{Hosts: 3, MK8s: abs, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sb.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	// Watch: the daemon as on a bootstrap node, local repository watch on.
	d, err := sb.StartDaemon(ctx, sandbox.DaemonOptions{ObjectsOnly: objectsOnly})
	if err != nil {
		return err
	}
	first, err := sb.Head(ctx)
	if err != nil {
		return err
	}
	if _, err := sb.WaitApplied(ctx, 5*time.Minute, first); err != nil {
		return fmt.Errorf("%w: %s", err, d.Tail(20))
	}
	time.Sleep(idle) // let the first reconcile's garbage be collected, as a daemon idles
	rss, err := d.RSS()
	if err != nil {
		return err
	}
	site, err := sb.Site(ctx)
	if err != nil {
		return err
	}
	objs := 0
	if site.Status.Inventory != nil {
		objs = len(site.Status.Inventory.Entries)
	}
	if objectsOnly {
		fmt.Println("daemon: mk8s run --objects-only")
	} else {
		fmt.Println("daemon: mk8s run with hosts (every reconcile also probes the 3 hosts over SSH)")
	}
	fmt.Printf("idle daemon RSS after the first reconcile (%d nodes, %d objects, %s idle): %.1f MiB (VmRSS of /proc/%d/status)\n",
		len(site.Status.Nodes), objs, idle, float64(rss)/(1<<20), d.PID)

	watch, err := measure(ctx, sb, d, pushes, false, 0)
	if err != nil {
		return err
	}
	report("local-repository watch", watch)
	rss2, _ := d.RSS()
	fmt.Printf("daemon RSS after %d more reconciles: %.1f MiB\n", pushes, float64(rss2)/(1<<20))
	if err := d.Stop(20 * time.Second); err != nil {
		return err
	}

	// Webhook: the same daemon without the watch; each push is followed by the push event.
	d, err = sb.StartDaemon(ctx, sandbox.DaemonOptions{NoWatch: true, ObjectsOnly: objectsOnly})
	if err != nil {
		return err
	}
	head, err := sb.Head(ctx)
	if err != nil {
		return err
	}
	if _, err := sb.WaitApplied(ctx, 2*time.Minute, head); err != nil {
		return fmt.Errorf("%w: %s", err, d.Tail(20))
	}
	hook, err := measure(ctx, sb, d, pushes, true, pushes)
	if err != nil {
		return err
	}
	report("webhook (no watch)", hook)
	return d.Stop(20 * time.Second)
}

// measure pushes n object-only changes (the Prometheus retention time) and returns the
// push-to-applied latencies.
func measure(ctx context.Context, sb *sandbox.Sandbox, d *sandbox.Daemon, n int, webhook bool, offset int) ([]time.Duration, error) {
	var out []time.Duration
	for i := range n {
		prom, err := sb.ReadFile("services/prometheus.yaml")
		if err != nil {
			return nil, err
		}
		days := 30 + offset + i + 1
		if err := sb.WriteFile("services/prometheus.yaml", replaceRetention(prom, days)); err != nil {
			return nil, err
		}
		if _, err := sb.Commit(ctx, true, "retention "+strconv.Itoa(days)+"d"); err != nil {
			return nil, err
		}
		start := time.Now()
		commit, err := sb.Push(ctx)
		if err != nil {
			return nil, err
		}
		if webhook {
			body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, commit)
			code, err := d.Webhook(ctx, []byte(body), nil)
			if err != nil || code/100 != 2 {
				return nil, fmt.Errorf("webhook: %d %v", code, err)
			}
		}
		if _, err := sb.WaitApplied(ctx, time.Minute, commit); err != nil {
			return nil, fmt.Errorf("%w: %s", err, d.Tail(20))
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func replaceRetention(doc string, days int) string {
	return retention.ReplaceAllString(doc, "${1} "+strconv.Itoa(days)+"d")
}

func pct(s []time.Duration, p float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(float64(len(c))*p+0.999999) - 1
	if i < 0 {
		i = 0
	}
	return c[i]
}

func report(name string, l []time.Duration) {
	fmt.Printf("push-to-applied, %s, %d pushes: p50 %s, p90 %s, min %s, max %s\n", name, len(l),
		pct(l, 0.5).Round(time.Millisecond), pct(l, 0.9).Round(time.Millisecond),
		slices.Min(l).Round(time.Millisecond), slices.Max(l).Round(time.Millisecond))
}
