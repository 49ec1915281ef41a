package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// ErrInvalidSite means validation failed: nothing was touched. The diagnostics are in
// Result.Diagnostics.
var ErrInvalidSite = errors.New("the site is not valid; nothing was changed")

// Reconcile runs one reconcile of a site, top to bottom: load and validate, render,
// converge the hosts (when a HostReconciler is given), apply the objects, prune, wait.
// A site that fails validation changes nothing.
func Reconcile(ctx context.Context, opts Options) (Result, error) {
	p, res, err := prepare(ctx, opts)
	if err != nil {
		return res, err
	}
	var errs []error
	if !opts.ObjectsOnly {
		if opts.Hosts == nil {
			res.Hosts = hostsUnavailable()
		} else {
			p.log.Info("converging hosts")
			hs, err := opts.Hosts.Apply(ctx, p.site)
			res.Hosts = hs
			if err != nil {
				errs = append(errs, fmt.Errorf("hosts: %w", err))
			}
		}
	}
	if !opts.HostsOnly {
		p.log.Info("applying objects", "count", len(p.objs))
		set, err := p.mgr.Apply(ctx, objects.ApplyOptions{
			Objects: p.objs, AllowPruneAll: opts.AllowPruneAll, Wait: opts.Wait, WaitTimeout: opts.WaitTimeout,
		})
		res.Objects = set
		if err != nil {
			errs = append(errs, fmt.Errorf("objects: %w", locate(err, p.site)))
		}
		if inv, ierr := p.mgr.ReadInventory(ctx); ierr == nil {
			res.Inventory = &inv
		}
		p.log.Info("objects applied", "summary", set.SummaryLine())
	}
	return res, errors.Join(errs...)
}

// Plan computes what Reconcile would do, changing nothing: hosts by probing (when a
// HostReconciler is given), objects by server-side dry-run.
func Plan(ctx context.Context, opts Options) (Result, error) {
	p, res, err := prepare(ctx, opts)
	if err != nil {
		return res, err
	}
	var errs []error
	if !opts.ObjectsOnly {
		if opts.Hosts == nil {
			res.Hosts = hostsUnavailable()
		} else {
			hs, err := opts.Hosts.Plan(ctx, p.site)
			res.Hosts = hs
			if err != nil {
				errs = append(errs, fmt.Errorf("hosts: %w", err))
			}
		}
	}
	if !opts.HostsOnly {
		set, err := p.mgr.Plan(ctx, objects.PlanOptions{Objects: p.objs, AllowPruneAll: opts.AllowPruneAll})
		res.Objects = set
		if err != nil {
			errs = append(errs, fmt.Errorf("objects: %w", locate(err, p.site)))
		}
	}
	return res, errors.Join(errs...)
}

// locate prefixes the errors about a desired object that came from manifests/ with the
// file and line of its document.
func locate(err error, site *schema.Site) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, locate(e, site))
		}
		return errors.Join(out...)
	}
	var se *objects.ScopeError
	if site == nil || !errors.As(err, &se) {
		return err
	}
	o := se.Object
	for _, m := range site.Manifests {
		if m.APIVersion != o.GetAPIVersion() || m.Kind != o.GetKind() || m.Namespace != o.GetNamespace() || m.Name != o.GetName() {
			continue
		}
		return fmt.Errorf("%s:%d: %w", m.Source.File, m.Source.Line, err)
	}
	return err
}

// pipeline is what prepare hands to Reconcile and Plan.
type pipeline struct {
	site *schema.Site
	objs []*unstructured.Unstructured
	mgr  *objects.Manager
	log  *slog.Logger
}

// prepare loads, validates and renders, and connects to the cluster when objects are
// in scope. Nothing is written.
func prepare(ctx context.Context, opts Options) (*pipeline, Result, error) {
	var res Result
	if opts.ObjectsOnly && opts.HostsOnly {
		return nil, res, errors.New("--objects-only and --hosts-only exclude each other")
	}
	p := &pipeline{log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.SiteName == "" {
		opts.SiteName = DefaultSiteName
	}
	if !opts.HostsOnly {
		if err := objects.ValidateSiteName(opts.SiteName); err != nil {
			return nil, res, fmt.Errorf("--site-name: %w", err)
		}
	}
	site, diags, err := loadSite(ctx, opts)
	res.Diagnostics = diags
	if err != nil {
		return nil, res, err
	}
	p.site = site
	if opts.HostsOnly {
		return p, res, nil
	}
	if opts.Kube == nil {
		return nil, res, errors.New("objects: no cluster configuration (--kubeconfig)")
	}
	p.objs, err = render.Objects(site, render.Options{SiteName: opts.SiteName})
	if err != nil {
		return nil, res, fmt.Errorf("render: %w", err)
	}
	p.mgr, err = objects.New(opts.Kube, objects.NewOptions{Site: opts.SiteName})
	if err != nil {
		return nil, res, err
	}
	return p, res, nil
}

func loadSite(ctx context.Context, opts Options) (*schema.Site, diag.List, error) {
	switch {
	case opts.Site != nil:
		return opts.Site, nil, nil
	case opts.FS != nil:
		site, diags := schema.Load(ctx, opts.FS)
		return checkLoaded(site, diags)
	case opts.Dir != "":
		site, diags := schema.LoadDir(ctx, opts.Dir)
		return checkLoaded(site, diags)
	}
	return nil, nil, errors.New("no site given")
}

func checkLoaded(site *schema.Site, diags diag.List) (*schema.Site, diag.List, error) {
	if site == nil {
		var lines []string
		for _, d := range diags.Errors() {
			lines = append(lines, d.String())
		}
		return nil, diags, fmt.Errorf("%w:\n%s", ErrInvalidSite, strings.Join(lines, "\n"))
	}
	return site, diags, nil
}

func hostsUnavailable() change.Set {
	return change.Set{{Subject: "hosts", Action: change.Skipped,
		Message: "host convergence is not wired in this build; objects only"}}
}
