package hostsync

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// CompareOptions tunes Compare.
type CompareOptions struct {
	// Render computes a node's desired state in either revision; nil for roles.Render
	// with the node's PKI described offline. Like Plan's, a custom Render brings its own
	// PKI resources, if any: Compare adds none.
	Render RenderFunc
}

// leftover is the message of a resource the from revision renders for a node and the to
// revision no longer does: hostsync never deletes host state (no resource type has a
// delete step; the host's record merely stops listing the file).
const leftover = "no longer rendered for this node: mk8s leaves it on the host"

// Compare is the offline plan of a change for the hosts: the difference between the
// desired host state of two revisions of a site, without any host or cluster. from may
// be nil (a first install: everything is created).
//
// The entries read like a live plan's (subject, host, diff, redaction), node by node:
// the nodes of to in site order, then the nodes only in from. A node's entries start
// with the node itself when it joins, leaves, or changes roles or taints, then its etcd
// member when that changes, then its resources in apply order: created, configured,
// unchanged (kept, like a live plan: callers filter), and skipped for what only from
// renders. A node only in from gets its Node entry (and its etcd member's),
// not one entry per file it keeps.
//
// What depends on the hosts is left out or described: nothing is signed, no key is read.
// Certificates and kubeconfigs are compared by their specification (subject, SANs,
// usage, issuing CA, key size), the authority's files by what they are, and static pod
// manifests with the config digest placeholder; a pod whose config files change is
// reported as restarting, a unit whose files change as restarted. Entries that a
// reviewer must treat with care carry a change.Disruption.
//
// Both revisions render with the same rules: roles.FreshEtcd, except that a node that is
// an etcd member in both keeps from's start flags in to, as a live plan keeps those of
// the manifest already on the node. The error names the node and revision that cannot
// be rendered, or whose SANs cannot be computed.
func Compare(from, to *schema.Site, opts CompareOptions) (change.Set, error) {
	if to == nil {
		return nil, errors.New("compare: no revision to compare to")
	}
	c := &comparison{from: from, to: to, opts: opts}
	old, kept := map[string]*schema.Node{}, map[string]bool{}
	if from != nil {
		for i := range from.Nodes {
			old[from.Nodes[i].Name] = &from.Nodes[i]
			if from.Nodes[i].HasRole(schema.RoleEtcd) {
				c.etcdRuns = true
			}
		}
	}
	var out change.Set
	for i := range to.Nodes {
		n := &to.Nodes[i]
		kept[n.Name] = true
		s, err := c.node(old[n.Name], n)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	if from != nil {
		for i := range from.Nodes {
			if n := &from.Nodes[i]; !kept[n.Name] {
				out = append(out, removedNode(n)...)
			}
		}
	}
	return out, nil
}

type comparison struct {
	from, to *schema.Site
	opts     CompareOptions
	// etcdRuns says from has etcd members: a new member joins a running cluster.
	etcdRuns bool
}

// node compares one node of to with the same node in from (old, nil when it joins).
func (c *comparison) node(old, n *schema.Node) (change.Set, error) {
	s := c.nodeEntries(old, n)
	var start *roles.EtcdStart
	if old != nil && old.HasRole(schema.RoleEtcd) && n.HasRole(schema.RoleEtcd) {
		start = roles.FreshEtcd(c.from, n.Name)
	}
	want, err := c.render(c.to, "to", n.Name, start)
	if err != nil {
		return nil, err
	}
	var had []resource.Resource
	if old != nil {
		if had, err = c.render(c.from, "from", n.Name, nil); err != nil {
			return nil, err
		}
	}
	return append(s, compareResources(n.Name, had, want)...), nil
}

func (c *comparison) render(site *schema.Site, side, node string, start *roles.EtcdStart) ([]resource.Resource, error) {
	if c.opts.Render != nil {
		rs, err := c.opts.Render(site, node)
		if err != nil {
			return nil, fmt.Errorf("node %s, %s revision: %w", node, side, err)
		}
		return rs, nil
	}
	spec, err := pki.ForNode(site, node)
	if err != nil {
		return nil, fmt.Errorf("node %s, %s revision: %w", node, side, err)
	}
	rs, err := roles.Render(site, node, roles.Options{PKI: offlinePKI(spec), Etcd: start})
	if err != nil {
		return nil, fmt.Errorf("node %s, %s revision: %w", node, side, err)
	}
	return rs, nil
}

// nodeEntries are the entries of a node itself. Its Node entry reports joining, and the
// role and taint changes that workloads feel: removing a master, etcd or infra role, or
// changing taints, is flagged as a drain for the reviewer (mk8s does not drain nodes
// itself; the taints may evict). Its EtcdMember entry reports the member add a new etcd
// node needs, as the live plan's etcd stage does.
func (c *comparison) nodeEntries(old, n *schema.Node) change.Set {
	var s change.Set
	if old == nil {
		s = append(s, change.Entry{Subject: "Node " + n.Name, Host: n.Name, Action: change.Created,
			Message: "joins the site with roles " + strings.Join(n.Roles, ", ")})
	} else {
		var parts []string
		drain := false
		if gone, added := setChange(old.Roles, n.Roles); len(gone)+len(added) > 0 {
			parts = append(parts, "roles "+signed(gone, added))
			// Their workloads (control plane, etcd, infra services) must move first.
			drain = slices.ContainsFunc(gone, func(r string) bool {
				return r == schema.RoleMaster || r == schema.RoleEtcd || r == schema.RoleInfra
			})
		}
		if gone, added := setChange(taints(old), taints(n)); len(gone)+len(added) > 0 {
			parts = append(parts, "taints "+signed(gone, added))
			drain = true
		}
		if len(parts) > 0 {
			e := change.Entry{Subject: "Node " + n.Name, Host: n.Name, Action: change.Configured, Message: strings.Join(parts, "; ")}
			if drain {
				e.Disruptive = change.Drain
				e.Message += "; its workloads may have to move: mk8s does not drain the node"
			}
			s = append(s, e)
		}
	}
	wasEtcd := old != nil && old.HasRole(schema.RoleEtcd)
	peer := roles.EtcdPeerURL(n)
	member := change.Entry{Subject: "EtcdMember " + n.Name, Host: n.Name, Disruptive: change.EtcdMemberChange}
	switch {
	case n.HasRole(schema.RoleEtcd) && !wasEtcd:
		member.Action = change.Created
		switch {
		case c.etcdRuns:
			member.Message = "member add " + peer + " before its manifest is written"
		case roles.FreshEtcd(c.to, n.Name).State == "new":
			member.Message = "first member: starts the etcd cluster at " + peer
		default:
			member.Message = "member add " + peer + " once the first member runs"
		}
	case n.HasRole(schema.RoleEtcd) && roles.EtcdPeerURL(old) != peer:
		// The live plan finds members by peer URL: the node's is not one, it is added.
		member.Action = change.Created
		member.Message = "peer URL " + roles.EtcdPeerURL(old) + " -> " + peer + ": member add " + peer +
			" before its manifest is written; mk8s does not remove the member at the old URL"
	case wasEtcd && !n.HasRole(schema.RoleEtcd):
		member.Action = change.Skipped
		member.Message = "no longer an etcd node, but mk8s neither removes the member nor stops it (its manifest stays on the host): remove it by hand (etcdctl member remove)"
	default:
		return s
	}
	return append(s, member)
}

// removedNode are the entries of a node only in from. hostsync stops converging it and
// leaves its host as it is; the objects stage prunes its Node.
func removedNode(n *schema.Node) change.Set {
	s := change.Set{{Subject: "Node " + n.Name, Host: n.Name, Action: change.Deleted, Disruptive: change.NodeRemoval,
		Message: "removed from the site: its Node object is pruned (when mk8s created it) without a drain first; mk8s no longer converges the host and leaves its files"}}
	if n.HasRole(schema.RoleEtcd) {
		s = append(s, change.Entry{Subject: "EtcdMember " + n.Name, Host: n.Name, Action: change.Skipped, Disruptive: change.EtcdMemberChange,
			Message: "mk8s does not remove etcd members: remove " + n.Name + " (" + roles.EtcdPeerURL(n) + ") by hand (etcdctl member remove), or etcd keeps counting it in its quorum"})
	}
	return s
}

func taints(n *schema.Node) []string {
	out := make([]string, len(n.Taints))
	for i, t := range n.Taints {
		out[i] = t.Key
		if t.Value != "" {
			out[i] += "=" + t.Value
		}
		out[i] += ":" + t.Effect
	}
	return out
}

// setChange returns what is only in a and only in b, in their order.
func setChange(a, b []string) (gone, added []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			gone = append(gone, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	return gone, added
}

func signed(gone, added []string) string {
	var p []string
	for _, x := range gone {
		p = append(p, "-"+x)
	}
	for _, x := range added {
		p = append(p, "+"+x)
	}
	return strings.Join(p, " ")
}

// pkiSpec stands, in an offline comparison, for a PKI file the PKI stage would leave on
// a node: its ID is the live resource's, its content the specification of what the file
// holds, since there is no CA to sign with and no host to read.
type pkiSpec struct {
	id, path string
	mode     fs.FileMode
	text     []byte
	// diff says the text is diffed like file content (certificates, kubeconfigs, CA
	// certificates, as a live plan diffs them); else it is a one-line description.
	diff bool
}

func (p *pkiSpec) ID() string    { return p.id }
func (p *pkiSpec) Probe() string { return ":" }

// Decide implements resource.Resource; a pkiSpec is never planned on a host.
func (p *pkiSpec) Decide(string, *resource.Context) resource.Step {
	return resource.Step{Action: change.Failed, Message: "an offline description of " + p.path + ", not a host resource"}
}

// offlinePKI describes a node's PKI resources, in the order of the live PKI stage:
// directories, the authority's files, then each key and the certificate or kubeconfig
// it signs for.
func offlinePKI(spec pki.NodeSpec) []resource.Resource {
	rs := pkiDirectories(spec)
	for _, f := range authorityFiles(spec) {
		p := &pkiSpec{id: "File " + f.path, path: f.path, mode: 0o644}
		switch {
		case f.secret:
			p.mode, p.text = 0o600, []byte("secret from the authority: its content is not known offline")
		case f.path == pki.SAPubPath:
			p.text = []byte("the service-account public key, from the authority")
		default:
			p.text, p.diff = []byte("CA certificate, from the authority\n"), true
			for _, d := range pki.CADefs() {
				if d.CertPath == f.path {
					p.text = []byte("CA certificate of the " + d.Name + " CA (subject: CN=" + d.CN + "), from the authority\n")
				}
			}
		}
		rs = append(rs, p)
	}
	for _, l := range spec.Leaves {
		rs = append(rs, &resource.PrivateKey{Path: l.KeyPath, Bits: pki.LeafKeyBits},
			&pkiSpec{id: "Certificate " + l.Path, path: l.Path, mode: 0o644, text: l.DescribeSpec(), diff: true})
	}
	for _, k := range spec.Kubeconfigs {
		text := fmt.Appendf(nil, "server: %s\nuser: %s\n%s", k.Server, k.Name, k.DescribeSpec())
		rs = append(rs, &resource.PrivateKey{Path: k.KeyPath, Bits: pki.LeafKeyBits},
			&pkiSpec{id: "Kubeconfig " + k.Path, path: k.Path, mode: 0o600, text: text, diff: true})
	}
	return rs
}

// view is a resource as Compare sees it: the host path it manages, mode and owner, and a
// body that is the file's content (file set: diffed with its redaction and secret
// rules) or a description, one item per line.
type view struct {
	path        string
	mode, owner string
	body        []byte
	file        *resource.File
	pod         *resource.StaticPod
	unit        *resource.SystemdUnit
	// reissued is set for the specification of a certificate: a change re-issues it.
	reissued bool
}

const rootOwner = "root:root"

func fileView(f *resource.File) view {
	return view{path: f.Path, mode: fmt.Sprintf("%o", f.Mode.Perm()), owner: owner(f.Owner, f.Group), body: f.Content, file: f}
}

func owner(u, g string) string { return orRoot(u) + ":" + orRoot(g) }

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

func viewOf(r resource.Resource) view {
	switch r := r.(type) {
	case *resource.StaticPod:
		v := fileView(&r.File)
		v.pod = r
		return v
	case *resource.Certificate:
		return fileView(&r.File)
	case *resource.File:
		return fileView(r)
	case *resource.Kubeconfig:
		return view{path: r.Path, mode: "600", owner: rootOwner, body: r.Content,
			file: &resource.File{Path: r.Path, Content: r.Content, Describe: r.Describe}}
	case *pkiSpec:
		v := view{path: r.path, mode: fmt.Sprintf("%o", r.mode.Perm()), owner: rootOwner, body: r.text}
		if r.diff {
			v.file = &resource.File{Path: r.path, Content: r.text}
		}
		v.reissued = !strings.HasPrefix(r.id, "File ")
		return v
	case *resource.Directory:
		return view{path: r.Path, mode: fmt.Sprintf("%o", r.Mode.Perm()), owner: owner(r.Owner, r.Group)}
	case *resource.Symlink:
		return view{path: r.Path, body: []byte("-> " + r.Target)}
	case *resource.PrivateKey:
		return view{path: r.Path, body: fmt.Appendf(nil, "RSA %d, generated on the node, 600 root:root", r.Bits)}
	case *resource.SystemdUnit:
		state := []string{"enablement left as is", "not started by mk8s"}
		if r.Enabled {
			state[0] = "enabled"
		}
		if r.Active {
			state[1] = "active"
		}
		return view{unit: r, body: fmt.Appendf(nil, "state: %s\nunit files: %s\ndepends on: %s\n",
			strings.Join(state, ", "), list(r.UnitFiles), list(r.DependsOn))}
	case *resource.Package:
		v := view{body: []byte("version " + r.Version)}
		if r.Hold {
			v.body = append(v.body, ", held"...)
		}
		return v
	case *resource.Sysctl:
		return view{body: []byte(r.Key + "=" + r.Value + ", persisted in " + r.DropIn)}
	case *resource.KernelModule:
		return view{body: []byte("loaded, persisted in " + r.Persist)}
	case resource.Desired:
		p, content := r.DesiredFile()
		return view{path: p, body: content, file: &resource.File{Path: p, Content: content}}
	}
	return view{} // another kind: compared by presence only
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// oneLine is a description as a message: its lines joined.
func oneLine(b []byte) string {
	return strings.Join(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), "; ")
}

// compared is the comparison of one resource, before the restarts it causes are known.
type compared struct {
	e       change.Entry
	v       view
	content bool     // the content or description changes
	attrs   []string // mode and owner changes
}

// compareResources compares one node's resources, matched by ID (the k-th resource of an
// ID with the k-th: the PKI stage and the roles both place /etc/kubernetes). The order is
// to's, then what only from renders.
func compareResources(node string, had, want []resource.Resource) change.Set {
	type occurrence struct {
		id string
		n  int
	}
	key := func(seen map[string]int, r resource.Resource) occurrence {
		id := r.ID()
		seen[id]++
		return occurrence{id, seen[id]}
	}
	old := make(map[occurrence]resource.Resource, len(had))
	oldKeys := make([]occurrence, len(had))
	seen := map[string]int{}
	for i, r := range had {
		oldKeys[i] = key(seen, r)
		old[oldKeys[i]] = r
	}
	matched := make(map[occurrence]bool, len(want))
	cs := make([]compared, 0, len(want)+1)
	seen = map[string]int{}
	for _, r := range want {
		k := key(seen, r)
		var a *view
		if o, ok := old[k]; ok {
			matched[k] = true
			ov := viewOf(o)
			a = &ov
		}
		cs = append(cs, compareOne(node, k.id, a, viewOf(r)))
	}
	for i, r := range had {
		if !matched[oldKeys[i]] {
			cs = append(cs, compared{e: change.Entry{Subject: r.ID(), Host: node, Action: change.Skipped, Message: leftover}, v: viewOf(r)})
		}
	}
	restarts(cs)
	out := make(change.Set, len(cs))
	for i, c := range cs {
		out[i] = c.e
	}
	return out
}

// compareOne compares a resource in from (a, nil when only to renders it) and to (b).
func compareOne(node, id string, a *view, b view) compared {
	c := compared{e: change.Entry{Subject: id, Host: node}, v: b}
	if a == nil {
		c.e.Action, c.content = change.Created, true
		if b.file != nil {
			c.e.Diff = b.file.ContentDiff(nil, true, "", b.path+" (to)")
			c.e.Message = strings.TrimSpace(b.mode + " " + b.owner)
		} else {
			c.e.Message = strings.Join(slices.DeleteFunc([]string{strings.TrimSpace(b.mode + " " + b.owner), oneLine(b.body)},
				func(s string) bool { return s == "" }), ", ")
		}
		return c
	}
	if a.mode != b.mode {
		c.attrs = append(c.attrs, "mode "+a.mode+" -> "+b.mode)
	}
	if a.owner != b.owner {
		c.attrs = append(c.attrs, "owner "+a.owner+" -> "+b.owner)
	}
	c.content = !bytes.Equal(a.body, b.body)
	var lead string
	switch f := diffFile(a, b); {
	case !c.content:
	case f != nil:
		c.e.Diff = f.ContentDiff(a.body, false, b.path+" (from)", b.path+" (to)")
		lead = "new desired content"
		if b.reissued {
			lead = "re-issued: its specification changes"
		}
	case !bytes.Contains(bytes.TrimSuffix(a.body, []byte("\n")), []byte("\n")) && !bytes.Contains(bytes.TrimSuffix(b.body, []byte("\n")), []byte("\n")):
		lead = oneLine(a.body) + " -> " + oneLine(b.body)
	default:
		desc := &resource.File{Path: id, Content: b.body}
		c.e.Diff = desc.ContentDiff(a.body, false, id+" (from)", id+" (to)")
	}
	if !c.content && len(c.attrs) == 0 {
		c.e.Action = change.Unchanged
		return c
	}
	c.e.Action = change.Configured
	c.e.Message = strings.Join(slices.DeleteFunc(append([]string{lead}, c.attrs...), func(s string) bool { return s == "" }), ", ")
	return c
}

// diffFile is the file whose rules diff a content change, nil for a description. A
// file secret in either revision is secret in the diff: its old content is as secret.
func diffFile(a *view, b view) *resource.File {
	f := b.file
	if f == nil {
		f = a.file
	}
	if f == nil {
		return nil
	}
	d := &resource.File{Path: f.Path, Content: b.body, Describe: f.Describe,
		Secret: a.file != nil && a.file.Secret || b.file != nil && b.file.Secret}
	return d
}

// restarts marks what the node's changed files restart, as the live plan would: a static
// pod whose manifest or config files change (its config digest changes, kubelet
// restarts it), a unit whose unit files (daemon-reload) or configuration change.
func restarts(cs []compared) {
	changed := map[string]bool{}
	for _, c := range cs {
		if c.v.path != "" && (c.e.Action == change.Created || c.e.Action == change.Configured) {
			changed[c.v.path] = true
		}
	}
	for i := range cs {
		c := &cs[i]
		if c.e.Action == change.Skipped {
			continue
		}
		switch {
		case c.v.pod != nil && c.e.Action == change.Created:
			c.e.Disruptive, c.e.Message = change.StaticPodRestart, "new static pod: kubelet starts it"
		case c.v.pod != nil:
			var why []string
			if c.content {
				why = append(why, "manifest")
			}
			for _, f := range c.v.pod.ConfigFiles {
				if changed[f] {
					why = append(why, f)
				}
			}
			if len(why) == 0 {
				continue
			}
			verb := " change"
			if len(why) == 1 {
				verb = " changes"
			}
			c.e.Action, c.e.Disruptive = change.Configured, change.StaticPodRestart
			c.e.Message = strings.Join(append([]string{"restarts: " + strings.Join(why, ", ") + verb}, c.attrs...), ", ")
		case c.v.unit != nil && c.e.Action != change.Created:
			var msgs, why []string
			for _, f := range c.v.unit.UnitFiles {
				if changed[f] {
					why = append(why, f)
				}
			}
			if len(why) > 0 {
				msgs = append(msgs, "daemon-reload")
			}
			for _, f := range c.v.unit.DependsOn {
				if changed[f] {
					why = append(why, f)
				}
			}
			if c.v.unit.Active && len(why) > 0 {
				msgs = append(msgs, "restart ("+strings.Join(why, ", ")+" changed)")
			}
			if len(msgs) == 0 {
				continue
			}
			if c.e.Message != "" {
				msgs = append([]string{c.e.Message}, msgs...)
			}
			c.e.Action, c.e.Message = change.Configured, strings.Join(msgs, ", ")
		}
	}
}
