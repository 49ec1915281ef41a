package transport

import (
	"os/exec"
	"testing"
)

// TestQuoteRoundTrip feeds hostile words through a real /bin/sh and checks they come back
// byte for byte, as one argument each.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{
		"", "plain", "/etc/kubernetes/manifests/etcd.yaml", "with space", "it's",
		"$(touch /tmp/pwned)", "`id`", "a;b&&c|d", "\"dq\"", "back\\slash", "new\nline",
		"*", "~root", "-n", "tab\there", "'", "''", "!bang", "{a,b}", "x=$HOME",
		"ünïcödé", "#comment", "glob?[a]",
	}
	for _, w := range words {
		out, err := exec.Command("/bin/sh", "-c", "printf '%s|' "+Join(w, "end")).Output()
		if err != nil {
			t.Fatalf("sh with %q: %v", w, err)
		}
		if got, want := string(out), w+"|end|"; got != want {
			t.Errorf("Quote(%q) = %s: shell saw %q, want %q", w, Quote(w), got, want)
		}
	}
}

func TestQuoteLeavesSafeWordsBare(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/crictl.yaml": "/etc/crictl.yaml",
		"root:root":        "root:root",
		"a b":              "'a b'",
		"it's":             `'it'\''s'`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
