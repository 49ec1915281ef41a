package secrets

import (
	"bytes"
	"fmt"
	"os"
	"regexp"

	"filippo.io/age"
)

// Identities are the age identities of the reconciler, read from its identity file.
type Identities struct {
	// File is the path the identities were read from, for messages.
	File string
	ids  []age.Identity
}

// parseErrorLine picks the line number out of age.ParseIdentities' error, whose detail
// is left out: it could quote part of a key.
var parseErrorLine = regexp.MustCompile(`^error at line (\d+)`)

// LoadIdentityFile reads an age identity file (AGE-SECRET-KEY-1… lines, as age-keygen
// writes them; # comments and blank lines allowed). A file that group or others may
// read or write is refused: it holds the key to every credential of the site.
func LoadIdentityFile(path string) (*Identities, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("age identity %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("age identity %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("age identity %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("age identity %s: permissions %04o are too open: the file holds a private key and must be readable by its owner only (chmod 600 %s)",
			path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("age identity %s: %w", path, err)
	}
	ids, err := age.ParseIdentities(&buf)
	if err != nil {
		where := ""
		if m := parseErrorLine.FindStringSubmatch(err.Error()); m != nil {
			where = " (line " + m[1] + ")"
		}
		return nil, fmt.Errorf("age identity %s: not an age identity file%s; expected AGE-SECRET-KEY-1… lines as age-keygen writes them", path, where)
	}
	return &Identities{File: path, ids: ids}, nil
}

// NewIdentities wraps identities already in memory (tests, callers with their own store).
func NewIdentities(ids ...age.Identity) *Identities {
	return &Identities{ids: ids}
}
