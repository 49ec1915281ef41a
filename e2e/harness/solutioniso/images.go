package solutioniso

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	mediaTypeManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeConfig   = "application/vnd.docker.container.image.v1+json"
	mediaTypeLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	// dirVersion is the version file of skopeo's dir: transport.
	dirVersion = "Directory Transport Version: 1.1\n"
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
	Digest    string `json:"digest"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// writeImage writes img in skopeo's dir: layout under dir: a base layer shared by every
// image (as a real base image would be), a layer with the image's own program, the
// config and a v2s2 manifest.json, blobs named by their hex digest.
func writeImage(dir string, img Image) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base, baseDiff, err := layer(map[string]string{"etc/os-release": "ID=example\nVERSION_ID=1\n"})
	if err != nil {
		return err
	}
	prog := "usr/local/bin/" + img.Name
	own, ownDiff, err := layer(map[string]string{prog: fmt.Sprintf("#!/bin/sh\necho %s %s\n", img.Name, img.Tag)})
	if err != nil {
		return err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-01T00:00:00Z",
		"config":       map[string]any{"Entrypoint": []string{"/" + prog}, "Labels": map[string]string{"org.opencontainers.image.version": img.Tag}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{baseDiff, ownDiff}},
		"history":      []map[string]string{{"created": "2024-01-01T00:00:00Z", "created_by": "solutioniso"}},
	})
	if err != nil {
		return err
	}
	m := manifest{SchemaVersion: 2, MediaType: mediaTypeManifest}
	var blobs [][]byte
	m.Config, blobs = descriptor{MediaType: mediaTypeConfig, Size: len(config), Digest: digestOf(config)}, append(blobs, config)
	for _, l := range [][]byte{base, own} {
		m.Layers = append(m.Layers, descriptor{MediaType: mediaTypeLayer, Size: len(l), Digest: digestOf(l)})
		blobs = append(blobs, l)
	}
	for _, b := range blobs {
		if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(digestOf(b), "sha256:")), b, 0o644); err != nil {
			return err
		}
	}
	mj, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mj, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "version"), []byte(dirVersion), 0o644)
}

// layer is a gzipped tar of files, reproducible (fixed times, no gzip name), and the
// digest of the uncompressed tar (its diff ID).
func layer(files map[string]string) ([]byte, string, error) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, name := range sortedKeys(files) {
		mode := int64(0o644)
		if strings.Contains(name, "/bin/") {
			mode = 0o755
		}
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(files[name])), ModTime: time.Unix(1704067200, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tarball.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), digestOf(tarball.Bytes()), nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// registryConfig writes the nginx configuration static-container-registry generates for
// the images under root, with --omit-constants --name-prefix '{{ repository }}'
// --server-root '{{ registry_root }}': MetalK8s renders the two variables when it
// imports the archive.
func registryConfig(root string) (string, error) {
	images := map[string][]string{}
	names, err := os.ReadDir(root)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		tags, err := os.ReadDir(filepath.Join(root, n.Name()))
		if err != nil {
			return "", err
		}
		for _, t := range tags {
			if _, err := os.Stat(filepath.Join(root, n.Name(), t.Name(), "manifest.json")); err == nil {
				images[n.Name()] = append(images[n.Name()], t.Name())
			}
		}
	}
	var b strings.Builder
	for _, name := range sortedKeys(images) {
		tags := images[name]
		sort.Strings(tags)
		// As Python's json.dumps writes it.
		quoted := make([]string, len(tags))
		for i, tag := range tags {
			quoted[i] = strconv.Quote(tag)
		}
		list := fmt.Sprintf(`{"name": %q, "tags": [%s]}`, name, strings.Join(quoted, ", "))
		fmt.Fprintf(&b, `
location = /v2/{{ repository }}/%s/tags/list {
    types { } default_type "application/json";
    return 200 '%s';
}
`, name, list)
		seen := map[string]bool{}
		for _, tag := range tags {
			mj, err := os.ReadFile(filepath.Join(root, name, tag, "manifest.json"))
			if err != nil {
				return "", err
			}
			digest := digestOf(mj)
			refs := []string{tag}
			if !seen[digest] {
				refs = append(refs, digest)
			}
			for _, ref := range refs {
				fmt.Fprintf(&b, `
location = "/v2/{{ repository }}/%s/manifests/%s" {
    alias {{ registry_root }}/%s/%s/;
    types { } default_type "%s";
    add_header 'Docker-Content-Digest' '%s';
    try_files manifest.json =404;
    error_page 404 @404_tag;
}
`, name, ref, name, tag, mediaTypeManifest, digest)
			}
			if seen[digest] {
				fmt.Fprintf(&b, "\n# Digest for \"%s:%s\" already served\n", name, tag)
			}
			seen[digest] = true
		}
		paths := make([]string, len(tags))
		for i, tag := range tags {
			paths[i] = tag + "/$1"
		}
		fmt.Fprintf(&b, `
location ~ "/v2/{{ repository }}/%s/blobs/sha256:([a-f0-9]{64})" {
    alias {{ registry_root }}/%s/;
    try_files %s =404;
}
`, name, name, strings.Join(paths, " "))
	}
	return b.String(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
