package verify

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Namespace is the SSH signature namespace git uses for commits and tags.
const Namespace = "git"

// Commit verifies the signature of one commit: the payload is the commit encoded without
// its signature header, exactly what git signs.
func (t *Trust) Commit(c *object.Commit) (Signed, error) {
	if c.PGPSignature == "" {
		return Signed{}, &RefusedError{Commit: c.Hash.String(), Reason: ReasonUnsigned,
			Detail: fmt.Sprintf("commit %q by %s <%s> carries no signature", firstLine(c.Message), c.Committer.Name, c.Committer.Email)}
	}
	payload, err := commitPayload(c)
	if err != nil {
		return Signed{}, fmt.Errorf("commit %s: %w", c.Hash, err)
	}
	return t.Check(SignatureCheck{
		Object:    c.Hash.String(),
		Payload:   payload,
		Signature: []byte(c.PGPSignature),
		Namespace: Namespace,
		Principal: c.Committer.Email,
		When:      c.Committer.When,
	})
}

func commitPayload(c *object.Commit) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
