package verify

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// A signature dated after the verifier's clock is refused, and the message says it is
// in the future rather than that it has expired.
func TestOpenPGPSignatureFromTheFuture(t *testing.T) {
	now := time.Now()
	e, err := openpgp.NewEntity("Ops", "", "ops@example.invalid", &packet.Config{Time: func() time.Time { return now.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("tree 0\n\nmsg\n")
	var sig bytes.Buffer
	future := now.Add(48 * time.Hour)
	if err := openpgp.ArmoredDetachSign(&sig, e, bytes.NewReader(payload), &packet.Config{Time: func() time.Time { return future }}); err != nil {
		t.Fatal(err)
	}
	tr := NewTrust(openpgp.EntityList{e}, nil, func() time.Time { return now })
	_, err = tr.Check(SignatureCheck{Object: "x", Payload: payload, Signature: sig.Bytes(), Namespace: Namespace})
	var r *RefusedError
	if !errors.As(err, &r) || !strings.Contains(r.Detail, "in the future") {
		t.Fatalf("want a refusal that says the signature is in the future, got %v", err)
	}
	// The same signature checked once its time has come is good.
	tr = NewTrust(openpgp.EntityList{e}, nil, func() time.Time { return future.Add(time.Minute) })
	if _, err := tr.Check(SignatureCheck{Object: "x", Payload: payload, Signature: sig.Bytes(), Namespace: Namespace}); err != nil {
		t.Fatal(err)
	}
}
