package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

const siteExample = "../../site-example"

func writeKubeconfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A kubeconfig that cannot be used makes plan and reconcile exit 1 with an error that
// says what is wrong with it, not client-go's "no configuration has been provided, try
// setting KUBERNETES_MASTER" nor a discovery error under the name of some object.
func TestPipelineKubeconfigErrors(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("HOME", t.TempDir())
	cluster := "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\n"
	users := "users:\n- name: u\n  user:\n    token: t\n"
	for _, tc := range []struct {
		name, kubeconfig, want string
	}{
		{"no current-context", "apiVersion: v1\nkind: Config\n" + cluster + users +
			"contexts:\n- name: one\n  context: {cluster: c, user: u}\n- name: two\n  context: {cluster: c, user: u}\n",
			"sets no current-context (its contexts: one, two)"},
		{"context names an undefined cluster", "apiVersion: v1\nkind: Config\ncurrent-context: one\n" + users +
			"contexts:\n- name: one\n  context: {cluster: gone, user: u}\n",
			`context "one" names cluster "gone", which it does not define`},
		{"current-context not defined", "apiVersion: v1\nkind: Config\ncurrent-context: three\n" + cluster + users +
			"contexts:\n- name: one\n  context: {cluster: c, user: u}\n- name: two\n  context: {cluster: c, user: u}\n",
			`current-context "three" is not one of its contexts (one, two)`},
		{"empty", "apiVersion: v1\nkind: Config\n", "defines no cluster and no context"},
		{"no kubeconfig at all", "", "no kubeconfig found: pass --kubeconfig FILE or set KUBECONFIG"},
		{"unreachable server", "apiVersion: v1\nkind: Config\ncurrent-context: one\n" + cluster + users +
			"contexts:\n- name: one\n  context: {cluster: c, user: u}\n",
			"cannot use the cluster at https://127.0.0.1:1 "},
	} {
		for _, cmd := range [][]string{{"plan", "--exit-code"}, {"reconcile", "--once"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				args := append(cmd, "--dir", siteExample, "--objects-only")
				if tc.kubeconfig != "" {
					args = append(args, "--kubeconfig", writeKubeconfig(t, tc.kubeconfig))
				}
				_, _, err := runMk8s(args...)
				if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("exit %d, error %v; want exit 1 and %q", exitCodeOf(err), err, tc.want)
				}
			})
		}
	}
}

// Credentials the API server refuses are reported as such (client-go's discovery says
// "unknown"), and nothing is written.
func TestPipelineRefusedCredentials(t *testing.T) {
	env := kubeenv.StartT(t)
	b, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	certs := regexp.MustCompile(`(?m)^(\s+)client-certificate-data: \S+\n\s+client-key-data: \S+$`)
	if !certs.Match(b) {
		t.Fatalf("unexpected kubeconfig shape:\n%s", b)
	}
	bad := writeKubeconfig(t, certs.ReplaceAllString(string(b), "${1}token: not-a-token"))
	for _, cmd := range [][]string{{"plan", "--exit-code"}, {"reconcile", "--once"}} {
		_, _, err := runMk8s(append(cmd, "--dir", siteExample, "--objects-only", "--kubeconfig", bad)...)
		if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), "cannot use the cluster at ") || !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("%s: exit %d, error %v", cmd[0], exitCodeOf(err), err)
		}
	}
	// Nothing was written: a plan with the right credentials still creates everything.
	out, _, err := runMk8s("plan", "--dir", siteExample, "--objects-only", "--kubeconfig", env.Kubeconfig)
	if err != nil || !strings.Contains(out, " 0 unchanged, 0 deleted") {
		t.Errorf("plan after the refused runs: %v\n%s", err, out)
	}
}
