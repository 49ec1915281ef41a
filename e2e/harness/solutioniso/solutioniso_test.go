package solutioniso

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The example archive, read back by xorriso: the volume ID MetalK8s expects, every file of
// the tree, and images whose manifest.json references blobs present with their digests.
func TestExampleArchive(t *testing.T) {
	dir := t.TempDir()
	iso := Build(t, dir, Example("1.0.0"))
	out, err := exec.Command("xorriso", "-indev", iso, "-pvd_info", "-find", "/", "-type", "f").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Volume Id    : example-solution 1.0.0\n") {
		t.Errorf("volume ID:\n%s", out)
	}
	var inISO []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "'/") {
			inISO = append(inISO, strings.Trim(line, "'")[1:])
		}
	}

	tree := filepath.Join(dir, "tree")
	if err := WriteTree(tree, Example("1.0.0")); err != nil {
		t.Fatal(err)
	}
	var inTree []string
	filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(tree, p)
			inTree = append(inTree, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(inISO)
	slices.Sort(inTree)
	if !slices.Equal(inISO, inTree) {
		t.Errorf("files in the ISO:\n%v\nin the tree:\n%v", inISO, inTree)
	}
	for _, want := range []string{"manifest.yaml", "operator/deploy/role.yaml", "registry-config.inc.j2",
		"operator/deploy/crds/clockservers.yaml", "images/example-solution-operator/1.0.0/manifest.json", "images/base-server/1.0.0/version"} {
		if !slices.Contains(inTree, want) {
			t.Errorf("the archive lacks %s", want)
		}
	}

	for _, img := range Example("1.0.0").Images {
		imgDir := filepath.Join(tree, "images", img.Name, img.Tag)
		data, err := os.ReadFile(filepath.Join(imgDir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := json.Unmarshal(data, &m); err != nil || m.SchemaVersion != 2 || m.MediaType != mediaTypeManifest || len(m.Layers) != 2 {
			t.Fatalf("%s manifest.json: %v\n%s", img, err, data)
		}
		for _, d := range append([]descriptor{m.Config}, m.Layers...) {
			blob, err := os.ReadFile(filepath.Join(imgDir, strings.TrimPrefix(d.Digest, "sha256:")))
			sum := sha256.Sum256(blob)
			if err != nil || "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || len(blob) != d.Size {
				t.Errorf("%s blob %s: %v, %d bytes", img, d.Digest, err, len(blob))
			}
		}
	}
}
