package schema

// Service describes one service-configuration kind of the platform: the ConfigMap that
// carries it (names and namespaces are those of MetalK8s) and the apiVersions the seeds
// use for it.
type Service struct {
	Kind      string
	ConfigMap string
	Namespace string
	// APIVersions accepted for the override document. The first one is the spelling
	// written by `mk8s seed`.
	APIVersions []string
}

// Services is the catalogue of the seven service-configuration kinds, sorted by kind.
func Services() []Service {
	return []Service{
		{Kind: "AlertmanagerConfig", ConfigMap: "metalk8s-alertmanager-config", Namespace: "metalk8s-monitoring",
			APIVersions: []string{"addons.metalk8s.scality.com", "addons.metalk8s.scality.com/v1alpha1"}},
		{Kind: "DexConfig", ConfigMap: "metalk8s-dex-config", Namespace: "metalk8s-auth",
			APIVersions: []string{"addons.metalk8s.scality.com/v1alpha2"}},
		{Kind: "GrafanaConfig", ConfigMap: "metalk8s-grafana-config", Namespace: "metalk8s-monitoring",
			APIVersions: []string{"addons.metalk8s.scality.com", "addons.metalk8s.scality.com/v1alpha1", "metalk8s.scality.com/v1alpha1"}},
		{Kind: "LokiConfig", ConfigMap: "metalk8s-loki-config", Namespace: "metalk8s-logging",
			APIVersions: []string{"addons.metalk8s.scality.com", "addons.metalk8s.scality.com/v1alpha1"}},
		{Kind: "PrometheusConfig", ConfigMap: "metalk8s-prometheus-config", Namespace: "metalk8s-monitoring",
			APIVersions: []string{"addons.metalk8s.scality.com", "addons.metalk8s.scality.com/v1alpha1"}},
		{Kind: "ShellUIConfig", ConfigMap: "metalk8s-shell-ui-config", Namespace: "metalk8s-ui",
			APIVersions: []string{"addons.metalk8s.scality.com/v1alpha1"}},
		{Kind: "UIConfig", ConfigMap: "metalk8s-ui-config", Namespace: "metalk8s-ui",
			APIVersions: []string{"addons.metalk8s.scality.com/v1alpha1"}},
	}
}

// ServiceByKind returns the catalogue entry of a kind. "DexConfiguration", the spelling of
// the seeds' customisation examples, is accepted as an alias of DexConfig.
func ServiceByKind(kind string) (Service, bool) {
	if kind == "DexConfiguration" {
		kind = "DexConfig"
	}
	for _, s := range Services() {
		if s.Kind == kind {
			return s, true
		}
	}
	return Service{}, false
}
