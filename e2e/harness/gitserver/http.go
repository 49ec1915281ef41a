package gitserver

import (
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// HTTP is a running smart HTTP server (git-http-backend behind Go's CGI handler).
type HTTP struct {
	Root string
	// BaseURL is http(s)://127.0.0.1:port.
	BaseURL string
	// CAFile holds the TLS server's certificate (for a client's custom CA); empty for plain HTTP.
	CAFile string
}

// URL is the URL of the bare repository Root/name.
func (h *HTTP) URL(name string) string { return h.BaseURL + "/" + name }

// HTTPOptions chooses auth and TLS.
type HTTPOptions struct {
	// Username/Password enable basic auth; Token enables bearer auth. Either accepted when
	// both are set; none means anonymous.
	Username, Password, Token string
	TLS                       bool
}

// StartHTTP serves root's repositories over smart HTTP on a free loopback port.
func StartHTTP(t testing.TB, root string, opts HTTPOptions) *HTTP {
	t.Helper()
	backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if opts.Username != "" || opts.Token != "" {
			u, p, basic := r.BasicAuth()
			ok := basic && opts.Username != "" && u == opts.Username && p == opts.Password
			if opts.Token != "" && r.Header.Get("Authorization") == "Bearer "+opts.Token {
				ok, u = true, "token"
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			user = u
		}
		b := *backend
		b.Env = append(append([]string{}, backend.Env...), "REMOTE_USER="+user)
		b.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if opts.TLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	out := &HTTP{Root: root, BaseURL: srv.URL}
	if opts.TLS {
		out.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(out.CAFile, pemBytes, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
