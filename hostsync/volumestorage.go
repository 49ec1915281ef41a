package hostsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// VolumeStorage prepares and releases Volumes on their nodes over the hostsync
// transport (reconciler/volumes.Storage): the node of one Volume is planned with only
// that Volume's resources (VolumeRender), and, to apply, applied by the same code as
// every host state, then read for what the PersistentVolume needs.
type VolumeStorage struct {
	// Options reach the nodes (Dial, TrustOnFirstUse, HostTimeout, Pool); Render and
	// Nodes are set per call.
	Options PlanOptions
}

// Prepare probes the node of s and decides the steps that prepare s; with apply it
// runs them and reads the volume's Info. A step that cannot be taken (a device holding
// something that is not the Volume's) fails the call before anything runs.
func (v *VolumeStorage) Prepare(ctx context.Context, site *schema.Site, s volume.Spec, apply bool) (change.Set, volume.Info, error) {
	set, p, err := v.run(ctx, site, s, VolumeRender(s), apply)
	if p != nil {
		defer p.Close()
	}
	if err != nil || !apply {
		return set, volume.Info{}, err
	}
	n, ok := site.Node(s.Node)
	if !ok {
		return set, volume.Info{}, fmt.Errorf("volume %s: node %s is not in the site", s.Name, s.Node)
	}
	conn, err := p.pool.Get(ctx, n)
	if err != nil {
		return set, volume.Info{}, fmt.Errorf("volume %s: node %s: %w", s.Name, s.Node, err)
	}
	res, err := conn.Run(ctx, []byte(volume.InfoScript(s)))
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return set, volume.Info{}, fmt.Errorf("volume %s: node %s: reading the prepared device: %w", s.Name, s.Node, err)
	}
	info, err := volume.ParseInfo(s, res.Stdout)
	if err != nil {
		return set, volume.Info{}, fmt.Errorf("volume %s: node %s: %w", s.Name, s.Node, err)
	}
	return set, info, nil
}

// Release is Prepare for releasing s (volume.Release).
func (v *VolumeStorage) Release(ctx context.Context, site *schema.Site, s volume.Spec, apply bool) (change.Set, error) {
	set, p, err := v.run(ctx, site, s, VolumeReleaseRender(s), apply)
	if p != nil {
		p.Close()
	}
	return set, err
}

// run plans the node of s with render, and applies that plan when apply is set and no
// step failed. The plan is returned open (its connections) for the caller to close.
func (v *VolumeStorage) run(ctx context.Context, site *schema.Site, s volume.Spec, render RenderFunc, apply bool) (change.Set, *HostsPlan, error) {
	po := v.Options
	po.Nodes, po.Render = []string{s.Node}, render
	p, err := Plan(ctx, site, po)
	if err != nil {
		return nil, nil, fmt.Errorf("volume %s: %w", s.Name, err)
	}
	set := p.Entries()
	if len(p.Hosts) == 0 {
		return set, p, fmt.Errorf("volume %s: node %s is not in the site", s.Name, s.Node)
	}
	if err := failedIn(set); err != nil {
		return set, p, fmt.Errorf("volume %s: %w", s.Name, err)
	}
	if !apply || !set.Changed() {
		return set, p, nil
	}
	applied, err := Apply(ctx, p, ApplyOptions{HostTimeout: po.HostTimeout})
	if err == nil {
		err = failedIn(applied)
	}
	if err != nil {
		return applied, p, fmt.Errorf("volume %s: %w", s.Name, err)
	}
	return applied, p, nil
}

// failedIn is the first failed entry as an error, naming the node and the resource.
func failedIn(set change.Set) error {
	for _, e := range set {
		if e.Action == change.Failed {
			return errors.New("node " + e.Host + ": " + e.Subject + ": " + e.Message)
		}
	}
	return nil
}
