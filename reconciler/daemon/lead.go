package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// lead is the reconcile loop of the Lease holder: one reconcile at a time, until
// shutdown is done (after letting the running reconcile finish within ShutdownGrace)
// or leadership is lost (at once: another daemon may take over).
func (d *Daemon) lead(shutdown, leader context.Context) {
	d.setLeading(true)
	// runCtx is what reconciles see: cancelled at once when leadership is lost, and
	// ShutdownGrace after shutdown starts.
	runCtx, cancelRun := context.WithCancel(leader)
	defer cancelRun()
	go func() {
		select {
		case <-runCtx.Done():
			return
		case <-shutdown.Done():
		}
		t := time.NewTimer(d.opts.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			d.log.Warn("shutdown grace elapsed; abandoning the running reconcile (the next start completes it)")
			cancelRun()
		case <-runCtx.Done():
		}
	}()

	if !d.prepare(shutdown, leader) {
		return
	}
	watchCtx, stopWatch := context.WithCancel(leader)
	defer stopWatch()
	go d.watchSite(watchCtx, d.status.Dynamic())

	d.queue.Add(TriggerStart)
	poll := time.NewTimer(time.Hour)
	poll.Stop()
	d.resetPoll(poll)
	defer poll.Stop()
	for {
		select {
		case <-shutdown.Done():
			return
		case <-leader.Done():
			d.log.Warn("lost the Lease; standing by")
			return
		case <-poll.C:
			d.queue.Add(TriggerPoll)
		case <-d.queue.C():
			reasons := d.queue.Take()
			if len(reasons) == 0 {
				continue
			}
			d.runOnce(runCtx, leader, reasons)
			d.resetPoll(poll)
		}
	}
}

// resetPoll arms the poll timer for interval + jitter from now (the interval counts
// from the end of the previous reconcile, as Flux does).
func (d *Daemon) resetPoll(t *time.Timer) {
	if d.opts.PollInterval <= 0 {
		return
	}
	jitter := time.Duration(rand.Float64() * d.opts.PollJitter * float64(d.opts.PollInterval))
	t.Reset(d.opts.PollInterval + jitter)
}

// prepare installs the Site CRD and the Site, retrying until it works or the daemon
// stops leading.
func (d *Daemon) prepare(shutdown, leader context.Context) bool {
	for {
		err := d.status.EnsureCRD(leader)
		if err == nil {
			_, err = d.status.Ensure(leader, d.opts.Site, d.opts.Source)
		}
		if err == nil {
			d.mu.Lock()
			d.crdReady = true
			d.mu.Unlock()
			return true
		}
		d.log.Error("cannot install the Site status; retrying", "site", d.opts.Site, "err", err)
		select {
		case <-shutdown.Done():
			return false
		case <-leader.Done():
			return false
		case <-time.After(d.opts.RetryInterval):
		}
	}
}

// runOnce runs (or, when suspended, skips) one reconcile and records it.
func (d *Daemon) runOnce(runCtx, leader context.Context, reasons []string) {
	site, err := d.status.Get(leader, d.opts.Site)
	if err != nil {
		d.log.Error("cannot read the Site; will retry on the next trigger", "site", d.opts.Site, "err", err)
		d.retryLater(leader, reasons)
		return
	}
	if site.Spec.Suspend {
		d.suspended(leader, site)
		return
	}
	boolGauge(d.metrics.suspended, false)
	d.metrics.setLastApplied(site.Status.LastAppliedRevision)

	d.metrics.seedCertificates(site.Status.Certificates)

	trig := Trigger{Reasons: reasons, LastAppliedRevision: site.Status.LastAppliedRevision,
		RenewalDue: site.Status.RenewalDue(time.Now())}
	if req := site.Annotations[status.RequestedAtAnnotation]; req != "" && req != site.Status.LastHandledReconcileAt {
		trig.RequestedAt = req
	}
	if site.Status.Inventory != nil {
		trig.Inventory = site.Status.Inventory.Entries
	}
	progressed := false
	trig.progress = func(revision, message string) {
		progressed = true
		status.MarkReconciling(&site.Status, site.Generation, revision, message, time.Now())
		if s, err := d.status.WriteStatus(leader, site); err != nil {
			d.log.Error("cannot mark the Site Reconciling", "err", err)
		} else {
			site = s
		}
	}

	d.log.Info("reconcile started", "trigger", strings.Join(reasons, ","))
	d.metrics.running.Set(1)
	start := time.Now()
	out, rerr := d.opts.Reconcile(runCtx, trig)
	elapsed := time.Since(start)
	d.metrics.running.Set(0)

	switch {
	case leader.Err() != nil:
		// Leadership is gone: another daemon may be writing; record nothing.
		d.log.Warn("reconcile abandoned: lost the Lease", "err", rerr)
		return
	case rerr != nil && runCtx.Err() != nil:
		d.interrupted(leader, site, out.Revision, progressed)
		return
	}
	d.record(leader, site, trig, out, rerr, start, elapsed)
}

func (d *Daemon) retryLater(ctx context.Context, reasons []string) {
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(d.opts.RetryInterval):
			for _, r := range reasons {
				d.queue.Add(r)
			}
		}
	}()
}

func (d *Daemon) markFirstDone() {
	d.mu.Lock()
	d.firstDone = true
	d.mu.Unlock()
}

// suspended records the Suspended reason once per generation and emits an Event.
func (d *Daemon) suspended(ctx context.Context, site *status.Site) {
	boolGauge(d.metrics.suspended, true)
	d.metrics.total.WithLabelValues(resultSuspended, status.ReasonSuspended).Inc()
	d.markFirstDone()
	if status.IsSuspendedRecorded(&site.Status, site.Generation) {
		return
	}
	d.log.Info("reconciliation suspended", "site", site.Name)
	status.MarkSuspended(&site.Status, site.Generation, time.Now())
	stored, err := d.status.WriteStatus(ctx, site)
	if err != nil {
		d.log.Error("cannot record Suspended", "err", err)
		return
	}
	d.emit(ctx, stored, status.EventOptions{Reason: status.ReasonSuspended, Revision: stored.Status.LastAppliedRevision,
		Message: "Reconciliation suspended"})
}

// interrupted records a reconcile cancelled by shutdown, with a short context of its
// own since the daemon's is done. A run that never called Progress changed nothing
// and leaves no trace.
func (d *Daemon) interrupted(leader context.Context, site *status.Site, revision string, progressed bool) {
	d.log.Warn("reconcile interrupted by shutdown; the next start completes it", "revision", revision)
	if !progressed {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(leader), 5*time.Second)
	defer cancel()
	status.MarkInterrupted(&site.Status, site.Generation, revision, time.Now())
	if _, err := d.status.WriteStatus(ctx, site); err != nil {
		d.log.Error("cannot record the interruption", "err", err)
	}
}

// record turns an outcome into status, an Event and metrics.
func (d *Daemon) record(ctx context.Context, site *status.Site, trig Trigger, out Outcome, rerr error, start time.Time, elapsed time.Duration) {
	defer d.markFirstDone()
	d.metrics.countChanges(out.Hosts, out.Objects, out.Volumes)
	d.metrics.setCertificates(out.Certificates)

	res := status.Result{
		Revision:     out.Revision,
		Trigger:      strings.Join(trig.Reasons, ","),
		StartedAt:    start,
		Duration:     elapsed,
		Nodes:        out.Nodes,
		Inventory:    out.Inventory,
		RequestedAt:  trig.RequestedAt,
		Certificates: status.SummarizeCertificates(out.Certificates),
	}
	if rerr == nil {
		res.Reason = status.ReasonSucceeded
		res.Message = successMessage(out)
	} else {
		res.Reason = out.Reason
		if res.Reason == "" || res.Reason == status.ReasonSucceeded {
			res.Reason = status.ReasonFailed
		}
		res.Message = rerr.Error()
	}

	if rerr == nil && out.NoOp {
		d.metrics.total.WithLabelValues(resultNoOp, status.ReasonSucceeded).Inc()
		d.metrics.setLastApplied(out.Revision)
		// Zero writes when the Site already says Ready at this revision, unless a
		// requestedAt must be acknowledged.
		if site.IsReady() && site.Status.LastAppliedRevision == out.Revision && trig.RequestedAt == "" &&
			site.Status.ObservedGeneration == site.Generation {
			d.log.Debug("reconcile: nothing to do", "revision", out.Revision)
			return
		}
	} else {
		d.metrics.duration.Observe(elapsed.Seconds())
		if rerr == nil {
			d.metrics.total.WithLabelValues(resultSuccess, res.Reason).Inc()
			d.metrics.setLastApplied(out.Revision)
			d.metrics.lastSuccess.Set(float64(time.Now().Unix()))
		} else {
			d.metrics.total.WithLabelValues(resultFailure, res.Reason).Inc()
		}
	}

	wasRevision := site.Status.LastAppliedRevision
	status.MarkResult(&site.Status, site.Generation, res, time.Now())
	stored, err := d.status.WriteStatus(ctx, site)
	if err != nil {
		d.log.Error("cannot record the reconcile", "err", err)
		return
	}
	switch {
	case rerr != nil:
		d.log.Error("reconcile failed", "revision", out.Revision, "reason", res.Reason, "err", rerr, "duration", elapsed)
		d.emit(ctx, stored, status.EventOptions{Warning: true, Reason: res.Reason, Revision: out.Revision, Message: res.Message})
	case out.Hosts.Changed() || out.Objects.Changed() || out.Volumes.Changed() || wasRevision != out.Revision:
		d.log.Info("reconcile succeeded", "revision", out.Revision, "duration", elapsed, "summary", res.Message)
		d.emit(ctx, stored, status.EventOptions{Reason: status.ReasonSucceeded, Revision: out.Revision,
			Message: fmt.Sprintf("Reconciliation finished in %s: %s", elapsed.Round(time.Millisecond), res.Message)})
	default:
		d.log.Info("reconcile succeeded; nothing changed", "revision", out.Revision, "duration", elapsed)
	}
}

func successMessage(out Outcome) string {
	msg := "Applied revision: " + out.Revision
	if out.Note != "" {
		msg += " — " + out.Note
	}
	var parts []string
	if len(out.Objects) > 0 {
		parts = append(parts, "objects: "+out.Objects.SummaryLine())
	}
	if len(out.Hosts) > 0 {
		parts = append(parts, "host resources: "+out.Hosts.SummaryLine())
	}
	if len(out.Volumes) > 0 {
		parts = append(parts, "volumes: "+out.Volumes.SummaryLine())
	}
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return msg
}

func (d *Daemon) emit(ctx context.Context, site *status.Site, o status.EventOptions) {
	if err := d.recorder.Emit(ctx, site, o); err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("cannot emit Event", "err", err)
	}
}
