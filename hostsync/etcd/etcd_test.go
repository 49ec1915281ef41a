package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync/etcd"
)

// pki is an etcd CA with a server certificate (also usable as a client certificate,
// because etcd's gateway dials its own gRPC server with it) and a client certificate,
// written as PEM files.
type pki struct {
	caFile, serverCert, serverKey string
	roots                         *x509.CertPool
	client                        tls.Certificate
}

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcd-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	issue := func(serial int64, cn string, usage []x509.ExtKeyUsage, ips []net.IP, dns []string) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("create %s certificate: %v", cn, err)
		}
		return der, key
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	serverDER, serverKey := issue(2, "etcd-server", both, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	clientDER, clientKey := issue(3, "mk8s", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)

	p := pki{
		caFile:     filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "server.crt"),
		serverKey:  filepath.Join(dir, "server.key"),
		roots:      x509.NewCertPool(),
	}
	p.roots.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.serverCert, "CERTIFICATE", serverDER)
	writePEM(t, p.serverKey, "EC PRIVATE KEY", marshalKey(t, serverKey))
	p.client = tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return b
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// freePort returns a 127.0.0.1 port nothing listens on right now (the kernel picked it
// for a listener we closed).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("close port probe: %v", err)
	}
	return port
}

type etcdServer struct {
	name, endpoint, peerURL string
	pki                     pki
	exited                  <-chan struct{}
}

// startEtcd starts one real etcd member with TLS and client certificate auth on client
// and peer URLs, and stops it (by its PID) when the test ends.
func startEtcd(t *testing.T) etcdServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	assets, err := kubeenv.AssetsDir(ctx)
	if err != nil {
		kubeenv.SkipOrFail(t, err)
	}
	dir := t.TempDir()
	p := newPKI(t, dir)
	s := etcdServer{
		name:     "etcd-test",
		endpoint: fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		peerURL:  fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		pki:      p,
	}
	logPath := filepath.Join(dir, "etcd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create etcd log: %v", err)
	}
	cmd := exec.Command(filepath.Join(assets, "etcd"),
		"--name="+s.name,
		"--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+s.endpoint,
		"--advertise-client-urls="+s.endpoint,
		"--listen-peer-urls="+s.peerURL,
		"--initial-advertise-peer-urls="+s.peerURL,
		"--initial-cluster="+s.name+"="+s.peerURL,
		"--initial-cluster-state=new",
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.caFile,
		"--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.caFile,
		"--peer-client-cert-auth",
		// The test's data is thrown away; skipping fsync keeps it light on a shared disk.
		"--unsafe-no-fsync",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.exited = exited
	t.Cleanup(func() {
		// Stop only the process this test started, by its PID: SIGTERM, then SIGKILL if
		// it has not exited within the deadline.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("etcd log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// untilExit returns a context that is cancelled when etcd exits, so that waiting on a
// crashed etcd fails at once instead of at the deadline.
func untilExit(t *testing.T, s etcdServer, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx
}

func TestAgainstRealEtcd(t *testing.T) {
	s := startEtcd(t)
	var dials atomic.Int64
	c := etcd.New(etcd.Options{
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLS: &tls.Config{RootCAs: s.pki.roots, Certificates: []tls.Certificate{s.pki.client}},
	})
	t.Cleanup(c.CloseIdleConnections)

	if err := c.WaitHealthy(untilExit(t, s, 60*time.Second), s.endpoint, 100*time.Millisecond); err != nil {
		t.Fatalf("WaitHealthy on a fresh single-member cluster: %v", err)
	}
	if dials.Load() == 0 {
		t.Fatalf("Options.Dial was never called")
	}

	ctx := untilExit(t, s, 2*time.Minute)
	members, err := c.MemberList(ctx, s.endpoint)
	if err != nil {
		t.Fatalf("MemberList: %v", err)
	}
	if len(members) != 1 {
		t.Fatalf("MemberList: got %d members, want 1: %+v", len(members), members)
	}
	first := members[0]
	if first.ID == 0 || first.Name != s.name || len(first.PeerURLs) != 1 || first.PeerURLs[0] != s.peerURL ||
		len(first.ClientURLs) != 1 || first.ClientURLs[0] != s.endpoint || first.IsLearner {
		t.Fatalf("MemberList: got %+v, want ID≠0, name %s, peer URL %s, client URL %s, voting", first, s.name, s.peerURL, s.endpoint)
	}

	// etcd's own refusal surfaces as an APIError with its message: adding the peer URL of
	// the existing member is what a reconcile retried after a lost response would see
	// if it did not list first.
	_, _, err = c.MemberAdd(ctx, s.endpoint, []string{s.peerURL})
	var apiErr *etcd.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(apiErr.Message, "Peer URLs already exists") ||
		!strings.Contains(err.Error(), s.endpoint) {
		t.Fatalf("MemberAdd of an existing peer URL: got %v, want an APIError naming %s with etcd's message", err, s.endpoint)
	}

	// A second member that never starts: nothing listens on its peer port.
	secondPeer := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	added, list, err := c.MemberAdd(ctx, s.endpoint, []string{secondPeer})
	if err != nil {
		t.Fatalf("MemberAdd %s: %v", secondPeer, err)
	}
	if added.ID == 0 || added.ID == first.ID || added.Name != "" || len(added.PeerURLs) != 1 ||
		added.PeerURLs[0] != secondPeer || len(added.ClientURLs) != 0 {
		t.Fatalf("MemberAdd: got %+v, want a new non-zero ID, no name, peer URL %s, no client URLs", added, secondPeer)
	}
	if len(list) != 2 || !hasMember(list, added.ID) || !hasMember(list, first.ID) {
		t.Fatalf("MemberAdd member list: got %+v, want the first member and %d", list, added.ID)
	}
	members, err = c.MemberList(ctx, s.endpoint)
	if err != nil {
		t.Fatalf("MemberList after add: %v", err)
	}
	if len(members) != 2 || !hasMember(members, added.ID) || !hasMember(members, first.ID) {
		t.Fatalf("MemberList after add: got %+v, want the first member and %d", members, added.ID)
	}

	// Two voters, one never started: the cluster has no quorum, so /health goes false
	// once the leader notices (check-quorum steps it down after an election timeout).
	// This is what keeps the reconciler from touching the next member.
	deadline := time.Now().Add(30 * time.Second)
	var healthErr error
	for {
		healthErr = c.Health(ctx, s.endpoint)
		if healthErr != nil && strings.Contains(healthErr.Error(), "unhealthy") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Health after adding a member that never starts: still %v after 30s, want unhealthy", healthErr)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("etcd exited or test deadline: %v", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !strings.Contains(healthErr.Error(), s.endpoint) {
		t.Fatalf("Health error %q does not name the endpoint %s", healthErr, s.endpoint)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = c.WaitHealthy(waitCtx, s.endpoint, 200*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), s.endpoint) ||
		!strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("WaitHealthy without quorum: got %v, want a deadline error naming %s and the last failure", err, s.endpoint)
	}
	t.Logf("health gate blocks: %v", err)

	// MemberList is served from local state, so it still answers without quorum: the
	// reconciler can still see which member is missing.
	if members, err := c.MemberList(ctx, s.endpoint); err != nil || len(members) != 2 {
		t.Fatalf("MemberList without quorum: got %+v, %v; want 2 members", members, err)
	}
}

func TestRefusedWithoutClientCertificate(t *testing.T) {
	s := startEtcd(t)
	good := etcd.New(etcd.Options{TLS: &tls.Config{RootCAs: s.pki.roots, Certificates: []tls.Certificate{s.pki.client}}})
	t.Cleanup(good.CloseIdleConnections)
	// Wait until etcd serves, so the refusal below is etcd's and not "connection refused".
	if err := good.WaitHealthy(untilExit(t, s, 60*time.Second), s.endpoint, 100*time.Millisecond); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}

	noCert := etcd.New(etcd.Options{TLS: &tls.Config{RootCAs: s.pki.roots}})
	t.Cleanup(noCert.CloseIdleConnections)
	ctx := untilExit(t, s, time.Minute)
	_, err := noCert.MemberList(ctx, s.endpoint)
	if err == nil || !strings.Contains(err.Error(), s.endpoint) || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("MemberList without a client certificate: got %v, want a refusal naming %s and the client certificate", err, s.endpoint)
	}
	t.Logf("refused: %v", err)
	if err := noCert.Health(ctx, s.endpoint); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("Health without a client certificate: got %v, want a refusal", err)
	}

	noTLS := etcd.New(etcd.Options{})
	if _, err := noTLS.MemberList(ctx, s.endpoint); err == nil || !strings.Contains(err.Error(), "Options.TLS") {
		t.Fatalf("MemberList of an https endpoint without TLS options: got %v, want an error asking for Options.TLS", err)
	}
}

func TestHealthNothingListening(t *testing.T) {
	endpoint := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	c := etcd.New(etcd.Options{TLS: &tls.Config{}})
	t.Cleanup(c.CloseIdleConnections)
	err := c.Health(context.Background(), endpoint)
	if err == nil || !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("Health of %s where nothing listens: got %v, want an error naming the endpoint", endpoint, err)
	}
	t.Logf("nothing listening: %v", err)
}

// TestTimeoutBoundsARequest uses a real listener that accepts and never answers (a
// member stuck before its TLS handshake) and checks that Options.Timeout ends the call.
func TestTimeoutBoundsARequest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var held []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-acceptDone // held is only read once the accept loop has returned
		for _, conn := range held {
			_ = conn.Close()
		}
	})
	endpoint := "https://" + l.Addr().String()
	c := etcd.New(etcd.Options{TLS: &tls.Config{}, Timeout: 300 * time.Millisecond})
	t.Cleanup(c.CloseIdleConnections)
	start := time.Now()
	_, err = c.MemberList(context.Background(), endpoint)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("MemberList of a silent endpoint: got %v, want a deadline error naming %s", err, endpoint)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("MemberList of a silent endpoint took %v, want about the 300ms timeout", took)
	}
}

func hasMember(ms []etcd.Member, id uint64) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}
