package seed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names of the trust files written next to the reconciler configuration.
const (
	TrustedOpenPGPFile = "trusted-openpgp.asc"
	AllowedSignersFile = "allowed_signers"
)

// reconcilerFiles returns the paths ReconcilerConfig makes Seed write: the configuration
// and the trust file of the signer's format.
func reconcilerFiles(configPath, format string) []string {
	trust := AllowedSignersFile
	if format == "openpgp" {
		trust = TrustedOpenPGPFile
	}
	return []string{configPath, filepath.Join(filepath.Dir(configPath), trust)}
}

// checkReconcilerTarget refuses to overwrite an existing configuration or trust file
// without force.
func checkReconcilerTarget(configPath, format string, force bool) error {
	for _, p := range reconcilerFiles(configPath, format) {
		if _, err := os.Stat(p); err == nil && !force {
			return fmt.Errorf("--reconciler-config: %s exists; nothing changed (--force replaces it)", p)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--reconciler-config: %w", err)
		}
	}
	return nil
}

// writeReconcilerConfig writes the reconciler's own configuration (the format of
// reconciler/source/config): follow branch of sourceURL, trusting exactly the key that
// signed the first commit. The trust file sits next to the configuration, named
// relatively, so the pair can be moved together.
func writeReconcilerConfig(configPath, sourceURL, branch, principal string, s Signer) ([]string, error) {
	files := reconcilerFiles(configPath, s.Format)
	var trust, trustYAML string
	switch s.Format {
	case "openpgp":
		trust = s.PublicKey
		trustYAML = "  # Armored OpenPGP public keys allowed to sign the site's commits.\n" +
			"  openpgpKeyFiles:\n    - " + quote(filepath.Base(files[1])) + "\n"
	default:
		// allowed_signers: principal, the git namespace only, the key.
		trust = fmt.Sprintf("%s namespaces=\"git\" %s\n", principal, s.PublicKey)
		trustYAML = "  # OpenSSH allowed_signers: the keys allowed to sign the site's commits.\n" +
			"  allowedSignersFile: " + quote(filepath.Base(files[1])) + "\n"
	}
	config := strings.Join([]string{
		"# Configuration of the mk8s reconciler, written by mk8s seed. Trust lives here, on the",
		"# bootstrap node, never in the site repository. Relative paths are resolved against",
		"# the directory of this file.",
		"source:",
		"  # Where the site repository is: a local bare repository, ssh://, https://, git://",
		"  # or iso:///file.iso#/repo.git.",
		"  url: " + quote(sourceURL),
		"  ref: " + quote(branch),
		"trust:",
		strings.TrimSuffix(trustYAML, "\n"),
		"  # Verify every new commit, not only the head.",
		"  mode: range",
		"pollInterval: 1m",
		"stateDir: /var/lib/mk8s/source",
		"",
	}, "\n")
	if err := os.MkdirAll(filepath.Dir(configPath), 0o755); err != nil {
		return nil, fmt.Errorf("--reconciler-config: %w", err)
	}
	if err := writeFileAtomic(files[1], []byte(trust), 0o644); err != nil {
		return nil, fmt.Errorf("--reconciler-config: %w", err)
	}
	if err := writeFileAtomic(files[0], []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("--reconciler-config: %w", err)
	}
	return files, nil
}

// writeFileAtomic writes a temporary file next to path, syncs it and renames it over
// path: a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
