package schema

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"unicode"
)

// platformStorageClasses are provided by the platform: a volume may use them without
// the site declaring them (the service volumes of the seeds use "metalk8s").
var platformStorageClasses = []string{"metalk8s"}

// crossValidate checks the rules that span documents, and fills the site's singletons.
func (l *loader) crossValidate() {
	s := l.site
	errAt := func(src Source, field, allowed, format string, args ...any) {
		l.diags.Errorf(src.File, src.LineOf(field), field, allowed, format, args...)
	}
	at := func(src Source) string { return fmt.Sprintf("%s:%d", src.File, src.Line) }

	// One cluster.
	switch len(l.clusters) {
	case 0:
		if l.incomplete || l.seen["Cluster"] {
			break
		}
		l.diags.Errorf("cluster.yaml", 0, "", "expected one BootstrapConfiguration (metalk8s.scality.com/v1alpha3), by convention in cluster.yaml",
			"the site has no BootstrapConfiguration document")
	default:
		s.Cluster = *l.clusters[0]
		for _, c := range l.clusters[1:] {
			errAt(c.Source, "kind", "expected exactly one per site", "second BootstrapConfiguration (the first is at %s)", at(l.clusters[0].Source))
		}
	}
	// At most one SolutionsConfiguration.
	if len(l.solutions) > 0 {
		s.Solutions = l.solutions[0]
		for _, c := range l.solutions[1:] {
			errAt(c.Source, "kind", "expected at most one per site", "second SolutionsConfiguration (the first is at %s)", at(l.solutions[0].Source))
		}
		// An archive's path is a field of the bootstrap node's /etc/fstab, and is compared
		// with the file the kernel names behind the archive's loop device, a clean path:
		// "/srv//x.iso" would be read by the reconciler, then refused by the host half
		// after the objects of its operators were applied.
		for i, p := range s.Solutions.Archives {
			field := fmt.Sprintf("archives[%d]", i)
			switch {
			case !strings.HasPrefix(p, "/"):
				// The schema reports it.
			case path.Clean(p) != p:
				errAt(s.Solutions.Source, field, "expected a clean absolute path ("+path.Clean(p)+")", "%q is not a clean path", p)
			case strings.IndexFunc(p, unicode.IsControl) >= 0:
				errAt(s.Solutions.Source, field, "expected a path without control characters", "%q holds a control character", p)
			}
		}
	}
	// One document per service kind.
	for _, svc := range Services() {
		list := l.services[svc.Kind]
		if len(list) == 0 {
			continue
		}
		s.Services = append(s.Services, *list[0])
		for _, c := range list[1:] {
			errAt(c.Source, "kind", "expected at most one per site", "second %s (the first is at %s)", svc.Kind, at(list[0].Source))
		}
	}

	// Unique names per kind.
	type named struct {
		name string
		src  Source
	}
	unique := func(kind string, items []named) {
		first := map[string]Source{}
		for _, it := range items {
			if it.name == "" {
				continue
			}
			if f, ok := first[it.name]; ok {
				errAt(it.src, "metadata.name", "expected names unique per kind", "duplicate %s %q (also at %s)", kind, it.name, at(f))
				continue
			}
			first[it.name] = it.src
		}
	}
	var items []named
	for _, n := range s.Nodes {
		items = append(items, named{n.Name, n.Source})
	}
	unique("Node", items)
	items = nil
	for _, v := range s.Volumes {
		items = append(items, named{v.Name, v.Source})
	}
	unique("Volume", items)
	items = nil
	for _, c := range s.StorageClasses {
		items = append(items, named{c.Name, c.Source})
	}
	unique("StorageClass", items)
	items = nil
	for _, e := range s.Environments {
		items = append(items, named{e.Name, e.Source})
	}
	unique("Environment", items)
	items = nil
	for _, m := range s.Manifests {
		items = append(items, named{m.APIVersion + " " + m.Kind + " " + m.Namespace + "/" + m.Name, m.Source})
	}
	unique("manifest", items)

	// Exactly one bootstrap node, named by ca.minion.
	var bootstrap []*Node
	for i := range s.Nodes {
		if s.Nodes[i].HasRole(RoleBootstrap) {
			bootstrap = append(bootstrap, &s.Nodes[i])
		}
	}
	roleField := joinPath("metadata.labels", RoleLabelPrefix+RoleBootstrap)
	switch {
	case len(bootstrap) == 0 && len(l.clusters) > 0 && !l.incomplete:
		errAt(s.Cluster.Source, "ca.minion", "expected exactly one node labelled "+RoleLabelPrefix+RoleBootstrap,
			"no node has the bootstrap role")
	case len(bootstrap) > 1:
		for _, n := range bootstrap[1:] {
			errAt(n.Source, roleField, "expected exactly one bootstrap node",
				"second bootstrap node (%s at %s is one)", bootstrap[0].Name, at(bootstrap[0].Source))
		}
	}
	if len(bootstrap) == 1 && len(l.clusters) > 0 && s.Cluster.CA.Minion != "" && s.Cluster.CA.Minion != bootstrap[0].Name {
		errAt(s.Cluster.Source, "ca.minion", fmt.Sprintf("expected %q, the bootstrap node", bootstrap[0].Name),
			"%q is not the bootstrap node", s.Cluster.CA.Minion)
	}

	// SSH endpoints are unique.
	endpoints := map[string]*Node{}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.SSH.Host == "" || n.SSH.Port == 0 {
			continue
		}
		key := fmt.Sprintf("%s:%d", strings.ToLower(n.SSH.Host), n.SSH.Port)
		if o, ok := endpoints[key]; ok {
			errAt(n.Source, annotationPath(AnnotationSSHHost), "expected one node per SSH host and port",
				"%s is also the SSH endpoint of node %s", key, o.Name)
			continue
		}
		endpoints[key] = n
	}

	// Control-plane addresses: the ingress IP (explicit, or the bootstrap node's
	// control-plane IP) and every node's SSH host given as an IP. An address with a zone
	// (fe80::1%eth0) is refused by its own check: it is not reported again here.
	if len(l.clusters) > 0 {
		cp := s.Cluster.Networks.ControlPlane
		if cp.IngressIP != "" {
			if ip, err := netip.ParseAddr(cp.IngressIP); err == nil && ip.Zone() == "" && !inAny(ip, cp.CIDRs) && len(cp.CIDRs) > 0 {
				errAt(s.Cluster.Source, "networks.controlPlane.ingress.ip", "expected an address inside networks.controlPlane.cidr ("+strings.Join(cp.CIDRs, ", ")+")",
					"%s is outside the control-plane network", cp.IngressIP)
			}
		}
		if len(cp.CIDRs) > 0 {
			for i := range s.Nodes {
				n := &s.Nodes[i]
				if ip, err := netip.ParseAddr(n.SSH.Host); err == nil && ip.Zone() == "" && !inAny(ip, cp.CIDRs) {
					l.diags.Warnf(n.Source.File, n.Source.LineOf(annotationPath(AnnotationSSHHost)), annotationPath(AnnotationSSHHost),
						"MetalK8s expects the node's control-plane IP, inside "+strings.Join(cp.CIDRs, ", "),
						"%s is outside the control-plane network", n.SSH.Host)
				}
			}
		}
	}

	// Volumes sit on declared nodes and use declared (or platform) storage classes.
	classes := map[string]bool{}
	for _, c := range platformStorageClasses {
		classes[c] = true
	}
	for _, c := range s.StorageClasses {
		classes[c.Name] = true
	}
	devices := map[[2]string]string{} // node, device path → the Volume that has it
	for _, v := range s.Volumes {
		// One Volume per device: a second would find the first one's filesystem there
		// and be refused at reconcile time; say so now.
		if v.RawBlockDevice != nil && v.RawBlockDevice.DevicePath != "" && v.NodeName != "" {
			key := [2]string{v.NodeName, v.RawBlockDevice.DevicePath}
			if other, ok := devices[key]; ok {
				errAt(v.Source, "spec.rawBlockDevice.devicePath", "expected a device no other Volume of the node uses",
					"%s on node %s is already the device of Volume %s", key[1], key[0], other)
			} else {
				devices[key] = v.Name
			}
		}
		if _, ok := s.Node(v.NodeName); !ok && v.NodeName != "" && !l.incomplete {
			errAt(v.Source, "spec.nodeName", "expected the name of a node of the site", "node %q is not declared", v.NodeName)
		}
		if v.StorageClassName != "" && !classes[v.StorageClassName] && !l.incomplete {
			errAt(v.Source, "spec.storageClassName", "expected a StorageClass of the site or metalk8s",
				"StorageClass %q is not declared", v.StorageClassName)
		}
	}

	// Environments: namespaces belong to one environment; every solution a namespace
	// runs has an active version (whose CRDs it uses). The version it runs may be any
	// imported one (MetalK8s upgrades an environment to a version it imported, not
	// necessarily the active one): render checks it against the opened archives.
	nsOwner := map[string]string{}
	for _, e := range s.Environments {
		for _, ns := range e.Namespaces {
			field := fmt.Sprintf("spec.namespaces[%d].name", ns.Index)
			if o, ok := nsOwner[ns.Name]; ok && ns.Name != "" {
				errAt(e.Source, field, "expected each namespace in one environment only",
					"namespace %q is already in environment %s", ns.Name, o)
			} else {
				nsOwner[ns.Name] = e.Name
			}
			for _, sol := range sortedKeys(ns.Solutions) {
				sf := joinPath(fmt.Sprintf("spec.namespaces[%d].solutions", ns.Index), sol)
				var active map[string]string
				if s.Solutions != nil {
					active = s.Solutions.Active
				}
				if _, ok := active[sol]; !ok && !l.incomplete {
					errAt(e.Source, sf, "expected a solution of SolutionsConfiguration.active ("+strings.Join(sortedKeys(active), ", ")+")",
						"solution %q is not active", sol)
				}
			}
		}
	}
}

func inAny(ip netip.Addr, cidrs []string) bool {
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}
