package hostsync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/hostsync/pki"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/schema"
)

// PKIOptions tunes the PKI stage of Plan and Apply.
type PKIOptions struct {
	// Skip leaves certificates, keys and kubeconfigs alone (a custom Render implies it).
	Skip bool
	// BackupDir is where the authority is backed up (the reconciler's <stateDir>/pki).
	// A plan reads it; an apply that must create or restore the authority refuses
	// without it.
	BackupDir string
	// RenewBefore is the fraction of a certificate's lifetime left under which it is
	// re-issued; pki.DefaultRenew (90 of 365 days, as MetalK8s) when zero.
	RenewBefore float64
	// Recovery is the operator's one-shot answer to a missing or broken CA.
	Recovery pki.Recovery
	// CAKeyBits overrides the CA key size (tests); pki.CAKeyBits when zero.
	CAKeyBits int
	// Now is the PKI clock (tests of renewal); time.Now when nil.
	Now func() time.Time
}

// Certificate is one certificate a node holds, as reported in status and metrics.
type Certificate = pki.Certificate

// pkiStage is the PKI of one plan: the resolved authority and, per host, what its
// certificates, keys and kubeconfigs are.
type pkiStage struct {
	opts       PKIOptions
	site       *schema.Site
	bootstrap  string
	resolution *pki.Resolution
	backup     *pki.Backup
	specs      map[string]pki.NodeSpec
	// unavailable says why no authority could be loaded (the bootstrap node is down
	// and there is no backup): the PKI resources of every host are skipped with it.
	unavailable string
}

// hostPKI is what the PKI stage read on one host before its plan.
type hostPKI struct {
	files      map[string][]byte // content; a key's public half; a kubeconfig's certificate
	unreadable map[string]string
}

func (s *pkiStage) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *pkiStage) renew() float64 {
	if s.opts.RenewBefore > 0 {
		return s.opts.RenewBefore
	}
	return pki.DefaultRenew
}

// newPKIStage computes every node's PKI specification: a node whose SANs cannot be
// computed stops the plan before any host is touched.
func newPKIStage(site *schema.Site, opts PKIOptions) (*pkiStage, error) {
	s := &pkiStage{opts: opts, site: site, specs: map[string]pki.NodeSpec{}}
	if b := site.BootstrapNode(); b != nil {
		s.bootstrap = b.Name
	}
	var errs []error
	for i := range site.Nodes {
		spec, err := pki.ForNode(site, site.Nodes[i].Name)
		if err != nil {
			errs = append(errs, err)
		}
		s.specs[site.Nodes[i].Name] = spec
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &pki.RefusedError{Problems: []string{err.Error()}}
	}
	return s, nil
}

// probeScript reads, in one round trip, the public half of every key, the certificates,
// the certificates embedded in kubeconfigs and, on the bootstrap node, the authority's
// files. No private key of a node leaves it; the authority's keys are read only from
// the bootstrap node, where the reconciler runs.
func (s *pkiStage) probeScript(node string) string {
	spec := s.specs[node]
	var b strings.Builder
	b.WriteString(`f() { if [ -f "$1" ]; then if o=$(base64 -w0 < "$1" 2>&1); then echo "@@F $1"; echo "$o"; else echo "@@U $1"; echo "$o" | base64 -w0; echo; fi; fi; }
k() { if [ -f "$1" ]; then if o=$(openssl pkey -in "$1" -pubout 2>&1); then echo "@@F $1"; printf '%s' "$o" | base64 -w0; echo; else echo "@@U $1"; printf '%s' "$o" | base64 -w0; echo; fi; fi; }
c() { if [ -f "$1" ]; then echo "@@F $1"; sed -n 's/^ *client-certificate-data: *//p' "$1" | head -n1; fi; }
`)
	for _, p := range s.filePaths(node) {
		b.WriteString("f " + resource.Q(p) + "\n")
	}
	for _, l := range spec.Leaves {
		b.WriteString("k " + resource.Q(l.KeyPath) + "\n")
	}
	for _, k := range spec.Kubeconfigs {
		b.WriteString("k " + resource.Q(k.KeyPath) + "\nc " + resource.Q(k.Path) + "\n")
	}
	return b.String()
}

// filePaths are the files whose whole content the stage reads on a node.
func (s *pkiStage) filePaths(node string) []string {
	spec := s.specs[node]
	var out []string
	for _, l := range spec.Leaves {
		out = append(out, l.Path)
	}
	out = append(out, spec.CACerts...)
	if n, ok := s.site.Node(node); ok && n.HasRole(schema.RoleEtcd) {
		out = append(out, etcdManifest) // its live start flags are kept (etcdStage.start)
	}
	if node == s.bootstrap {
		for _, g := range pki.Groups() {
			out = append(out, g...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func parsePKIProbe(out []byte, kubeconfigs map[string]bool) (*hostPKI, error) {
	h := &hostPKI{files: map[string][]byte{}, unreadable: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		kind, p, ok := strings.Cut(line, " ")
		if !ok || (kind != "@@F" && kind != "@@U") {
			continue
		}
		if !sc.Scan() {
			return nil, fmt.Errorf("truncated PKI probe output at %s", p)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sc.Text()))
		if err != nil {
			return nil, fmt.Errorf("PKI probe output of %s: %w", p, err)
		}
		if kind == "@@U" {
			h.unreadable[p] = strings.TrimSpace(string(data))
			continue
		}
		if kubeconfigs[p] {
			if len(data) == 0 {
				continue // a kubeconfig without an embedded certificate
			}
		}
		h.files[p] = data
	}
	return h, sc.Err()
}

// probe runs the PKI probe on one host.
func (s *pkiStage) probe(ctx context.Context, r resource.Runner, node string) (*hostPKI, error) {
	res, err := r.Run(ctx, []byte(s.probeScript(node)))
	if err != nil {
		return nil, fmt.Errorf("node %s: PKI probe: %w", node, err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("node %s: PKI probe: exit %d: %s", node, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	kc := map[string]bool{}
	for _, k := range s.specs[node].Kubeconfigs {
		kc[k.Path] = true
	}
	h, err := parsePKIProbe(res.Stdout, kc)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return h, nil
}

// resolve decides the authority from the bootstrap node's files, the backup and what
// the other nodes hold. When the bootstrap node could not be probed, the backup stands
// in (so other hosts still get their certificates) if mk8s installed it.
func (s *pkiStage) resolve(probes map[string]*hostPKI, bootErr error) error {
	backup, err := pki.ReadBackup(s.opts.BackupDir)
	if err != nil {
		return &pki.RefusedError{Problems: []string{err.Error()}}
	}
	s.backup = backup
	in := pki.ResolveInput{Bootstrap: s.bootstrap, Backup: backup, Recovery: s.opts.Recovery,
		CAKeyBits: s.opts.CAKeyBits, Now: s.now(), Live: map[string][]byte{}, Unreadable: map[string]string{}}
	authority := map[string]bool{}
	for _, g := range pki.Groups() {
		for _, p := range g {
			authority[p] = true
		}
	}
	boot := probes[s.bootstrap]
	if boot == nil {
		if !backup.Installed {
			// Not a refusal: the hosts converge everything else, and their
			// certificates wait (skipped, with this reason) for the next reconcile.
			why := "the site has no bootstrap node"
			if bootErr != nil {
				why = "the bootstrap node " + s.bootstrap + " could not be read (" + bootErr.Error() + ")"
			}
			s.unavailable = fmt.Sprintf("no certificate can be issued: %s and no backup of its CA exists in %q", why, s.opts.BackupDir)
			return nil
		}
		in.Live = backup.Files
	} else {
		for p, data := range boot.files {
			if authority[p] {
				in.Live[p] = data
			}
		}
		for p, why := range boot.unreadable {
			if authority[p] {
				in.Unreadable[p] = why
			}
		}
	}
	nodes := make([]string, 0, len(probes))
	for n := range probes {
		nodes = append(nodes, n)
	}
	// The other nodes first: their certificates are what a re-created CA would break.
	sort.Slice(nodes, func(i, j int) bool {
		if (nodes[i] == s.bootstrap) != (nodes[j] == s.bootstrap) {
			return nodes[j] == s.bootstrap
		}
		return nodes[i] < nodes[j]
	})
	for _, n := range nodes {
		for p := range probes[n].files {
			if n == s.bootstrap && authority[p] {
				continue
			}
			if !strings.HasSuffix(p, ".key") && p != etcdManifest {
				in.Evidence = append(in.Evidence, n+":"+p)
			}
		}
	}
	s.resolution, err = pki.Resolve(in)
	return err
}

// resources returns the PKI host resources of a node, and the certificates they leave.
func (s *pkiStage) resources(node string, h *hostPKI) ([]resource.Resource, []Certificate, error) {
	if s.unavailable != "" {
		return []resource.Resource{&resource.Deferred{Name: "PKI", Action: change.Skipped, Message: s.unavailable}}, nil, nil
	}
	spec := s.specs[node]
	a := s.resolution.Authority
	files := a.Files()
	var certs []Certificate
	rs := pkiDirectories(spec)
	report := func(p string, content []byte) {
		if c, err := pki.ParseCertificate(content); err == nil {
			certs = append(certs, pki.DescribeCertificate(node, p, c, s.renew()))
		}
	}
	for _, f := range authorityFiles(spec) {
		if f.secret {
			content := files[f.path]
			if f.path == pki.EncryptionConfig {
				content = pki.EncryptionConfiguration(files[pki.EncryptionKeyPath])
			}
			rs = append(rs, &resource.File{Path: f.path, Content: content, Mode: 0o600, Secret: true})
			continue
		}
		pf := &resource.File{Path: f.path, Content: files[f.path], Mode: 0o644}
		if strings.HasSuffix(f.path, ".crt") {
			pf.Describe = pki.Describe
			report(f.path, pf.Content)
		}
		rs = append(rs, pf)
	}
	now, renew := s.now(), s.renew()
	// issue returns the certificate to leave for a leaf: the live one while it is good.
	issue := func(l pki.Leaf, live []byte) ([]byte, string, error) {
		ca := a.CAs[l.CA]
		pubPEM, ok := h.files[l.KeyPath]
		if !ok {
			return nil, "", nil
		}
		pub, err := pki.ParsePublicKey(pubPEM)
		if err != nil {
			return nil, "", fmt.Errorf("node %s: %s: %w", node, l.KeyPath, err)
		}
		reason := l.Check(live, pub, ca, now, renew)
		if reason == "" {
			return live, "", nil
		}
		cert, err := l.Sign(ca, pub, now)
		if err != nil {
			return nil, "", fmt.Errorf("node %s: %w", node, err)
		}
		return cert, reason, nil
	}
	keyProblem := func(p string) error {
		if why, bad := h.unreadable[p]; bad {
			return fmt.Errorf("node %s: %s: unreadable private key: %s", node, p, why)
		}
		return nil
	}
	var errs []error
	for _, l := range spec.Leaves {
		rs = append(rs, &resource.PrivateKey{Path: l.KeyPath, Bits: pki.LeafKeyBits})
		if err := keyProblem(l.KeyPath); err != nil {
			errs = append(errs, err)
			continue
		}
		cert, reason, err := issue(l, h.files[l.Path])
		switch {
		case err != nil:
			errs = append(errs, err)
		case cert == nil:
			rs = append(rs, deferredCert("Certificate "+l.Path, h.files[l.Path] != nil, l.KeyPath))
		default:
			rs = append(rs, &resource.Certificate{File: resource.File{Path: l.Path, Content: cert, Mode: 0o644, Describe: pki.Describe}, Reason: reason})
			report(l.Path, cert)
		}
	}
	for _, k := range spec.Kubeconfigs {
		rs = append(rs, &resource.PrivateKey{Path: k.KeyPath, Bits: pki.LeafKeyBits})
		if err := keyProblem(k.KeyPath); err != nil {
			errs = append(errs, err)
			continue
		}
		cert, _, err := issue(k.Leaf, h.files[k.Path])
		switch {
		case err != nil:
			errs = append(errs, err)
		case cert == nil:
			rs = append(rs, deferredCert("Kubeconfig "+k.Path, h.files[k.Path] != nil, k.KeyPath))
		default:
			rs = append(rs, &resource.Kubeconfig{Path: k.Path, KeyPath: k.KeyPath,
				Content: k.Render(a.CAs[pki.CAKubernetes].CertPEM, cert), Describe: describeKubeconfig})
			report(k.Path, cert)
		}
	}
	return rs, certs, errors.Join(errs...)
}

// pkiDirectories are the directories the PKI stage keeps on a node, in the order it
// places them (before any file of the node's PKI).
func pkiDirectories(spec pki.NodeSpec) []resource.Resource {
	var rs []resource.Resource
	dir := func(p string, mode fs.FileMode) { rs = append(rs, &resource.Directory{Path: p, Mode: mode}) }
	dir("/etc/kubernetes", 0o755)
	dir("/etc/kubernetes/pki", 0o755)
	dir(pki.KubeconfigKeyDir, 0o700)
	dir("/var/lib/kubelet", 0o750)
	dir("/var/lib/kubelet/pki", 0o755)
	if slices.Contains(spec.CACerts, "/etc/kubernetes/pki/etcd/ca.crt") {
		dir("/etc/kubernetes/pki/etcd", 0o755)
	}
	if spec.Authority {
		dir("/etc/metalk8s", 0o755)
		dir("/etc/metalk8s/pki", 0o755)
		for _, d := range []string{"nginx-ingress", "dex", "backup-server"} {
			dir("/etc/metalk8s/pki/"+d, 0o755)
		}
		dir("/etc/metalk8s/crypt", 0o700)
	}
	return rs
}

// authorityFile is a file a node receives from the authority: a CA certificate, the
// authority's own keys (on the CA minion), the service-account pair, the encryption
// configuration.
type authorityFile struct {
	path   string
	secret bool // 600 and never shown; else 644
}

// authorityFiles are the authority's files a node receives, in the order the PKI stage
// places them (after its directories, before its leaf certificates).
func authorityFiles(spec pki.NodeSpec) []authorityFile {
	var out []authorityFile
	written := map[string]bool{}
	if spec.Authority {
		for _, g := range pki.Groups() {
			for _, p := range g {
				written[p] = true
				out = append(out, authorityFile{p, slices.Contains(pki.SecretPaths(), p)})
			}
		}
	}
	for _, p := range spec.CACerts {
		if !written[p] {
			out = append(out, authorityFile{p, false})
		}
	}
	if spec.ServiceAccount && !spec.Authority {
		out = append(out, authorityFile{pki.SAPubPath, false}, authorityFile{pki.SAKeyPath, true})
	}
	if spec.Encryption {
		out = append(out, authorityFile{pki.EncryptionConfig, true})
	}
	return out
}

func deferredCert(name string, exists bool, key string) resource.Resource {
	action := change.Created
	if exists {
		action = change.Configured
	}
	return &resource.Deferred{Name: name, Action: action, Message: "issued once its key " + key + " is generated on the node (apply re-plans the host after the keys)"}
}

// describeKubeconfig shows a kubeconfig as its server and the certificate it embeds.
func describeKubeconfig(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var w bytes.Buffer
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); bytes.HasPrefix(t, []byte("server:")) {
			w.Write(t)
			w.WriteByte('\n')
		}
	}
	w.Write(pki.Describe(pki.CertificateFromKubeconfig(b)))
	return w.Bytes()
}

// persistBackup writes what the backup lacks before any host is changed: a CA that
// exists only in a host's half-written files would be lost with the host. The backup
// is marked installed when the bootstrap node already holds every file.
func (s *pkiStage) persistBackup() error {
	if s == nil || s.resolution == nil || len(s.resolution.ToBackup) == 0 && (s.backup.Installed || len(s.resolution.Origin) > 0) {
		return nil
	}
	created := len(s.resolution.Origin) > 0
	if s.opts.BackupDir == "" {
		if created {
			return &pki.RefusedError{Problems: []string{"the CA must be created or restored on node " + s.bootstrap +
				" but no state directory holds its backup (set the reconciler's stateDir, or --state-dir)"}}
		}
		return nil // adopting a live CA: nothing to lose without a backup
	}
	return s.backup.Write(s.resolution.ToBackup, !created)
}

// markInstalled records that the bootstrap node now holds the authority.
func (s *pkiStage) markInstalled() error {
	if s == nil || s.backup == nil || s.backup.Installed || s.opts.BackupDir == "" {
		return nil
	}
	return s.backup.Write(nil, true)
}
