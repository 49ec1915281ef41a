package verify

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an OpenSSH allowed_signers file (ssh-keygen(1), "ALLOWED
// SIGNERS"), the file git's gpg.ssh.allowedSignersFile points to.
type AllowedSigner struct {
	// Principals are patterns (with * and ?, ! negates) matched against the committer email.
	Principals []string
	// CertAuthority means Key is a CA: signatures by certificates it issued are accepted.
	CertAuthority bool
	// Namespaces restricts the signature namespaces (patterns); nil allows any.
	Namespaces []string
	// ValidAfter and ValidBefore bound the commit time; zero means unbounded.
	ValidAfter, ValidBefore time.Time
	Key                     ssh.PublicKey
	// File and Line locate the entry, for messages.
	File string
	Line int
}

// ParseAllowedSigners reads an allowed_signers file. file names it in errors.
func ParseAllowedSigners(data []byte, file string) ([]AllowedSigner, error) {
	var out []AllowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		s.File, s.Line = file, n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

func parseAllowedSignerLine(line string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := splitFirstField(line)
	if err != nil {
		return s, err
	}
	s.Principals = strings.Split(principals, ",")
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("principals %q: key: %w", principals, err)
	}
	s.Key = key
	for _, opt := range options {
		name, value, hasValue := strings.Cut(opt, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "cert-authority":
			s.CertAuthority = true
		case "namespaces":
			if !hasValue {
				return s, fmt.Errorf("option namespaces needs a value")
			}
			s.Namespaces = strings.Split(value, ",")
		case "valid-after", "valid-before":
			t, err := parseSSHTime(value)
			if err != nil {
				return s, fmt.Errorf("option %s: %w", name, err)
			}
			if strings.EqualFold(name, "valid-after") {
				s.ValidAfter = t
			} else {
				s.ValidBefore = t
			}
		default:
			return s, fmt.Errorf("unknown option %q; allowed: cert-authority, namespaces, valid-after, valid-before", name)
		}
	}
	return s, nil
}

// splitFirstField splits off the principals field, which may be double-quoted.
func splitFirstField(line string) (string, string, error) {
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"`)
		if end < 0 {
			return "", "", fmt.Errorf("unterminated quote in principals")
		}
		return line[1 : end+1], strings.TrimSpace(line[end+2:]), nil
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return "", "", fmt.Errorf("missing key after principals")
	}
	return line[:i], strings.TrimSpace(line[i:]), nil
}

// parseSSHTime reads the YYYYMMDD[HHMM[SS]][Z] form ssh-keygen accepts; without Z it is
// local time, like ssh-keygen.
func parseSSHTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		loc = time.UTC
		v = v[:len(v)-1]
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", v, err)
	}
	return t, nil
}

// matchPatternList implements OpenSSH's match_pattern_list: a comma list of patterns,
// any negated pattern that matches refuses, otherwise any positive match accepts.
func matchPatternList(s string, patterns []string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		ok, err := path.Match(p, s)
		if err != nil || !ok {
			continue
		}
		if neg {
			return false
		}
		matched = true
	}
	return matched
}

// keyMatches reports whether pub is this entry's key, or a user certificate signed by it
// when the entry is a cert-authority.
func (s AllowedSigner) keyMatches(pub ssh.PublicKey) bool {
	if s.CertAuthority {
		cert, ok := pub.(*ssh.Certificate)
		return ok && cert.CertType == ssh.UserCert && bytes.Equal(cert.SignatureKey.Marshal(), s.Key.Marshal())
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return false
	}
	return bytes.Equal(pub.Marshal(), s.Key.Marshal())
}
