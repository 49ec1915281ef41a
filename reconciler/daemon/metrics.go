package daemon

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// Result label values of mk8s_reconcile_total.
const (
	resultSuccess   = "success"
	resultFailure   = "failure"
	resultNoOp      = "noop"
	resultSuspended = "suspended"
)

// metrics are the daemon's Prometheus series, in a registry of its own (never the
// global one, so two daemons in one process — tests — do not collide).
type metrics struct {
	registry    *prometheus.Registry
	duration    prometheus.Histogram
	total       *prometheus.CounterVec
	lastApplied *prometheus.GaugeVec
	lastSuccess prometheus.Gauge
	hosts       *prometheus.CounterVec
	objects     *prometheus.CounterVec
	leader      prometheus.Gauge
	suspended   prometheus.Gauge
	running     prometheus.Gauge
	webhooks    *prometheus.CounterVec
	certExpiry  *prometheus.GaugeVec
	// certsKnown is set once a reconcile reported the certificates: from then on the
	// series are those of the hosts, not the ones seeded from the Site's summary.
	certsKnown bool
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mk8s_reconcile_duration_seconds",
			Help:    "Duration of reconciles that ran the pipeline.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mk8s_reconcile_total",
			Help: "Reconciles by result (success, failure, noop, suspended) and condition reason.",
		}, []string{"result", "reason"}),
		lastApplied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mk8s_last_applied_revision_info",
			Help: "The revision last applied, as a label; always 1, one series at a time.",
		}, []string{"revision"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mk8s_last_success_timestamp_seconds",
			Help: "Unix time of the end of the last successful reconcile.",
		}),
		hosts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mk8s_host_resources_total",
			Help: "Host resources handled by reconciles, by host and action (created, configured, unchanged, deleted, skipped, failed).",
		}, []string{"host", "action"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mk8s_objects_total",
			Help: "Kubernetes objects handled by reconciles, by action (created, configured, unchanged, deleted, skipped, failed).",
		}, []string{"action"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mk8s_leader",
			Help: "1 while this daemon holds the Lease.",
		}),
		suspended: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mk8s_suspended",
			Help: "1 while the Site is suspended.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mk8s_reconcile_in_progress",
			Help: "1 while a reconcile runs.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mk8s_webhook_requests_total",
			Help: "Push webhook requests by HTTP status code.",
		}, []string{"code"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mk8s_certificate_expiry_timestamp_seconds",
			Help: "Unix time at which a certificate on a node expires (notAfter), by node and path; CAs and kubeconfigs included.",
		}, []string{"node", "path"}),
	}
	m.registry.MustRegister(m.duration, m.total, m.lastApplied, m.lastSuccess, m.hosts, m.objects,
		m.leader, m.suspended, m.running, m.webhooks, m.certExpiry,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// setLastApplied keeps exactly one mk8s_last_applied_revision_info series.
func (m *metrics) setLastApplied(rev string) {
	if rev == "" {
		return
	}
	m.lastApplied.Reset()
	m.lastApplied.WithLabelValues(rev).Set(1)
}

func (m *metrics) countChanges(hosts, objects, volumes change.Set) {
	for _, e := range hosts {
		m.hosts.WithLabelValues(e.Host, string(e.Action)).Inc()
	}
	for _, e := range objects {
		m.objects.WithLabelValues(string(e.Action)).Inc()
	}
	// The Volumes phase changes both: storage on a node, objects in the cluster.
	for _, e := range volumes {
		if e.Host != "" {
			m.hosts.WithLabelValues(e.Host, string(e.Action)).Inc()
		} else {
			m.objects.WithLabelValues(string(e.Action)).Inc()
		}
	}
}

// setCertificates replaces the expiry series by those of certs; nil (hosts not
// reached) keeps them.
func (m *metrics) setCertificates(certs []pki.Certificate) {
	if certs == nil {
		return
	}
	m.certExpiry.Reset()
	for _, c := range certs {
		m.certExpiry.WithLabelValues(c.Node, c.Path).Set(float64(c.NotAfter.Unix()))
	}
	m.certsKnown = true
}

// seedCertificates publishes, until a reconcile reaches the hosts, what the Site
// recorded: the first certificate to expire and the CAs. A daemon that restarts on an
// unchanged revision does not converge the hosts, and the alert on the next expiry
// must not go blind meanwhile.
func (m *metrics) seedCertificates(st *status.CertificatesStatus) {
	if m.certsKnown || st == nil {
		return
	}
	m.certExpiry.Reset()
	for _, r := range append(slices.Clone(st.Authorities), ptrSlice(st.NextExpiry)...) {
		m.certExpiry.WithLabelValues(r.Node, r.Path).Set(float64(r.NotAfter.Unix()))
	}
}

func ptrSlice[T any](p *T) []T {
	if p == nil {
		return nil
	}
	return []T{*p}
}

func boolGauge(g prometheus.Gauge, b bool) {
	if b {
		g.Set(1)
	} else {
		g.Set(0)
	}
}
