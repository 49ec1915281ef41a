package config

import (
	"regexp"
	"strings"
)

// Kind is the transport a source URL needs.
type Kind string

const (
	KindSSH   Kind = "ssh"
	KindHTTPS Kind = "https"
	KindHTTP  Kind = "http"
	KindGit   Kind = "git"
	KindLocal Kind = "local"
	KindISO   Kind = "iso"
)

// scpLike is git's user@host:path form (no scheme, a colon before any slash); the path
// may be absolute (git@host:/srv/git/site.git).
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?[^:/]+:.`)

// URLKind classifies a source URL.
func URLKind(u string) Kind {
	switch {
	case strings.HasPrefix(u, "ssh://"), strings.HasPrefix(u, "git+ssh://"):
		return KindSSH
	case strings.HasPrefix(u, "https://"):
		return KindHTTPS
	case strings.HasPrefix(u, "http://"):
		return KindHTTP
	case strings.HasPrefix(u, "git://"):
		return KindGit
	case strings.HasPrefix(u, "iso://"):
		return KindISO
	case strings.HasPrefix(u, "file://"), strings.HasPrefix(u, "/"), strings.HasPrefix(u, "."):
		return KindLocal
	case scpLike.MatchString(u):
		return KindSSH
	}
	return KindLocal
}
