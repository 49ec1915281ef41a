package iso

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// IntegrityError is an image refused before anything in it is used.
type IntegrityError struct {
	Image string
	// File is the file inside the image concerned.
	File   string
	Reason string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("ISO %s refused: %s: %s", e.Image, e.File, e.Reason)
}

// Manifest is the checked content of an image.
type Manifest struct {
	// Files maps each covered path to its SHA-256 (hex).
	Files map[string]string `json:"files"`
	// Signed says who signed the manifest.
	Signed verify.Signed `json:"signed"`
}

// Paths returns the covered paths, sorted.
func (m *Manifest) Paths() []string {
	out := make([]string, 0, len(m.Files))
	for p := range m.Files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Check verifies the manifest's signature by a trusted key, then that the manifest covers
// every file of the image, each with the right digest, and nothing else.
func (i *Image) Check(trust *verify.Trust) (*Manifest, error) {
	refuse := func(file, format string, args ...any) error {
		return &IntegrityError{Image: i.Path, File: file, Reason: fmt.Sprintf(format, args...)}
	}
	manifest, err := fs.ReadFile(i.FS, ManifestName)
	if err != nil {
		return nil, refuse(ManifestName, "missing: an importable image carries a signed manifest (%v)", err)
	}
	sig, err := fs.ReadFile(i.FS, SignatureName)
	if err != nil {
		return nil, refuse(SignatureName, "missing: the manifest must carry a detached signature (%v)", err)
	}
	signed, err := trust.Check(verify.SignatureCheck{
		Object: ManifestName, Payload: manifest, Signature: sig, Namespace: Namespace, When: time.Now(),
	})
	if err != nil {
		return nil, refuse(SignatureName, "%v", err)
	}
	m := &Manifest{Files: map[string]string{}, Signed: signed}
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(name, " "), "*"), "./")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || !fs.ValidPath(name) {
			return nil, refuse(ManifestName, "line %d is not `<sha256>  <path>`", n)
		}
		m.Files[name] = strings.ToLower(sum)
	}
	seen := map[string]bool{}
	err = fs.WalkDir(i.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || p == ManifestName || p == SignatureName {
			return nil
		}
		if !d.Type().IsRegular() {
			return refuse(p, "not a regular file")
		}
		want, ok := m.Files[p]
		if !ok {
			return refuse(p, "not covered by %s", ManifestName)
		}
		got, err := digest(i.FS, p)
		if err != nil {
			return err
		}
		if got != want {
			return refuse(p, "SHA-256 is %s, the manifest says %s", got, want)
		}
		seen[p] = true
		return nil
	})
	if err != nil {
		var ie *IntegrityError
		if errors.As(err, &ie) {
			return nil, err
		}
		return nil, fmt.Errorf("ISO %s: %w", i.Path, err)
	}
	for _, p := range m.Paths() {
		if !seen[p] {
			return nil, refuse(p, "listed in %s but absent from the image", ManifestName)
		}
	}
	return m, nil
}

func digest(fsys fs.FS, p string) (string, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
