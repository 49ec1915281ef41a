package seed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// APIVersionBootstrapV1alpha2 is the BootstrapConfiguration of MetalK8s 2.4 (seeds 001
// L286-296), converted to v1alpha3 on seed.
const APIVersionBootstrapV1alpha2 = "metalk8s.scality.com/v1alpha2"

// bootstrapConfig is what a MetalK8s bootstrap.yaml contributes to the seed.
type bootstrapConfig struct {
	network Network
	// minion is ca.minion: the bootstrap node's name.
	minion string
	// apiServerHost is the v1alpha2 apiServer.host: the bootstrap node's control-plane IP.
	apiServerHost string
	warnings      []string
}

// cidrs decodes a CIDR given as a string or as a list of strings.
type cidrs []string

func (c *cidrs) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = cidrs{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*c = l
		return nil
	}
	return fmt.Errorf("line %d: not a CIDR or a list of CIDRs", n.Line)
}

type bootstrapV1alpha3 struct {
	Networks struct {
		ControlPlane struct {
			CIDR    cidrs `yaml:"cidr"`
			Ingress struct {
				IP string `yaml:"ip"`
			} `yaml:"ingress"`
			MetalLB struct {
				Enabled *bool `yaml:"enabled"`
			} `yaml:"metalLB"`
		} `yaml:"controlPlane"`
		WorkloadPlane struct {
			CIDR cidrs `yaml:"cidr"`
			MTU  int   `yaml:"mtu"`
		} `yaml:"workloadPlane"`
		Pods     string `yaml:"pods"`
		Services string `yaml:"services"`
	} `yaml:"networks"`
	Proxies    bootstrapProxies `yaml:"proxies"`
	CA         bootstrapCA      `yaml:"ca"`
	Archives   []string         `yaml:"archives"`
	Kubernetes struct {
		APIServer struct {
			FeatureGates map[string]bool `yaml:"featureGates"`
		} `yaml:"apiServer"`
	} `yaml:"kubernetes"`
}

// bootstrapProxies and bootstrapCA are the same in v1alpha2 and v1alpha3.
type bootstrapProxies struct {
	HTTP    string   `yaml:"http"`
	HTTPS   string   `yaml:"https"`
	NoProxy []string `yaml:"no_proxy"`
}

type bootstrapCA struct {
	Minion string `yaml:"minion"`
}

type bootstrapV1alpha2 struct {
	Networks struct {
		ControlPlane  cidrs  `yaml:"controlPlane"`
		WorkloadPlane cidrs  `yaml:"workloadPlane"`
		Pods          string `yaml:"pods"`
		Services      string `yaml:"services"`
	} `yaml:"networks"`
	Proxies   bootstrapProxies `yaml:"proxies"`
	CA        bootstrapCA      `yaml:"ca"`
	APIServer struct {
		Host string `yaml:"host"`
	} `yaml:"apiServer"`
	Archives []string `yaml:"archives"`
}

// Fields each version knows; a trailing ".*" accepts any key below. Other fields are
// reported as warnings: mk8s does not carry what it does not understand.
var (
	knownV1alpha3 = []string{"apiVersion", "kind", "networks", "networks.controlPlane",
		"networks.controlPlane.cidr", "networks.controlPlane.ingress", "networks.controlPlane.ingress.ip",
		"networks.controlPlane.metalLB", "networks.controlPlane.metalLB.enabled",
		"networks.workloadPlane", "networks.workloadPlane.cidr", "networks.workloadPlane.mtu",
		"networks.pods", "networks.services", "proxies", "proxies.http", "proxies.https",
		"proxies.no_proxy", "ca", "ca.minion", "archives", "kubernetes", "kubernetes.apiServer",
		"kubernetes.apiServer.featureGates", "kubernetes.apiServer.featureGates.*"}
	knownV1alpha2 = []string{"apiVersion", "kind", "networks", "networks.controlPlane",
		"networks.workloadPlane", "networks.pods", "networks.services", "proxies", "proxies.http",
		"proxies.https", "proxies.no_proxy", "ca", "ca.minion", "apiServer", "apiServer.host",
		"archives"}
)

// readBootstrapConfig reads a MetalK8s bootstrap.yaml. Errors are diagnostics naming the
// file, line and field.
func readBootstrapConfig(path string) (*bootstrapConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bootstrap config: %w", err)
	}
	return parseBootstrapConfig(path, data)
}

func parseBootstrapConfig(path string, data []byte) (*bootstrapConfig, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, (&diag.List{{File: path, Line: yamlErrorLine(err), Message: "not YAML: " + stripLine(err.Error()),
			Severity: diag.SeverityError}}).Err()
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, (&diag.List{{File: path, Line: 1, Message: "not a YAML mapping",
			Allowed: "a BootstrapConfiguration document", Severity: diag.SeverityError}}).Err()
	}
	root := doc.Content[0]
	var l diag.List
	apiVersion, kind := scalarAt(root, "apiVersion"), scalarAt(root, "kind")
	if kind == nil || kind.Value != schema.KindBootstrapConfiguration {
		l.Errorf(path, lineAt(root, "kind"), "kind", "BootstrapConfiguration", "is %q", valueOf(kind))
	}
	cfg := &bootstrapConfig{}
	var known []string
	switch {
	case apiVersion != nil && apiVersion.Value == schema.APIVersionBootstrapV1alpha3:
		known = knownV1alpha3
		var v bootstrapV1alpha3
		if err := root.Decode(&v); err != nil {
			l = append(l, decodeDiagnostics(path, err)...)
			break
		}
		n := &cfg.network
		n.ControlPlaneCIDRs = v.Networks.ControlPlane.CIDR
		n.IngressIP = v.Networks.ControlPlane.Ingress.IP
		n.MetalLB = v.Networks.ControlPlane.MetalLB.Enabled
		n.WorkloadPlaneCIDRs = v.Networks.WorkloadPlane.CIDR
		n.WorkloadPlaneMTU = v.Networks.WorkloadPlane.MTU
		n.PodsCIDR, n.ServicesCIDR = v.Networks.Pods, v.Networks.Services
		n.HTTPProxy, n.HTTPSProxy, n.NoProxy = v.Proxies.HTTP, v.Proxies.HTTPS, v.Proxies.NoProxy
		n.Archives = v.Archives
		n.FeatureGates = v.Kubernetes.APIServer.FeatureGates
		cfg.minion = v.CA.Minion
	case apiVersion != nil && apiVersion.Value == APIVersionBootstrapV1alpha2:
		known = knownV1alpha2
		var v bootstrapV1alpha2
		if err := root.Decode(&v); err != nil {
			l = append(l, decodeDiagnostics(path, err)...)
			break
		}
		n := &cfg.network
		n.ControlPlaneCIDRs, n.WorkloadPlaneCIDRs = v.Networks.ControlPlane, v.Networks.WorkloadPlane
		n.PodsCIDR, n.ServicesCIDR = v.Networks.Pods, v.Networks.Services
		n.HTTPProxy, n.HTTPSProxy, n.NoProxy = v.Proxies.HTTP, v.Proxies.HTTPS, v.Proxies.NoProxy
		n.Archives = v.Archives
		cfg.minion = v.CA.Minion
		cfg.apiServerHost = v.APIServer.Host
		cfg.warnings = append(cfg.warnings, fmt.Sprintf("%s: converted from %s to %s", path,
			APIVersionBootstrapV1alpha2, schema.APIVersionBootstrapV1alpha3))
	default:
		l.Errorf(path, lineAt(root, "apiVersion"), "apiVersion",
			schema.APIVersionBootstrapV1alpha3+" or "+APIVersionBootstrapV1alpha2, "is %q", valueOf(apiVersion))
	}
	if l.HasErrors() {
		return nil, l.Err()
	}
	// Missing mandatory fields, reported against the file rather than as a flag.
	if len(cfg.network.ControlPlaneCIDRs) == 0 {
		l.Errorf(path, lineAt(root, "networks"), "networks.controlPlane", "a CIDR or a list of CIDRs", "is missing")
	}
	if len(cfg.network.WorkloadPlaneCIDRs) == 0 {
		l.Errorf(path, lineAt(root, "networks"), "networks.workloadPlane", "a CIDR or a list of CIDRs", "is missing")
	}
	if cfg.minion == "" {
		l.Errorf(path, lineAt(root, "ca"), "ca.minion", "the bootstrap node's host name", "is missing")
	}
	if l.HasErrors() {
		return nil, l.Err()
	}
	for _, u := range unknownFields(root, "", known) {
		cfg.warnings = append(cfg.warnings, fmt.Sprintf("%s:%d: %s: not carried into cluster.yaml (mk8s does not know this field)",
			path, u.line, u.path))
	}
	return cfg, nil
}

type unknownField struct {
	path string
	line int
}

// unknownFields lists the mapping keys under n that known does not name.
func unknownFields(n *yaml.Node, prefix string, known []string) []unknownField {
	var out []unknownField
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		switch {
		case contains(known, prefix+".*") && prefix != "":
			continue
		case !contains(known, p):
			out = append(out, unknownField{path: p, line: k.Line})
		default:
			out = append(out, unknownFields(v, p, known)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// scalarAt returns the value node of a dotted path of mapping keys, or nil.
func scalarAt(n *yaml.Node, path string) *yaml.Node {
	for _, key := range strings.Split(path, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// lineAt is the line of a dotted path, or of the document when the path is absent.
func lineAt(root *yaml.Node, path string) int {
	if n := scalarAt(root, path); n != nil {
		return n.Line
	}
	return root.Line
}

func valueOf(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// decodeDiagnostics turns a yaml.v3 type error ("line 7: cannot unmarshal !!str `x` into
// int") into diagnostics with their line.
func decodeDiagnostics(path string, err error) diag.List {
	var l diag.List
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			l.Errorf(path, yamlErrorLine(errors.New(e)), "", "", "%s", stripLine(e))
		}
		return l
	}
	l.Errorf(path, yamlErrorLine(err), "", "", "%s", stripLine(err.Error()))
	return l
}

func yamlErrorLine(err error) int {
	var line int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		_, _ = fmt.Sscanf(s[i:], "line %d", &line)
	}
	return line
}

func stripLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i >= 0 {
			return s[i+2:]
		}
	}
	return s
}
