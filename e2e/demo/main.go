// Command demo is `make demo`: the whole mk8s loop on a local sandbox (a real
// kube-apiserver and etcd, SSH hosts in network namespaces, a bare git repository as the
// bootstrap node's push target). It seeds a signed site from site-example/, runs the
// reconciler daemon, shows the Volumes and the PKI it created, ages one certificate,
// pushes a signed change (which renews it), imports a Solution and runs it by another,
// then pushes an unsigned one, shows what mk8s says at each step, and tears everything
// down, also on Ctrl-C or failure.
// hack/demo.sh builds and runs it as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/status"
)

func main() {
	mk8s := flag.String("mk8s", "bin/mk8s", "the mk8s binary")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := run(ctx, *mk8s, os.Stdout)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "\ndemo interrupted; the sandbox was torn down")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	w    io.Writer
	sb   *sandbox.Sandbox
	step int
	mk8s string
}

func (d *demo) header(title string) {
	d.step++
	fmt.Fprintf(d.w, "\n━━━ %d. %s\n", d.step, title)
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.w, format+"\n", a...) }

// show prints a command as the user would type it, runs it, and prints its output.
// allowFail says a non-zero exit is expected (mk8s status of a site that is not Ready).
func (d *demo) show(ctx context.Context, allowFail bool, args ...string) (string, error) {
	shown := append([]string{"mk8s"}, args...)
	fmt.Fprintf(d.w, "$ %s\n", d.shortenCmd(quoteArgs(shown)))
	out, err := d.sb.MK8s(ctx, args...)
	fmt.Fprint(d.w, indent(out))
	if err != nil {
		if allowFail {
			fmt.Fprintf(d.w, "  (%v)\n", err)
			return out, nil
		}
		return out, fmt.Errorf("mk8s %s: %w", args[0], err)
	}
	return out, nil
}

func (d *demo) git(ctx context.Context, args ...string) error {
	fmt.Fprintf(d.w, "$ %s\n", shorten(quoteArgs(append([]string{"git"}, args...)), d.sb.Dir))
	out, err := d.sb.Git(ctx, args...)
	fmt.Fprint(d.w, indent(out))
	return err
}

func (d *demo) kubectl(ctx context.Context, args ...string) error {
	fmt.Fprintf(d.w, "$ %s\n", quoteArgs(append([]string{"kubectl"}, args...)))
	out, err := d.sb.Kube.RunKubectl(ctx, args...)
	fmt.Fprint(d.w, indent(string(out)))
	return err
}

func shorten(s, dir string) string { return strings.ReplaceAll(s, dir, "$SANDBOX") }

// shortenCmd also names the sandbox cluster's kubeconfig $KUBECONFIG.
func (d *demo) shortenCmd(s string) string {
	return shorten(strings.ReplaceAll(s, d.sb.Kube.Kubeconfig, "$KUBECONFIG"), d.sb.Dir)
}

// quoteArgs prints a command line as a shell would need it.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$?*\\{}()[]|&;<>#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}

func run(ctx context.Context, mk8s string, w io.Writer) (err error) {
	abs, err := filepath.Abs(mk8s)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("the mk8s binary: %w (run make build)", err)
	}
	d := &demo{w: w, mk8s: abs}
	started := time.Now()
	d.header("Sandbox: a real kube-apiserver + etcd, 4 SSH hosts, the bootstrap node's bare repository")
	d.sb, err = sandbox.Start(ctx, sandbox.Options{Hosts: 4, MK8s: abs, Log: w})
	defer func() {
		if d.sb == nil {
			return
		}
		d.header("Teardown: daemon, hosts, apiserver and etcd stopped by PID; namespaces and temp dirs removed")
		if cerr := d.sb.Close(); cerr != nil {
			d.say("teardown: %v", cerr)
			if err == nil {
				err = cerr
			}
			return
		}
		d.say("nothing left running. Total time: %s", time.Since(started).Round(time.Second))
	}()
	if err != nil {
		return err
	}
	sb := d.sb
	d.say("sandbox directory: %s (shown as $SANDBOX)", sb.Dir)
	d.say("$ export KUBECONFIG=%s   # the sandbox cluster's admin", sb.Kube.Kubeconfig)
	d.say("lab hosts (reachable only from network namespace %s):", sb.Lab.CtlNS)
	for _, n := range sandbox.InitialNodes {
		h := sb.Nodes[n]
		d.say("  %-10s %s  pinned host key %s…", n, h.IP, h.HostKey[:40])
	}
	d.say("  %-10s %s  (spare: joins the site with the signed change)", "", sb.Lab.Hosts[3].IP)

	d.header("The site: site-example/ on the lab hosts, first commit signed with the operator's SSH key")
	if err := d.git(ctx, "log", "--format=%h %G? %s  (signed by %GS)", "-1"); err != nil {
		return err
	}
	d.say("(%%G? = G: good signature. The reconciler trusts the key through $SANDBOX/etc/allowed_signers, not the repository.)")
	if _, err := d.show(ctx, false, "validate", sb.Work); err != nil {
		return err
	}

	d.header("The reconciler daemon on the bootstrap node")
	dm, err := sb.StartDaemon(ctx, sandbox.DaemonOptions{})
	if err != nil {
		return err
	}
	d.say("$ %s &   # pid %d", d.shortenCmd(quoteArgs(append([]string{"mk8s"}, dm.Args...))), dm.PID)
	first, err := sb.Head(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := sb.WaitApplied(ctx, 5*time.Minute, first); err != nil {
		return fmt.Errorf("%w\ndaemon log:\n%s", err, dm.Tail(30))
	}
	d.say("first revision applied in %s (hosts converged over SSH, objects server-side applied)", time.Since(t0).Round(100*time.Millisecond))
	if _, err := d.show(ctx, false, "status"); err != nil {
		return err
	}
	if err := d.kubectl(ctx, "get", "sites"); err != nil {
		return err
	}

	d.header("The Volumes the first reconcile made real: storage on the nodes, PersistentVolumes, status")
	if err := d.showVolumes(ctx); err != nil {
		return err
	}

	d.header("The PKI the first reconcile created: CAs on the bootstrap node, certificates and kubeconfigs per node")
	if err := d.showPKI(ctx, dm); err != nil {
		return err
	}

	d.header("A year later, for one certificate: apiserver-etcd-client.crt has 30 days left")
	const agedCert = "/etc/kubernetes/pki/apiserver-etcd-client.crt"
	if err := d.ageCertificate(ctx, "bootstrap", agedCert, pki.CAEtcd); err != nil {
		return err
	}
	if err := d.ssh(ctx, "bootstrap", "openssl x509 -noout -serial -enddate -in "+agedCert); err != nil {
		return err
	}
	d.say("(re-signed by the etcd CA with its own key, subject and usages, as a cluster installed 335 days ago holds it;")
	d.say(" mk8s renews what has less than 90 of its 365 days left, as MetalK8s does. The next reconcile renews it.)")

	d.header("A signed change: Prometheus 1 → 2 replicas, and a new worker node (worker-2)")
	prom, err := sb.ReadFile("services/prometheus.yaml")
	if err != nil {
		return err
	}
	if err := sb.WriteFile("services/prometheus.yaml", sandbox.SetReplicas(prom, 2)); err != nil {
		return err
	}
	if _, err := sb.AddNode("worker-2"); err != nil {
		return err
	}
	if _, err := sb.Commit(ctx, true, "Prometheus: 2 replicas; add worker-2"); err != nil {
		return err
	}
	if err := d.git(ctx, "show", "--stat", "--format=%h %G? %s", "HEAD"); err != nil {
		return err
	}
	d.say("The plan of this change: hosts probed over SSH (from the lab namespace), objects by server-side dry run:")
	planOut, err := d.show(ctx, true, "plan", "--dir", sb.Work, "--ssh-netns", sb.Lab.CtlNS, "--packages", "probe-only",
		"--state-dir", filepath.Join(sb.Dir, "state"))
	if err != nil {
		return err
	}
	if !strings.Contains(planOut, "Certificate "+agedCert) {
		return fmt.Errorf("the plan does not renew %s", agedCert)
	}
	d.say("The certificate is re-issued for the same key, and only its user, the kube-apiserver static pod, is restarted")
	d.say("(its manifest carries the digest of the files it mounts); etcd, the scheduler and the controller-manager are not.")
	second, err := sb.Push(ctx)
	if err != nil {
		return err
	}
	pushed := time.Now()
	d.say("$ %s", shorten(sb.PushCommand(), sb.Dir))
	if _, err := sb.WaitApplied(ctx, 5*time.Minute, second); err != nil {
		return fmt.Errorf("%w\ndaemon log:\n%s", err, dm.Tail(30))
	}
	d.say("applied %s after the push (the daemon watches the bare repository's refs)", time.Since(pushed).Round(100*time.Millisecond))
	if _, err := d.show(ctx, false, "status"); err != nil {
		return err
	}
	if err := d.kubectl(ctx, "-n", "metalk8s-monitoring", "get", "configmap", "metalk8s-prometheus-config",
		"-o", "jsonpath={.data.config\\.yaml}"); err != nil {
		d.say("  (%v)", err)
	}
	if err := d.ssh(ctx, "bootstrap", "openssl x509 -noout -serial -enddate -in "+agedCert+" && openssl verify -CAfile /etc/kubernetes/pki/etcd/ca.crt "+agedCert); err != nil {
		return err
	}
	w2 := sb.Nodes["worker-2"]
	out, err := sb.Lab.Run(ctx, w2, "ls /etc/kubernetes/manifests /var/lib/kubelet")
	if err != nil {
		return err
	}
	d.say("$ ssh worker-2 ls /etc/kubernetes/manifests /var/lib/kubelet")
	fmt.Fprint(w, indent(out))

	d.header("A Solution from the repository: example-solution 1.0.0 imported, activated, run in staging")
	// The sandbox runs no controller-manager nor kubelet: a stand-in marks the
	// operator's Deployment rolled out, for the daemon's health wait.
	if err := sb.RollOutDeployments(ctx); err != nil {
		return err
	}
	if err := d.showSolution(ctx); err != nil {
		return fmt.Errorf("%w\ndaemon log:\n%s", err, dm.Tail(30))
	}
	if second, err = sb.Head(ctx); err != nil {
		return err
	}

	d.header("An unsigned commit is refused, and nothing changes")
	site, err := sb.Site(ctx)
	if err != nil {
		return err
	}
	objBefore, _, err := sb.ObjectVersions(ctx, site)
	if err != nil {
		return err
	}
	hostBefore, err := sb.AllHostFiles(ctx)
	if err != nil {
		return err
	}
	if err := sb.WriteFile("services/prometheus.yaml", sandbox.SetReplicas(prom, 5)); err != nil {
		return err
	}
	if _, err := sb.Commit(ctx, false, "Prometheus: 5 replicas (unsigned)"); err != nil {
		return err
	}
	if err := d.git(ctx, "log", "--format=%h %G? %s", "-1"); err != nil {
		return err
	}
	third, err := sb.Push(ctx)
	if err != nil {
		return err
	}
	d.say("$ %s", shorten(sb.PushCommand(), sb.Dir))
	refused, err := sb.WaitSite(ctx, 2*time.Minute, "the unsigned revision refused", func(s *status.Site) bool {
		return s.Status.LastAttemptedRevision == sandbox.Revision(third) && hasReason(s, status.ReasonVerificationFailed)
	})
	if err != nil {
		return fmt.Errorf("%w\ndaemon log:\n%s", err, dm.Tail(30))
	}
	if _, err := d.show(ctx, true, "status"); err != nil {
		return err
	}
	objAfter, _, err := sb.ObjectVersions(ctx, refused)
	if err != nil {
		return err
	}
	hostAfter, err := sb.AllHostFiles(ctx)
	if err != nil {
		return err
	}
	od, hd := sandbox.Diff(objBefore, objAfter), sandbox.Diff(hostBefore, hostAfter)
	d.say("last applied revision: %s (still the last signed change)", refused.Status.LastAppliedRevision)
	d.say("managed objects: %d, resourceVersions changed: %d", len(objAfter), len(od))
	d.say("files under mk8s' directories on %d hosts: %d, changed (checksum, mode, mtime, inode; sparse volume files by mode, mtime, inode): %d", len(sb.Nodes), len(hostAfter), len(hd))
	if refused.Status.LastAppliedRevision != sandbox.Revision(second) || len(od) > 0 || len(hd) > 0 {
		return fmt.Errorf("the refused revision changed something: applied %s, objects %v, hosts %v",
			refused.Status.LastAppliedRevision, od, hd)
	}
	if err := dm.Stop(10 * time.Second); err != nil {
		return err
	}
	return nil
}

func hasReason(s *status.Site, reason string) bool {
	for _, c := range s.Status.Conditions {
		if c.Reason == reason {
			return true
		}
	}
	return false
}
