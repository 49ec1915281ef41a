package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/hostsync/pki"
)

// showPKI prints what the first reconcile created: the files and modes on the bootstrap
// node, a leaf verified against its CA, the apiserver's SANs, the backup of the CAs in
// the reconciler's state directory, and the expiry metrics of the daemon.
func (d *demo) showPKI(ctx context.Context, dm *sandbox.Daemon) error {
	sb := d.sb
	if err := d.ssh(ctx, "bootstrap", "ls -l /etc/kubernetes/pki /etc/kubernetes/pki/etcd /etc/kubernetes/pki/kubeconfig | grep -v '^total'"); err != nil {
		return err
	}
	if err := d.ssh(ctx, "bootstrap", "openssl verify -CAfile /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt && "+
		"openssl verify -CAfile /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt"); err != nil {
		return err
	}
	if err := d.ssh(ctx, "bootstrap", "openssl x509 -noout -subject -issuer -enddate -ext subjectAltName,extendedKeyUsage -in /etc/kubernetes/pki/apiserver.crt"); err != nil {
		return err
	}
	if err := d.ssh(ctx, "worker-1", "grep -E '^ *(server|certificate-authority-data|client-key):' /etc/kubernetes/kubelet.conf | cut -c1-90"); err != nil {
		return err
	}
	backup := filepath.Join(sb.Dir, "state", "pki")
	d.say("$ find $SANDBOX/state/pki -type f -printf '%%m %%u %%P\\n'   # the CAs' backup, on the bootstrap node only (never in git)")
	out, err := exec.CommandContext(ctx, "find", backup, "-type", "f", "-printf", `%m %u %P\n`).CombinedOutput()
	if err != nil {
		return fmt.Errorf("find %s: %w: %s", backup, err, out)
	}
	files := strings.SplitAfter(string(out), "\n")
	slices.Sort(files)
	fmt.Fprint(d.w, indent(strings.Join(files, "")))
	d.say("$ curl -s http://%s/metrics | grep mk8s_certificate_expiry | head -5", dm.Listen)
	m, err := metrics(ctx, dm.Listen)
	if err != nil {
		return err
	}
	var lines []string
	for l := range strings.Lines(m) {
		if strings.HasPrefix(l, "mk8s_certificate_expiry_timestamp_seconds{") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("the daemon exports no certificate expiry")
	}
	fmt.Fprint(d.w, indent(strings.Join(lines[:min(5, len(lines))], "")))
	d.say("  … %d series in all, one per certificate and node", len(lines))
	return nil
}

// ssh shows a command run on a sandbox node, and its output.
func (d *demo) ssh(ctx context.Context, node, script string) error {
	h := d.sb.Nodes[node]
	d.say("$ ssh %s %s", node, quoteArgs([]string{script}))
	out, err := d.sb.Lab.Run(ctx, h, script)
	fmt.Fprint(d.w, indent(out))
	if err != nil {
		return fmt.Errorf("%s: %s: %w", node, script, err)
	}
	return nil
}

func metrics(ctx context.Context, listen string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// ageCertificate makes one certificate of a node look a year old: re-signed, with the
// same key, subject, SANs and usages, by its CA from the reconciler's backup, valid
// from 335 days ago for 365 days. That is what a cluster installed last year holds.
func (d *demo) ageCertificate(ctx context.Context, node, path, caName string) error {
	sb := d.sb
	h := sb.Nodes[node]
	live, err := sb.Lab.Run(ctx, h, "cat "+path)
	if err != nil {
		return err
	}
	c, err := pki.ParseCertificate([]byte(live))
	if err != nil {
		return fmt.Errorf("%s:%s: %w", node, path, err)
	}
	backup, err := pki.ReadBackup(filepath.Join(sb.Dir, "state", "pki"))
	if err != nil {
		return err
	}
	var ca *pki.CA
	for _, def := range pki.CADefs() {
		if def.Name == caName {
			if ca, err = pki.ParseCA(def, backup.Files[def.CertPath], backup.Files[def.KeyPath]); err != nil {
				return err
			}
		}
	}
	if ca == nil {
		return fmt.Errorf("no CA %s", caName)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := *c
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-335 * 24 * time.Hour).Truncate(time.Second)
	tmpl.NotAfter = tmpl.NotBefore.Add(365 * 24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, c.PublicKey, ca.Key)
	if err != nil {
		return err
	}
	aged := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	_, err = sb.Lab.Run(ctx, h, "cat > "+path+" <<'EOF'\n"+string(aged)+"EOF")
	return err
}
