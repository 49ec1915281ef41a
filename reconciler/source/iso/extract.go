package iso

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Extract copies the directory repo of the image (a bare repository) into dest, which
// must not exist. Reading a repository with go-git needs a real directory; the image is
// never mounted.
func (i *Image) Extract(repo, dest string) error {
	repo = strings.Trim(repo, "/")
	if repo == "" {
		repo = "."
	}
	sub, err := fs.Sub(i.FS, repo)
	if err != nil {
		return fmt.Errorf("ISO %s: %s: %w", i.Path, repo, err)
	}
	if _, err := fs.Stat(sub, "HEAD"); err != nil {
		return fmt.Errorf("ISO %s: /%s is not a bare git repository (no HEAD): %w", i.Path, repo, err)
	}
	if err := copyTree(sub, dest); err != nil {
		return fmt.Errorf("ISO %s: extract /%s: %w", i.Path, repo, err)
	}
	return nil
}

// copyTree copies directories and files of fsys into dest. go-diskfs reports Rock Ridge
// modes that os.CopyFS does not take as regular, so every non-directory is read as a file.
func copyTree(fsys fs.FS, dest string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dest, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: symbolic links are not carried", p)
		}
		src, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return fmt.Errorf("%s: %w", p, err)
		}
		return dst.Close()
	})
}
