package solutioniso

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// Build writes the archive s describes to dir/<name>-<version>.iso with xorriso and
// returns its path. The tree is staged in a temporary directory of t.
func Build(t testing.TB, dir string, s Spec) string {
	t.Helper()
	return BuildAt(t, filepath.Join(dir, fmt.Sprintf("%s-%s.iso", s.Name, s.Version)), s)
}

// BuildAt is Build to a given path.
func BuildAt(t testing.TB, path string, s Spec) string {
	t.Helper()
	if err := Write(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

// Write builds the archive s describes at path with xorriso, outside a test (the
// sandbox of the demo); the tree is staged in a temporary directory, removed after.
func Write(path string, s Spec) error {
	stage, err := os.MkdirTemp("", "mk8s-solutioniso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	root := filepath.Join(stage, "root")
	if err := WriteTree(root, s); err != nil {
		return fmt.Errorf("solution archive tree: %w", err)
	}
	volumeID := s.VolumeID
	if volumeID == "" {
		volumeID = s.Name + " " + s.Version
	}
	args := []string{"-as", "mkisofs", "-quiet"}
	if s.NoRockRidge {
		args = append(args, "--norock") // xorriso writes Rock Ridge unless told not to
	} else {
		args = append(args, "-R")
	}
	if !s.NoJoliet {
		args = append(args, "-J", "-joliet-long")
	}
	args = append(args, "-l", "-iso-level", "3", "-uid", "0", "-gid", "0",
		"-input-charset", "utf-8", "-output-charset", "utf-8", "-V", volumeID, "-o", path, root)
	if out, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("xorriso %v: %w\n%s", args, err, out)
	}
	return nil
}

// WriteTree writes the archive's file tree under root (which must not exist).
func WriteTree(root string, s Spec) error {
	write := func(rel, content string) error {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(content), 0o644)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if !s.OmitManifest {
		if err := write("manifest.yaml", s.Manifest()); err != nil {
			return err
		}
	}
	images := filepath.Join(root, "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		return err
	}
	for _, img := range s.Images {
		if slices.Contains(s.OmitImages, img.String()) {
			continue
		}
		if err := writeImage(filepath.Join(images, img.Name, img.Tag), img); err != nil {
			return fmt.Errorf("image %s: %w", img, err)
		}
	}
	if !s.OmitRole {
		role := s.RoleYAML
		if role == "" {
			role = ExampleRoleYAML(s.Name)
		}
		if err := write("operator/deploy/role.yaml", role); err != nil {
			return err
		}
	}
	for i, c := range s.CRDs {
		name := c.Plural + ".yaml"
		if c.Raw != "" {
			name = fmt.Sprintf("crd-%d.yaml", i)
		}
		if err := write("operator/deploy/crds/"+name, c.yaml()); err != nil {
			return err
		}
	}
	if !s.OmitRegistryConfig {
		name, config := s.RegistryConfigName, s.RegistryConfig
		if name == "" {
			name = "registry-config.inc.j2"
		}
		if config == "" {
			var err error
			if config, err = registryConfig(images); err != nil {
				return err
			}
		}
		if err := write(name, config); err != nil {
			return err
		}
	}
	for _, rel := range sortedKeys(s.Files) {
		if err := write(rel, s.Files[rel]); err != nil {
			return err
		}
	}
	return nil
}

// Truncate cuts the image at path to size bytes, as an interrupted copy leaves it.
func Truncate(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

var lbaLine = regexp.MustCompile(`File data lba:\s*\d+\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,`)

// Corrupt overwrites the content of file (a path inside the image, "/manifest.yaml") in
// the image at path with with, from the file's first byte; the directory records stay
// intact, as after a bad copy of a sector. xorriso reports where the file's data is.
func Corrupt(t testing.TB, path, file string, with []byte) {
	t.Helper()
	out, err := exec.Command("xorriso", "-indev", path, "-find", file, "-exec", "report_lba", "--").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso report_lba %s: %v\n%s", file, err, out)
	}
	m := lbaLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("xorriso did not report where %s is in %s:\n%s", file, path, out)
	}
	lba, _ := strconv.ParseInt(string(m[1]), 10, 64)
	size, _ := strconv.ParseInt(string(m[2]), 10, 64)
	if int64(len(with)) > size {
		t.Fatalf("Corrupt: %d bytes do not fit in %s (%d bytes)", len(with), file, size)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(with, lba*2048); err != nil {
		t.Fatal(err)
	}
}

// Garbage is n bytes that are neither YAML nor JSON, for Corrupt.
func Garbage(n int) []byte { return bytes.Repeat([]byte{0xff, 0x00, '{', ':'}, n/4+1)[:n] }
