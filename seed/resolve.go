package seed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// spec is the resolved, validated content of a seed: every default applied.
type spec struct {
	version string
	network Network // MetalLB set
	metalLB bool
	node    Node // every field set but SSHHostKey, which may be empty
	// sources names where the cluster values came from, for the README.
	fromFile string
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	versionR = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	userR    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*[$]?$`)
	gateR    = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// resolve merges the bootstrap config (if any) with the options, applies the defaults and
// checks every value. It reads the host key file, and the local addresses when SSHHost
// must be found, and nothing else.
func resolve(o Options) (*spec, []string, error) {
	var warnings []string
	s := &spec{version: o.PlatformVersion, network: o.Network, node: o.Node}
	nameFrom := "--name" // where the node name comes from, for its error
	if o.BootstrapConfig != "" {
		bc, err := readBootstrapConfig(o.BootstrapConfig)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, bc.warnings...)
		s.fromFile = o.BootstrapConfig
		s.network = overlay(bc.network, o.Network)
		if s.node.Name == "" {
			s.node.Name = bc.minion
			nameFrom = o.BootstrapConfig + ": ca.minion"
		} else if bc.minion != "" && bc.minion != s.node.Name {
			return nil, nil, fmt.Errorf("--name %q differs from ca.minion %q of %s: the bootstrap node is the CA minion",
				s.node.Name, bc.minion, o.BootstrapConfig)
		}
		if s.node.SSHHost == "" {
			s.node.SSHHost = bc.apiServerHost
		}
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if s.version == "" {
		bad("--platform-version: is empty; a version such as 2.10.0")
	} else if !versionR.MatchString(s.version) {
		bad("--platform-version: %q is not a version; a version such as 2.10.0 or 2.10.0-alpha1", s.version)
	}

	n := &s.network
	if len(n.ControlPlaneCIDRs) == 0 {
		bad("--control-plane-cidr: is missing; give it, or a --bootstrap-config")
	}
	cp := checkPrefixes("--control-plane-cidr", n.ControlPlaneCIDRs, bad)
	if len(n.WorkloadPlaneCIDRs) == 0 {
		n.WorkloadPlaneCIDRs = slices.Clone(n.ControlPlaneCIDRs)
	}
	checkPrefixes("--workload-plane-cidr", n.WorkloadPlaneCIDRs, bad)
	if n.WorkloadPlaneMTU == 0 {
		n.WorkloadPlaneMTU = DefaultMTU
	} else if n.WorkloadPlaneMTU < 576 || n.WorkloadPlaneMTU > 9216 {
		bad("--workload-plane-mtu: %d is out of range; an integer from 576 to 9216", n.WorkloadPlaneMTU)
	}
	if n.PodsCIDR == "" {
		n.PodsCIDR = DefaultPodsCIDR
	}
	if n.ServicesCIDR == "" {
		n.ServicesCIDR = DefaultServicesCIDR
	}
	pods := checkPrefixes("--pods-cidr", []string{n.PodsCIDR}, bad)
	svcs := checkPrefixes("--services-cidr", []string{n.ServicesCIDR}, bad)
	if len(pods) == 1 && len(svcs) == 1 && pods[0].Overlaps(svcs[0]) {
		bad("--pods-cidr %s overlaps --services-cidr %s; two disjoint networks", pods[0], svcs[0])
	}
	for _, p := range cp {
		for _, q := range append(pods, svcs...) {
			if p.Overlaps(q) {
				bad("--control-plane-cidr %s overlaps %s (pods or services); networks that do not overlap", p, q)
			}
		}
	}
	if n.MetalLB != nil {
		s.metalLB = *n.MetalLB
	}
	if n.IngressIP != "" {
		if _, err := netip.ParseAddr(n.IngressIP); err != nil {
			bad("--ingress-ip: %q is not an IP address", n.IngressIP)
		}
	} else if s.metalLB {
		bad("--ingress-ip: is required when MetalLB is enabled; a free IP of the control-plane network")
	}
	for _, u := range []struct{ flag, v string }{{"--http-proxy", n.HTTPProxy}, {"--https-proxy", n.HTTPSProxy}} {
		if u.v != "" && !strings.HasPrefix(u.v, "http://") && !strings.HasPrefix(u.v, "https://") {
			bad("%s: %q is not a URL; a URL such as http://proxy:3128", u.flag, u.v)
		}
	}
	if len(n.Archives) == 0 {
		bad("--archive: is missing; the absolute path of the MetalK8s ISO, e.g. /srv/scality/metalk8s-%s.iso", s.version)
	}
	for _, a := range n.Archives {
		if !path.IsAbs(a) {
			bad("--archive: %q is not an absolute path", a)
		}
	}
	for g := range n.FeatureGates {
		if !gateR.MatchString(g) {
			bad("--feature-gate: %q is not a feature gate name", g)
		}
	}

	nd := &s.node
	if nd.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, nil, fmt.Errorf("--name: not given and the host name is unknown: %w", err)
		}
		nd.Name = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	}
	if !dnsLabel.MatchString(nd.Name) {
		bad("%s: %q is not a DNS label; lower-case letters, digits and '-', at most 63 characters", nameFrom, nd.Name)
	}
	localHost := false
	if nd.SSHHost == "" && len(cp) > 0 {
		ip, err := localAddressIn(cp)
		if err != nil {
			bad("--ssh-host: not given, and %v; give the bootstrap node's control-plane IP", err)
		}
		nd.SSHHost, localHost = ip, err == nil
	} else if nd.SSHHost != "" {
		a, err := netip.ParseAddr(nd.SSHHost)
		if err != nil || a.Zone() != "" { // the site refuses a zone (fe80::1%eth0)
			bad("--ssh-host: %q is not an IP address; the bootstrap node's control-plane IP", nd.SSHHost)
		} else {
			if len(cp) > 0 && !slices.ContainsFunc(cp, func(p netip.Prefix) bool { return p.Contains(a) }) {
				bad("--ssh-host: %s is not in the control-plane network %s", a, strings.Join(n.ControlPlaneCIDRs, ", "))
			}
			localHost = isLocalAddress(a)
		}
	}
	if n.IngressIP == "" {
		// MetalK8s' default: the bootstrap node's control-plane IP. Written out so that
		// the operator sees it.
		n.IngressIP = nd.SSHHost
	}
	if nd.SSHUser == "" {
		nd.SSHUser = DefaultSSHUser
	}
	if !userR.MatchString(nd.SSHUser) {
		bad("--ssh-user: %q is not a user name", nd.SSHUser)
	}
	if nd.SSHUser != "root" {
		// root privileges are needed to deploy a node (seeds 000 L668).
		nd.SSHSudo = true
	}
	if nd.SSHPort == 0 {
		nd.SSHPort = DefaultSSHPort
	}
	if nd.SSHPort < 1 || nd.SSHPort > 65535 {
		bad("--ssh-port: %d is out of range; a port from 1 to 65535", nd.SSHPort)
	}
	if nd.SSHKeyPath == "" {
		nd.SSHKeyPath = DefaultSSHKeyPath
	}
	if !path.IsAbs(nd.SSHKeyPath) {
		bad("--ssh-key-path: %q is not an absolute path", nd.SSHKeyPath)
	}
	hk := nd.SSHHostKey
	if hk == "" && localHost {
		if _, err := os.Stat(LocalHostKeyFile); err == nil {
			hk = LocalHostKeyFile
			warnings = append(warnings, fmt.Sprintf("pinned the host key of this machine (%s) for node %s",
				LocalHostKeyFile, nd.Name))
		}
	}
	if hk != "" {
		key, err := hostKeyLine(hk)
		if err != nil {
			bad("--ssh-host-key: %v", err)
		}
		nd.SSHHostKey = key
	} else {
		warnings = append(warnings, fmt.Sprintf("no SSH host key pinned for node %s: add the "+
			"metalk8s.scality.com/ssh-host-key annotation (ssh-keyscan output checked out of band), "+
			"or the reconciler refuses to connect", nd.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return s, warnings, nil
}

// overlay returns base with the fields set in over replacing its own.
func overlay(base, over Network) Network {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setL := func(dst *[]string, v []string) {
		if len(v) > 0 {
			*dst = v
		}
	}
	setL(&base.ControlPlaneCIDRs, over.ControlPlaneCIDRs)
	setL(&base.WorkloadPlaneCIDRs, over.WorkloadPlaneCIDRs)
	if over.WorkloadPlaneMTU != 0 {
		base.WorkloadPlaneMTU = over.WorkloadPlaneMTU
	}
	set(&base.PodsCIDR, over.PodsCIDR)
	set(&base.ServicesCIDR, over.ServicesCIDR)
	set(&base.IngressIP, over.IngressIP)
	if over.MetalLB != nil {
		base.MetalLB = over.MetalLB
	}
	set(&base.HTTPProxy, over.HTTPProxy)
	set(&base.HTTPSProxy, over.HTTPSProxy)
	setL(&base.NoProxy, over.NoProxy)
	setL(&base.Archives, over.Archives)
	if len(over.FeatureGates) > 0 {
		if base.FeatureGates == nil {
			base.FeatureGates = map[string]bool{}
		}
		for k, v := range over.FeatureGates {
			base.FeatureGates[k] = v
		}
	}
	return base
}

func checkPrefixes(flag string, l []string, bad func(string, ...any)) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range l {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			bad("%s: %q is not a CIDR; a CIDR such as 10.0.0.0/24", flag, c)
			continue
		}
		if p.Masked() != p {
			bad("%s: %q has host bits set; did you mean %s?", flag, c, p.Masked())
			continue
		}
		out = append(out, p)
	}
	return out
}

// localAddressIn returns the first address of this machine inside one of the prefixes,
// tried in order, as MetalK8s does to find a node's control-plane address.
func localAddressIn(prefixes []netip.Prefix) (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("the local addresses are unknown: %w", err)
	}
	for _, p := range prefixes {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ok && p.Contains(ip.Unmap()) {
				return ip.Unmap().String(), nil
			}
		}
	}
	return "", errors.New("no address of this machine is in the control-plane network")
}

func isLocalAddress(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// hostKeyLine normalises a host key given as an authorized_keys line or as the path of a
// file holding one to "type base64" (the comment, often a host name, is dropped).
func hostKeyLine(v string) (string, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(v))
	if err != nil {
		data, rerr := os.ReadFile(v)
		if rerr != nil {
			return "", fmt.Errorf("%q is neither an SSH public key line (%v) nor a readable file (%v)", v, err, rerr)
		}
		if pub, _, _, _, err = ssh.ParseAuthorizedKey(data); err != nil {
			return "", fmt.Errorf("%s holds no SSH public key: %w", v, err)
		}
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), nil
}
