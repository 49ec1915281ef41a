package source_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/metalk8s/mk8s/e2e/harness/gitserver"
	"github.com/metalk8s/mk8s/reconciler/source"
)

// A known_hosts file that also pins other hosts (an operator's usual file) must not steer
// the host key algorithms: another host's RSA key listed first, and none for this
// server, gives the clear unknown-host refusal (it gave "no common algorithm"); with this
// server's key listed after it, the fetch works.
func TestSyncKnownHostsWithOtherHostsKeys(t *testing.T) {
	w := newWorld(t)
	w.work.Commit(w.gpg, "first", nil)
	w.push(false)
	srv := gitserver.StartSSHD(t, w.bareRoot)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	otherLine := "otherhost.example.invalid " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + "\n"
	kh := w.dir + "/known_hosts"
	os.WriteFile(kh, []byte(otherLine), 0o644)
	cfg := w.config(srv.URL("site.git"), "  ssh:\n    identityFile: "+srv.ClientKey+"\n    knownHostsFile: "+kh+"\n", "")
	_, err = w.source(cfg).Sync(context.Background(), source.SyncOptions{})
	var uh *source.UnknownHostError
	if !errors.As(err, &uh) {
		t.Fatalf("want an unknown host error, got %v", err)
	}
	mine, err := os.ReadFile(srv.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(kh, append([]byte(otherLine), mine...), 0o644)
	cfg = w.config(srv.URL("site.git"), "  ssh:\n    identityFile: "+srv.ClientKey+"\n    knownHostsFile: "+kh+"\n", "")
	if _, err := w.source(cfg).Sync(context.Background(), source.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
}
