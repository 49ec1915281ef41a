package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/hostsync/volume"
)

// showVolumes shows what the Volumes phase of the first reconcile made real: each
// Volume Available on its node with the device backing it, its PersistentVolume on the
// persistent path /dev/disk/by-uuid/<uid>, and on a node the filesystem whose UUID is
// the Volume's UID.
func (d *demo) showVolumes(ctx context.Context) error {
	if err := d.kubectl(ctx, "get", "volumes", "-o",
		"custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase,DEVICE:.status.deviceName,UID:.metadata.uid"); err != nil {
		return err
	}
	if err := d.kubectl(ctx, "get", "pv", "-o",
		"custom-columns=NAME:.metadata.name,PATH:.spec.local.path,NODE:.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0],CAPACITY:.spec.capacity.storage,CLASS:.spec.storageClassName"); err != nil {
		return err
	}
	dev, err := d.sb.Kube.RunKubectl(ctx, "get", "volume", "worker-1-prometheus", "-o", "jsonpath={.spec.rawBlockDevice.devicePath}")
	if err != nil {
		return err
	}
	d.say("(worker-1-prometheus is a raw disk, here %s; worker-1-alertmanager a sparse file under %s, on a loop device)", dev, volume.SparseDir)
	return d.ssh(ctx, "worker-1", "blkid -p -o export "+string(dev)+" | grep -E '^(UUID|TYPE)='")
}

// showSolution imports the example Solution (an ISO built here, as a vendor ships it),
// activates it and runs it in the staging environment, in one signed commit.
func (d *demo) showSolution(ctx context.Context) error {
	sb := d.sb
	iso, err := sb.SolutionISO(ctx, "1.0.0")
	if err != nil {
		return err
	}
	d.say("$ mk8s solution inspect %s", shorten(iso, sb.Dir))
	out, err := sb.MK8s(ctx, "solution", "inspect", iso)
	if err != nil {
		return fmt.Errorf("mk8s solution inspect: %w\n%s", err, out)
	}
	fmt.Fprint(d.w, indent(shorten(firstLines(out, 12), sb.Dir)))
	if err := sb.WriteFile("solutions.yaml", fmt.Sprintf(`apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: SolutionsConfiguration
archives:
  - %s
active:
  example-solution: 1.0.0
`, iso)); err != nil {
		return err
	}
	env, err := sb.ReadFile("environments/staging.yaml")
	if err != nil {
		return err
	}
	env = strings.TrimRight(env, "\n") + "\n      solutions:\n        example-solution: 1.0.0\n"
	if err := sb.WriteFile("environments/staging.yaml", env); err != nil {
		return err
	}
	if _, err := sb.Commit(ctx, true, "Import example-solution 1.0.0 and run it in staging"); err != nil {
		return err
	}
	if err := d.git(ctx, "show", "--format=%h %G? %s", "HEAD", "--", "solutions.yaml", "environments/staging.yaml"); err != nil {
		return err
	}
	c, err := sb.Push(ctx)
	if err != nil {
		return err
	}
	pushed := time.Now()
	d.say("$ %s", shorten(sb.PushCommand(), sb.Dir))
	if _, err := sb.WaitApplied(ctx, 5*time.Minute, c); err != nil {
		return err
	}
	d.say("applied %s after the push: the ISO mounted on the bootstrap node, its images served by the registry,", time.Since(pushed).Round(100*time.Millisecond))
	d.say("its CRDs applied (the active version), and its operator deployed in the staging namespace:")
	if err := d.ssh(ctx, "bootstrap", "findmnt -n -o TARGET,FSTYPE,OPTIONS /srv/scality/example-solution-1.0.0 && ls /var/lib/metalk8s/repositories/conf.d"); err != nil {
		return err
	}
	if err := d.kubectl(ctx, "get", "crd", "-l", "app.kubernetes.io/part-of=example-solution", "-o", "name"); err != nil {
		return err
	}
	if err := d.kubectl(ctx, "-n", "example-staging", "get", "serviceaccounts,roles,rolebindings,configmaps,deployments", "-l", "app.kubernetes.io/part-of=example-solution"); err != nil {
		return err
	}
	d.say("(READY 1/1 is the sandbox's stand-in for the controller-manager and kubelets it does not run.)")
	return d.kubectl(ctx, "-n", "example-staging", "get", "deployment", "example-solution-operator", "-o",
		"jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].args}{\"\\n\"}")
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + "…\n"
}
