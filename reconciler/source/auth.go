package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/metalk8s/mk8s/reconciler/source/config"
)

// UnknownHostError is a remote whose host key is not pinned in known_hosts.
type UnknownHostError struct {
	Host        string
	Fingerprint string
	KeyType     string
	KnownHosts  string
	// Mismatch is true when the host is known with other keys (a changed host key).
	Mismatch bool
}

func (e *UnknownHostError) Error() string {
	if e.Mismatch {
		return fmt.Sprintf("host key of %s does not match %s: the server offered %s %s; refusing to connect (possible man-in-the-middle)",
			e.Host, e.KnownHosts, e.KeyType, e.Fingerprint)
	}
	return fmt.Sprintf("host %s is unknown: its %s key %s is not in %s; refusing to connect (add the host's key to known_hosts after checking the fingerprint)",
		e.Host, e.KeyType, e.Fingerprint, e.KnownHosts)
}

// remoteAuth builds the transport options for a network source.
type remoteAuth struct {
	auth     transport.AuthMethod
	caBundle []byte
}

func newRemoteAuth(cfg *config.Config) (remoteAuth, error) {
	var ra remoteAuth
	switch config.URLKind(cfg.Source.URL) {
	case config.KindSSH:
		s := cfg.Source.SSH
		if s == nil {
			return ra, errors.New("an SSH source needs source.ssh.identityFile and source.ssh.knownHostsFile")
		}
		ep, err := transport.NewEndpoint(cfg.Source.URL)
		if err != nil {
			return ra, fmt.Errorf("source URL: %w", err)
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		pk, err := gitssh.NewPublicKeysFromFile(user, s.IdentityFile, "")
		if err != nil {
			return ra, fmt.Errorf("SSH identity %s: %w", s.IdentityFile, err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		cb, algos, err := pinnedHostKeys(s.KnownHostsFile, net.JoinHostPort(ep.Host, strconv.Itoa(port)))
		if err != nil {
			return ra, err
		}
		pk.HostKeyCallback = cb
		pk.HostKeyAlgorithms = algos
		ra.auth = pk
	case config.KindHTTPS:
		h := cfg.Source.HTTPS
		if h == nil {
			return ra, nil
		}
		switch {
		case h.TokenFile != "":
			tok, err := readSecret(h.TokenFile)
			if err != nil {
				return ra, err
			}
			ra.auth = &githttp.TokenAuth{Token: tok}
		case h.Username != "":
			pw, err := readSecret(h.PasswordFile)
			if err != nil {
				return ra, err
			}
			ra.auth = &githttp.BasicAuth{Username: h.Username, Password: pw}
		}
		if h.CAFile != "" {
			ca, err := os.ReadFile(h.CAFile)
			if err != nil {
				return ra, fmt.Errorf("CA file: %w", err)
			}
			ra.caBundle = ca
		}
	}
	return ra, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// pinnedHostKeys returns a host key callback that accepts only the keys of
// knownHostsFile (x/crypto/ssh/knownhosts: hashed names, @cert-authority and @revoked),
// and the host key algorithms to ask for: those of the pinned keys first, so that a
// server with several keys offers one we pinned.
func pinnedHostKeys(knownHostsFile, hostport string) (ssh.HostKeyCallback, []string, error) {
	check, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts %s: %w", knownHostsFile, err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			return &UnknownHostError{Host: hostname, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(),
				KnownHosts: knownHostsFile, Mismatch: len(ke.Want) > 0}
		}
		return err
	}
	data, err := os.ReadFile(knownHostsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	var algos []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		_, _, key, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err != nil || key == nil {
			continue
		}
		// Only the keys pinned for this host count: another host's key type offered
		// first would make the server present a key that is not pinned here (a false
		// mismatch), or leave no common algorithm at all. The callback is the oracle:
		// it matches hashed names and [host]:port entries as the check will.
		if check(hostport, &net.TCPAddr{}, key) != nil {
			continue
		}
		for _, a := range algorithmsFor(key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return cb, algos, nil
}

// algorithmsFor maps a key type to the host key algorithms that use it.
func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{keyType}
	}
}
