package schema

import "testing"

// TestValidNoProxy: the no_proxy forms proxies accept, IPv6 ones in brackets included.
func TestValidNoProxy(t *testing.T) {
	for s, want := range map[string]bool{
		"localhost": true, ".example.com": true, "*.svc": true, "*": true, "example.com:8080": true,
		"10.0.0.1": true, "10.0.0.0/8": true, "::1": true, "fd00::/8": true,
		"[::1]": true, "[fd00::1]:8080": true,
		"[::1": false, "[::1]:": false, "[::1]:0": false, "[::1]x": false, "[10.0.0.1]": false,
		"[example.com]": false, "http://example.com/": false, "": false, "example.com:99999": false,
	} {
		if got := validNoProxy(s); got != want {
			t.Errorf("validNoProxy(%q) = %v, want %v", s, got, want)
		}
	}
}
