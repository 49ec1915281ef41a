package solution

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// Media types of the image manifests the registry serves (static-container-registry
// serves Docker v2 schema 2 and OCI image manifests, the formats `skopeo copy --format
// v2s2` and `--format oci` write).
const (
	mediaTypeDockerV2S2 = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeOCI        = "application/vnd.oci.image.manifest.v1+json"
)

var sha256Digest = regexp.MustCompile(`^sha256:([a-f0-9]{64})$`)

// imageManifest is the part of an image's manifest.json the registry relies on.
type imageManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type descriptor struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// checkImages checks that every image of spec.images is an image the registry can serve:
// images/<name>/<tag>/manifest.json (skopeo's dir: layout) and every blob it references,
// named by its hex digest, with the size and SHA-256 it declares.
func checkImages(ctx context.Context, r refusal, t *tree, images []string) error {
	for _, ref := range images {
		name, tag, _ := strings.Cut(ref, ":")
		dir := path.Join("images", name, tag)
		if !t.isDir(dir) {
			return r.file(dir+"/", "missing: spec.images lists %s but the archive does not carry it", ref)
		}
		file := path.Join(dir, "manifest.json")
		if !t.isFile(file) {
			return r.file(file, "missing: the image %s has no manifest.json (write it with skopeo copy --format v2s2 ... dir:%s)", ref, dir)
		}
		data, err := fs.ReadFile(t.fsys, file)
		if err != nil {
			return r.wrap(file, err, "cannot be read")
		}
		var m imageManifest
		if err := json.Unmarshal(data, &m); err != nil {
			return r.wrap(file, err, "not a valid image manifest")
		}
		if m.SchemaVersion != 2 {
			return r.field(file, 0, "", "schemaVersion", "%d is not served by the registry; expected 2", m.SchemaVersion)
		}
		if m.MediaType != mediaTypeDockerV2S2 && m.MediaType != mediaTypeOCI {
			return r.field(file, 0, "", "mediaType", "%q is not served by the registry; expected %s or %s", m.MediaType, mediaTypeDockerV2S2, mediaTypeOCI)
		}
		if m.Config == nil {
			return r.field(file, 0, "", "config", "missing: an image manifest references its config blob")
		}
		blobs := append([]descriptor{*m.Config}, m.Layers...)
		for i, b := range blobs {
			field := "config.digest"
			if i > 0 {
				field = fmt.Sprintf("layers[%d].digest", i-1)
			}
			if err := checkBlob(ctx, r, t, dir, file, field, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlob checks one blob an image manifest references.
func checkBlob(ctx context.Context, r refusal, t *tree, dir, manifestFile, field string, b descriptor) error {
	sub := sha256Digest.FindStringSubmatch(b.Digest)
	if sub == nil {
		return r.field(manifestFile, 0, "", field, "%q is not a sha256:<hex> digest", b.Digest)
	}
	blob := path.Join(dir, sub[1])
	size, ok := t.size(blob)
	if !ok {
		return r.field(manifestFile, 0, "", field, "the blob %s is missing from the archive", blob)
	}
	if size != b.Size {
		return r.file(blob, "damaged: %d bytes, manifest.json says %d", size, b.Size)
	}
	got, err := hashFile(ctx, t.fsys, blob)
	if err != nil {
		return r.wrap(blob, err, "cannot be read")
	}
	if got != sub[1] {
		return r.file(blob, "damaged: its SHA-256 is %s, manifest.json says %s", got, sub[1])
	}
	return nil
}

// hashFile returns the hex SHA-256 of a file of fsys.
func hashFile(ctx context.Context, fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if err := copyContext(ctx, h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyContext copies src to dst, checking ctx between chunks: hashing a multi-GB image
// must stop when the reconcile is cancelled.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) error {
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
