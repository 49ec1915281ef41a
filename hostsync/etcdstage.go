package hostsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/hostsync/etcd"
	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

const etcdManifest = roles.ManifestDir + "/etcd.yaml"

// etcdStage is the etcd membership of one plan: whether a cluster runs, its members,
// and per etcd node how its member starts and whether it must be added first.
type etcdStage struct {
	client *etcd.Client
	// running is set when a member answered: the health gate applies.
	running bool
	// endpoint is the member that answered, for member add and the precheck.
	endpoint string
	members  []etcd.Member
	// unhealthy says why the cluster failed the precheck ("" when healthy).
	unhealthy string
}

// newEtcdStage asks the site's etcd members for the membership, with a client
// certificate the etcd CA signs in memory. No member answering means no cluster runs
// yet (a fresh site, or one whose etcd is down: then the gate cannot help either).
func newEtcdStage(ctx context.Context, site *schema.Site, a *pki.Authority, dial transport.DialFunc, now time.Time) (*etcdStage, error) {
	s := &etcdStage{}
	ca := a.CAs[pki.CAEtcd]
	if ca == nil {
		return s, nil
	}
	cert, err := pki.ClientCertificate(ca, "mk8s-etcd-client", now)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	s.client = etcd.New(etcd.Options{Dial: dial, TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	for _, n := range etcdNodes(site) {
		ep := roles.EtcdClientURL(n)
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ms, err := s.client.MemberList(qctx, ep)
		cancel()
		if err != nil {
			continue
		}
		s.running, s.endpoint, s.members = true, ep, ms
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.client.Health(hctx, ep); err != nil {
			s.unhealthy = err.Error()
		}
		cancel()
		break
	}
	return s, nil
}

// etcdNodes are the site's etcd nodes, the bootstrap node first.
func etcdNodes(site *schema.Site) []*schema.Node {
	var out []*schema.Node
	for i := range site.Nodes {
		if site.Nodes[i].HasRole(schema.RoleEtcd) {
			out = append(out, &site.Nodes[i])
		}
	}
	slices.SortStableFunc(out, func(a, b *schema.Node) int {
		if a.HasRole(schema.RoleBootstrap) != b.HasRole(schema.RoleBootstrap) {
			if a.HasRole(schema.RoleBootstrap) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// member returns the member whose peer URLs include the node's.
func (s *etcdStage) member(n *schema.Node) (etcd.Member, bool) {
	peer := roles.EtcdPeerURL(n)
	for _, m := range s.members {
		if slices.Contains(m.PeerURLs, peer) {
			return m, true
		}
	}
	return etcd.Member{}, false
}

// start decides how the node's member starts. The flags of a manifest already on the
// node are kept: they only matter to a first start, and changing them would restart a
// healthy member for nothing. A new member of a running cluster joins the members there.
func (s *etcdStage) start(site *schema.Site, n *schema.Node, live []byte) *roles.EtcdStart {
	if cluster, state, ok := liveEtcdStart(live); ok {
		return &roles.EtcdStart{InitialCluster: cluster, State: state}
	}
	if !s.running {
		return roles.FreshEtcd(site, n.Name)
	}
	var parts []string
	self := roles.EtcdPeerURL(n)
	for _, m := range s.members {
		name := m.Name
		if name == "" {
			for _, o := range etcdNodes(site) {
				if slices.Contains(m.PeerURLs, roles.EtcdPeerURL(o)) {
					name = o.Name
				}
			}
		}
		if name == "" {
			name = strconv.FormatUint(m.ID, 16)
		}
		for _, u := range m.PeerURLs {
			if u != self {
				parts = append(parts, name+"="+u)
			}
		}
	}
	parts = append(parts, n.Name+"="+self)
	return &roles.EtcdStart{InitialCluster: strings.Join(parts, ","), State: "existing"}
}

// liveEtcdStart reads --initial-cluster and --initial-cluster-state from a manifest.
func liveEtcdStart(manifest []byte) (cluster, state string, ok bool) {
	for _, l := range strings.Split(string(manifest), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-"))
		if v, found := strings.CutPrefix(l, "--initial-cluster="); found {
			cluster = v
		}
		if v, found := strings.CutPrefix(l, "--initial-cluster-state="); found {
			state = v
		}
	}
	return cluster, state, cluster != "" && state != ""
}

// joinStep is the plan's entry for a member add, or nil when the node is a member (or
// no cluster runs: the first member creates it).
func (s *etcdStage) joinStep(n *schema.Node) *change.Entry {
	if !s.running {
		return nil
	}
	if _, ok := s.member(n); ok {
		return nil
	}
	return &change.Entry{Subject: "EtcdMember " + n.Name, Host: n.Name, Action: change.Created,
		Message: "member add " + roles.EtcdPeerURL(n) + " before its manifest is written; the next etcd member converges once it is healthy"}
}

// join adds the node to the cluster.
func (s *etcdStage) join(ctx context.Context, n *schema.Node) error {
	if _, _, err := s.client.MemberAdd(ctx, s.endpoint, []string{roles.EtcdPeerURL(n)}); err != nil {
		return fmt.Errorf("node %s: etcd member add %s via %s: %w", n.Name, roles.EtcdPeerURL(n), s.endpoint, err)
	}
	return nil
}

// waitHealthy is the gate between members: the member just converged answers healthy
// (which etcd says only with a leader and quorum) within timeout.
func (s *etcdStage) waitHealthy(ctx context.Context, n *schema.Node, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.client.WaitHealthy(wctx, roles.EtcdClientURL(n), time.Second); err != nil {
		return fmt.Errorf("node %s: etcd member not healthy within %s after converging: %w", n.Name, timeout, err)
	}
	return nil
}
