package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/solution"
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
			res.Hosts, res.Certificates = hs, certificates(opts.Hosts)
			if refused(err) {
				// The host half refused the site as a whole (a CA missing from a running
				// cluster, a SAN it cannot compute): nothing was changed on any host,
				// and the objects wait too, so that the site stays where it was.
				return res, fmt.Errorf("hosts: %w; nothing was changed", err)
			}
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
		if err != nil && len(set) == 0 {
			err = clusterError(ctx, opts.Kube, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("objects: %w", locate(err, p.site)))
		}
		if inv, ierr := p.mgr.ReadInventory(ctx); ierr == nil {
			res.Inventory = &inv
		}
		p.log.Info("objects applied", "summary", set.SummaryLine())
		// Volumes need both halves: their objects (and UIDs) from the API, their storage
		// on the nodes. A Volume that fails is reported and the others go on.
		if opts.Volumes != nil && !opts.ObjectsOnly {
			p.log.Info("converging volumes")
			vs, err := opts.Volumes.Reconcile(ctx, p.site)
			res.Volumes = vs
			if err != nil {
				errs = append(errs, fmt.Errorf("volumes: %w", err))
			}
		}
	}
	return res, errors.Join(errs...)
}

// certificates are those the host half reports, if it does.
func certificates(h HostReconciler) []pki.Certificate {
	if r, ok := h.(CertificateReporter); ok {
		return r.Certificates()
	}
	return nil
}

// refused reports whether the host half refused the whole site (pki.RefusedError).
func refused(err error) bool {
	var r interface{ Refused() bool }
	return errors.As(err, &r) && r.Refused()
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
			res.Hosts, res.Certificates = hs, certificates(opts.Hosts)
			if err == nil {
				// A host that could not be planned (unreachable, refused host key, failed
				// probe) is an entry, not an error, to the host half: the plan is incomplete
				// and reconcile would fail on it, so the plan fails too.
				err = failedHosts(hs)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("hosts: %w", err))
			}
		}
	}
	if !opts.HostsOnly {
		set, err := p.mgr.Plan(ctx, objects.PlanOptions{Objects: p.objs, AllowPruneAll: opts.AllowPruneAll})
		res.Objects = set
		if err != nil && len(set) == 0 {
			err = clusterError(ctx, opts.Kube, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("objects: %w", locate(err, p.site)))
		}
		if opts.Volumes != nil && !opts.ObjectsOnly {
			vs, err := opts.Volumes.Plan(ctx, p.site)
			res.Volumes = vs
			if err != nil {
				errs = append(errs, fmt.Errorf("volumes: %w", err))
			}
		}
	}
	return res, errors.Join(errs...)
}

// clusterError replaces the error of an object half that did nothing by a clear one
// when the cluster itself cannot be used (unreachable, certificate refused, credentials
// refused): the discovery behind the first request reports those as, say, "failed to
// get server groups: unknown", under the name of whichever object came first. It costs
// one request, and only after a failure.
func clusterError(ctx context.Context, cfg *rest.Config, err error) error {
	if cfg == nil || ctx.Err() != nil {
		return err
	}
	d, derr := discovery.NewDiscoveryClientForConfig(cfg)
	if derr != nil {
		return err
	}
	if perr := d.RESTClient().Get().AbsPath("/api").Do(ctx).Error(); perr != nil {
		return fmt.Errorf("cannot use the cluster at %s (check the kubeconfig's server, certificate authority and credentials): %w", cfg.Host, perr)
	}
	return err
}

// locate prefixes the errors about a desired object that came from manifests/ (out of
// scope, or refused by the API server) with the file and line of its document.
func locate(err error, site *schema.Site) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, locate(e, site))
		}
		return errors.Join(out...)
	}
	o := objects.ObjectOf(err)
	if site == nil || o == nil {
		return err
	}
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
	// archives are the Solution archives of the site, opened, by path.
	archives map[string]*solution.Archive
	objs     []*unstructured.Unstructured
	mgr      *objects.Manager
	log      *slog.Logger
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
	// The archives first: the host half serves their images, the object half deploys
	// their operators, and neither may start on a site whose archives are not all there.
	p.archives, diags, err = openArchives(ctx, site, opts.OpenArchive)
	res.Diagnostics = append(res.Diagnostics, diags...)
	if err != nil {
		return nil, res, fmt.Errorf("solutions: %w", err)
	}
	if opts.HostsOnly {
		return p, res, nil
	}
	if opts.Kube == nil {
		return nil, res, errors.New("objects: no cluster configuration (--kubeconfig)")
	}
	p.objs, err = render.Objects(site, render.Options{SiteName: opts.SiteName, Decrypt: opts.Decrypt, Archives: p.archives})
	if err != nil {
		var located interface{ Diagnostics() diag.List }
		if errors.As(err, &located) {
			// Secrets that cannot be decrypted, Solutions that cannot be deployed:
			// reported like validation errors (file, line, field), which they are to
			// whoever reads -o json.
			res.Diagnostics = append(res.Diagnostics, located.Diagnostics()...)
		}
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

// failedHosts names the hosts that have a failed entry.
func failedHosts(set change.Set) error {
	var names []string
	for _, e := range set {
		if e.Action == change.Failed && !slices.Contains(names, e.Host) {
			names = append(names, e.Host)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("the plan failed on hosts: %s", strings.Join(names, ", "))
}

func hostsUnavailable() change.Set {
	return change.Set{{Subject: "hosts", Action: change.Skipped,
		Message: "host convergence is not wired in this build; objects only"}}
}
