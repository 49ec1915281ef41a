package schema

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	hostnameRFC = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$`)
)

var knownRoles = []string{RoleBootstrap, RoleMaster, RoleEtcd, RoleInfra, RoleNode}

// annotationPath is the field path of a MetalK8s annotation.
func annotationPath(name string) string { return joinPath("metadata.annotations", name) }

// ---- cluster.yaml

func (l *loader) cluster(dc *docCheck) {
	d := dc.doc.Data
	c := &Cluster{Source: dc.doc.Source, APIVersion: strAt(d, "apiVersion"), Version: strAt(d, "version")}
	cp := mapAt(d, "networks", "controlPlane")
	c.Networks.ControlPlane.CIDRs = l.cidrs(dc, cp["cidr"], "networks.controlPlane.cidr")
	c.Networks.ControlPlane.IngressIP = strAt(cp, "ingress", "ip")
	c.Networks.ControlPlane.MetalLB, _ = mapAt(cp, "metalLB")["enabled"].(bool)
	wp := mapAt(d, "networks", "workloadPlane")
	c.Networks.WorkloadPlane.CIDRs = l.cidrs(dc, wp["cidr"], "networks.workloadPlane.cidr")
	if mtu, ok := wp["mtu"].(int64); ok {
		c.Networks.WorkloadPlane.MTU = int(mtu)
	}
	c.Networks.Pods = strAt(d, "networks", "pods")
	c.Networks.Services = strAt(d, "networks", "services")
	pods := l.cidrs(dc, c.Networks.Pods, "networks.pods")
	services := l.cidrs(dc, c.Networks.Services, "networks.services")
	if ip := c.Networks.ControlPlane.IngressIP; ip != "" && !dc.isBad("networks.controlPlane.ingress.ip") {
		if _, err := netip.ParseAddr(ip); err != nil {
			dc.errorf("networks.controlPlane.ingress.ip", "expected an IP address", "invalid IP address %q", ip)
		}
	}
	// With MetalLB, the ingress IP is a VIP MetalLB announces: it cannot default to the
	// bootstrap node's address (seeds 000 L6799).
	if c.Networks.ControlPlane.MetalLB && c.Networks.ControlPlane.IngressIP == "" && !dc.isBad("networks.controlPlane.metalLB.enabled") {
		dc.errorf("networks.controlPlane.metalLB.enabled", "expected networks.controlPlane.ingress.ip to be set when MetalLB is enabled",
			"MetalLB is enabled without an ingress IP")
	}
	// Pods and services are cluster-internal ranges: they must not overlap each other, nor
	// the host networks (routing to a node would break).
	if len(pods) == 1 && len(services) == 1 && overlaps(pods[0], services[0]) {
		dc.errorf("networks.services", "expected a range disjoint from networks.pods",
			"%s%s overlaps networks.pods %s", services[0], defaulted(dc, "networks.services"), pods[0])
	}
	for _, internal := range []struct {
		field string
		cidrs []string
	}{{"networks.pods", pods}, {"networks.services", services}} {
		for _, r := range internal.cidrs {
			for _, host := range []struct {
				field string
				cidrs []string
			}{{"networks.controlPlane.cidr", c.Networks.ControlPlane.CIDRs}, {"networks.workloadPlane.cidr", c.Networks.WorkloadPlane.CIDRs}} {
				for _, h := range host.cidrs {
					if overlaps(r, h) {
						dc.errorf(internal.field, "expected a range disjoint from the control-plane and workload-plane networks",
							"%s%s overlaps %s %s", r, defaulted(dc, internal.field), host.field, h)
					}
				}
			}
		}
	}
	if p := mapAt(d, "proxies"); p != nil {
		c.Proxies = &Proxies{HTTP: strAt(p, "http"), HTTPS: strAt(p, "https"), NoProxy: stringList(p["no_proxy"])}
		for _, f := range []string{"http", "https"} {
			if u := strAt(p, f); u != "" && !dc.isBad("proxies."+f) {
				if pu, err := url.Parse(u); err != nil || pu.Host == "" {
					dc.errorf("proxies."+f, "expected a URL such as http://proxy:3128", "invalid URL %q", u)
				}
			}
		}
		for i, e := range listAt(p, "no_proxy") {
			s, _ := e.(string)
			if !validNoProxy(s) {
				dc.errorf(fmt.Sprintf("proxies.no_proxy[%d]", i), "expected a host name, an IP address or a CIDR",
					"invalid no_proxy entry %s", repr(e))
			}
		}
	}
	c.CA.Minion = strAt(d, "ca", "minion")
	c.Archives = stringList(d["archives"])
	if fg := mapAt(d, "kubernetes", "apiServer", "featureGates"); fg != nil {
		c.Kubernetes.APIServer.FeatureGates = map[string]bool{}
		for k, v := range fg {
			if b, ok := v.(bool); ok {
				c.Kubernetes.APIServer.FeatureGates[k] = b
			}
		}
	}
	l.clusters = append(l.clusters, c)
}

// cidrs parses a CIDR or a list of them, reporting those that do not parse or carry
// host bits.
func (l *loader) cidrs(dc *docCheck, v any, field string) []string {
	if dc.isBad(field) {
		return nil
	}
	var out []string
	add := func(s, f string) {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			dc.errorf(f, "expected a CIDR such as 10.0.0.0/24", "invalid CIDR %q", s)
		case p.Masked() != p:
			dc.errorf(f, fmt.Sprintf("expected %s", p.Masked()), "%q has host bits set", s)
		default:
			out = append(out, p.String())
		}
	}
	switch x := v.(type) {
	case string:
		add(x, field)
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok {
				add(s, fmt.Sprintf("%s[%d]", field, i))
			}
		}
	}
	return out
}

func overlaps(a, b string) bool {
	pa, err1 := netip.ParsePrefix(a)
	pb, err2 := netip.ParsePrefix(b)
	return err1 == nil && err2 == nil && pa.Overlaps(pb)
}

// validNoProxy accepts what containerd (Go's NO_PROXY rules) accepts: "*", a host name
// (optionally ".domain" or "*.domain", optionally with a port), an IP address or a CIDR.
func validNoProxy(s string) bool {
	if s == "*" {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if rest, ok := strings.CutPrefix(s, "["); ok {
		// A bracketed IPv6 address, with or without a port: [::1], [fd00::1]:8080.
		a, port, ok := strings.Cut(rest, "]")
		if !ok {
			return false
		}
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if n, err := strconv.Atoi(p); !ok || err != nil || n < 1 || n > 65535 {
				return false
			}
		}
		ip, err := netip.ParseAddr(a)
		return err == nil && ip.Is6()
	}
	host := s
	if h, p, ok := strings.Cut(s, ":"); ok {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
	}
	host = strings.TrimPrefix(strings.TrimPrefix(host, "*"), ".")
	return host != "" && hostnameRFC.MatchString(host)
}

// ---- nodes/<name>.yaml

func (l *loader) node(dc *docCheck) {
	d := dc.doc.Data
	md := mapAt(d, "metadata")
	n := Node{Source: dc.doc.Source, Name: strAt(md, "name"),
		Labels: stringMap(md["labels"]), Annotations: stringMap(md["annotations"])}
	for _, key := range sortedKeys(n.Labels) {
		role, ok := strings.CutPrefix(key, RoleLabelPrefix)
		if !ok {
			continue
		}
		if !slices.Contains(knownRoles, role) {
			dc.errorf(joinPath("metadata.labels", key), "allowed roles: "+strings.Join(knownRoles, ", "),
				"unknown role %q", role)
			continue
		}
		n.Roles = append(n.Roles, role)
	}
	slices.Sort(n.Roles)
	checkLabels(dc, "metadata.labels", n.Labels)
	n.Unschedulable, _ = mapAt(d, "spec")["unschedulable"].(bool)
	for i, t := range listAt(d, "spec", "taints") {
		tm, _ := t.(map[string]any)
		n.Taints = append(n.Taints, Taint{Key: strAt(tm, "key"), Value: strAt(tm, "value"), Effect: strAt(tm, "effect")})
		if key := strAt(tm, "key"); key != "" && !qualifiedName.MatchString(key) {
			dc.errorf(fmt.Sprintf("spec.taints[%d].key", i), "expected a qualified name such as node-role.kubernetes.io/infra",
				"invalid taint key %q", key)
		}
		if f, v := fmt.Sprintf("spec.taints[%d].value", i), strAt(tm, "value"); !dc.isBad(f) && len(validation.IsValidLabelValue(v)) > 0 {
			dc.errorf(f, labelValueAllowed, "invalid taint value %q", v)
		}
	}
	a := n.Annotations
	n.SSH = SSH{Host: a[AnnotationSSHHost], User: a[AnnotationSSHUser], KeyPath: a[AnnotationSSHKeyPath],
		Sudo: a[AnnotationSSHSudo] == "true"}
	if f := annotationPath(AnnotationSSHHost); n.SSH.Host != "" && !dc.isBad(f) {
		if _, err := netip.ParseAddr(n.SSH.Host); err != nil && !hostnameRFC.MatchString(n.SSH.Host) {
			dc.errorf(f, "expected an IP address or a host name", "invalid host %q", n.SSH.Host)
		}
	}
	if f := annotationPath(AnnotationSSHPort); !dc.isBad(f) {
		port, err := strconv.Atoi(a[AnnotationSSHPort])
		if err != nil || port < 1 || port > 65535 {
			dc.errorf(f, "expected a port number from 1 to 65535, as a string", "invalid port %q", a[AnnotationSSHPort])
		}
		n.SSH.Port = port
	}
	if hk, ok := a[AnnotationSSHHostKey]; ok && !dc.isBad(annotationPath(AnnotationSSHHostKey)) {
		pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(hk))
		if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
			dc.errorf(annotationPath(AnnotationSSHHostKey), `expected a public key in authorized_keys form, such as "ssh-ed25519 AAAA…"`,
				"invalid host key %q", truncate(hk, 40))
		} else {
			n.SSH.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
		}
	}
	if n.SSH.User != "" && n.SSH.User != "root" && !n.SSH.Sudo && !dc.isBad(annotationPath(AnnotationSSHSudo)) {
		dc.errorf(annotationPath(AnnotationSSHSudo), `expected "true": root privileges are needed to deploy a node`,
			"ssh-user is %q, not root, and ssh-sudo is not \"true\"", n.SSH.User)
	}
	l.site.Nodes = append(l.site.Nodes, n)
}

const labelValueAllowed = "expected empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

// checkLabels refuses the label keys and values the API server would refuse, so that
// validate reports them with their place rather than the apply failing.
func checkLabels(dc *docCheck, field string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		f := joinPath(field, k)
		if dc.isBad(f) {
			continue
		}
		if len(validation.IsQualifiedName(k)) > 0 {
			dc.errorf(f, "expected a label key: an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
				"invalid label key %q", k)
			continue
		}
		if len(validation.IsValidLabelValue(labels[k])) > 0 {
			dc.errorf(f, labelValueAllowed, "invalid label value %q", labels[k])
		}
	}
}

var qualifiedName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- volumes/<name>.yaml

func (l *loader) volume(dc *docCheck) {
	d := dc.doc.Data
	md := mapAt(d, "metadata")
	spec := mapAt(d, "spec")
	v := Volume{Source: dc.doc.Source, Name: strAt(md, "name"), Labels: stringMap(md["labels"]),
		Annotations: stringMap(md["annotations"]), NodeName: strAt(spec, "nodeName"),
		StorageClassName: strAt(spec, "storageClassName"), Mode: strAt(spec, "mode"),
		TemplateLabels: stringMap(mapAt(spec, "template", "metadata")["labels"])}
	checkLabels(dc, "metadata.labels", v.Labels)
	checkLabels(dc, "spec.template.metadata.labels", v.TemplateLabels)
	var sources []string
	if m := mapAt(spec, "rawBlockDevice"); m != nil {
		v.RawBlockDevice = &RawBlockDevice{DevicePath: strAt(m, "devicePath")}
		sources = append(sources, "rawBlockDevice")
	}
	if m := mapAt(spec, "sparseLoopDevice"); m != nil {
		v.SparseLoopDevice = &SparseLoopDevice{Size: strAt(m, "size")}
		l.quantity(dc, v.SparseLoopDevice.Size, "spec.sparseLoopDevice.size")
		sources = append(sources, "sparseLoopDevice")
	}
	if m := mapAt(spec, "lvmLogicalVolume"); m != nil {
		v.LVMLogicalVolume = &LVMLogicalVolume{VGName: strAt(m, "vgName"), Size: strAt(m, "size")}
		l.quantity(dc, v.LVMLogicalVolume.Size, "spec.lvmLogicalVolume.size")
		sources = append(sources, "lvmLogicalVolume")
	}
	if spec != nil && len(sources) != 1 && !dc.isBad("spec") {
		const allowed = "expected exactly one of rawBlockDevice, sparseLoopDevice, lvmLogicalVolume"
		if len(sources) == 0 {
			dc.errorf("spec", allowed, "no volume source")
		} else {
			dc.errorf("spec."+sources[1], allowed, "more than one volume source (%s)", strings.Join(sources, ", "))
		}
	}
	l.site.Volumes = append(l.site.Volumes, v)
}

// quantity checks a size with Kubernetes' own parser: it must be a positive quantity.
func (l *loader) quantity(dc *docCheck, s, field string) {
	if s == "" || dc.isBad(field) {
		return
	}
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		dc.errorf(field, "expected a positive Kubernetes quantity such as 10Gi", "invalid size %q", s)
	}
}

// ---- storageclasses/<name>.yaml

func (l *loader) storageClass(dc *docCheck) {
	d := dc.doc.Data
	md := mapAt(d, "metadata")
	sc := StorageClass{Source: dc.doc.Source, Name: strAt(md, "name"), Labels: stringMap(md["labels"]),
		Annotations: stringMap(md["annotations"]), Provisioner: strAt(d, "provisioner"),
		ReclaimPolicy: strAt(d, "reclaimPolicy"), VolumeBindingMode: strAt(d, "volumeBindingMode"),
		MountOptions: stringList(d["mountOptions"]), Parameters: stringMap(d["parameters"])}
	checkLabels(dc, "metadata.labels", sc.Labels)
	if b, ok := d["allowVolumeExpansion"].(bool); ok {
		sc.AllowVolumeExpansion = &b
	}
	if opts, ok := sc.Parameters["mkfsOptions"]; ok && !dc.isBad("parameters.mkfsOptions") {
		var list []string
		// "null" decodes to a nil list without error, but MetalK8s iterates the decoded value.
		if err := json.Unmarshal([]byte(opts), &list); err != nil || list == nil {
			dc.errorf("parameters.mkfsOptions", `expected a JSON-encoded array of strings, such as '["-m", "0"]'`,
				"invalid mkfsOptions %q", opts)
		}
		// The filesystem UUID is the Volume's UID, which is how mk8s (as MetalK8s)
		// finds a Volume's filesystem again: an option setting it would make every
		// Volume of the class Failed, its device never recognised nor released.
		for _, o := range list {
			if strings.HasPrefix(o, "-U") || strings.Contains(strings.ToLower(o), "uuid=") {
				dc.errorf("parameters.mkfsOptions", "expected options that leave the filesystem UUID to mk8s (it is the Volume's UID)",
					"%q sets the filesystem UUID", o)
				break
			}
		}
	}
	l.site.StorageClasses = append(l.site.StorageClasses, sc)
}

// ---- solutions.yaml and environments/<name>.yaml

func (l *loader) solutionsConfig(dc *docCheck) {
	d := dc.doc.Data
	s := &SolutionsConfig{Source: dc.doc.Source, APIVersion: strAt(d, "apiVersion"),
		Archives: stringList(d["archives"]), Active: stringMap(d["active"])}
	if s.Archives == nil {
		s.Archives = []string{}
	}
	if s.Active == nil {
		s.Active = map[string]string{}
	}
	l.solutions = append(l.solutions, s)
}

func (l *loader) environment(dc *docCheck) {
	d := dc.doc.Data
	e := Environment{Source: dc.doc.Source, Name: strAt(d, "metadata", "name"), Description: strAt(d, "spec", "description")}
	for i, n := range listAt(d, "spec", "namespaces") {
		nm, _ := n.(map[string]any)
		e.Namespaces = append(e.Namespaces, EnvironmentNamespace{Name: strAt(nm, "name"), Solutions: stringMap(nm["solutions"]), Index: i})
	}
	l.site.Environments = append(l.site.Environments, e)
}

// defaulted says " (default)" when the document does not write the field.
func defaulted(dc *docCheck, field string) string {
	if _, ok := dc.doc.Source.Fields[field]; ok {
		return ""
	}
	return " (default)"
}
