package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// runCLI runs the root command as main does and returns stdout, stderr and the exit code.
func runValidateCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return stdout.String(), stderr.String(), code
}

func TestValidateExitCodes(t *testing.T) {
	out, _, code := runValidateCLI(t, "validate", "../../schema/testdata/valid/full")
	if code != 0 {
		t.Fatalf("valid site: exit %d, output:\n%s", code, out)
	}
	if !strings.Contains(out, "valid (0 errors, 0 warnings)") {
		t.Errorf("summary missing:\n%s", out)
	}

	// Warnings do not change the exit code.
	out, _, code = runValidateCLI(t, "validate", "../../schema/testdata/valid/clear-text-secrets")
	if code != 0 || !strings.Contains(out, "warning: spec.notification.config.global.slack_api_url: credential in clear text") {
		t.Errorf("site with warnings: exit %d, output:\n%s", code, out)
	}

	out, _, code = runValidateCLI(t, "validate", "../../schema/testdata/invalid/many-errors")
	if code != 1 {
		t.Fatalf("invalid site: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 {
		t.Fatalf("want 7 diagnostics and a summary, got:\n%s", out)
	}
	if lines[4] != `nodes/node-2.yaml:14: spec.taints[0].effect: "Never" is not one of NoSchedule, PreferNoSchedule, NoExecute` {
		t.Errorf("line 5 = %q", lines[4])
	}
	if !strings.HasSuffix(lines[7], "invalid (7 errors, 0 warnings)") {
		t.Errorf("summary = %q", lines[7])
	}

	if _, _, code = runValidateCLI(t, "validate", "/nonexistent/site"); code != 1 {
		t.Errorf("missing directory: exit %d, want 1", code)
	}
	if _, _, code = runValidateCLI(t, "validate"); code != 1 {
		t.Errorf("no argument: exit %d, want 1", code)
	}
}

func TestValidateJSONAndYAML(t *testing.T) {
	type result struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			File, Field, Message, Allowed, Severity string
			Line                                    int
		} `json:"errors"`
		Warnings []json.RawMessage `json:"warnings"`
	}
	out, _, code := runValidateCLI(t, "validate", "-o", "json", "../../schema/testdata/invalid/node-taint-effect")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if r.Valid || len(r.Errors) != 1 || r.Warnings == nil || len(r.Warnings) != 0 {
		t.Fatalf("result = %+v", r)
	}
	e := r.Errors[0]
	if e.File != "nodes/node-2.yaml" || e.Line != 7 || e.Field != "spec.taints[0].effect" || e.Severity != "error" ||
		e.Message != `"NoSchedul" is not one of NoSchedule, PreferNoSchedule, NoExecute` {
		t.Errorf("error = %+v", e)
	}

	out, _, code = runValidateCLI(t, "validate", "-o", "yaml", "../../schema/testdata/valid/clear-text-secrets")
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	var ry struct {
		Valid    bool             `json:"valid"`
		Errors   []any            `json:"errors"`
		Warnings []map[string]any `json:"warnings"`
	}
	if err := yaml.Unmarshal([]byte(out), &ry); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	if !ry.Valid || len(ry.Errors) != 0 || len(ry.Warnings) != 5 || ry.Warnings[0]["severity"] != "warning" {
		t.Errorf("result = %+v", ry)
	}
}

func TestValidateHelp(t *testing.T) {
	out, _, code := runValidateCLI(t, "validate", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "mk8s validate ./site -o json") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// A site whose documents render the same object twice is invalid for validate, as it
// is for reconcile: CI must not call valid a site the reconciler refuses.
func TestValidateRefusesDuplicateRenderedObjects(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../site-example")); err != nil {
		t.Fatal(err)
	}
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: metalk8s-monitoring\n"
	if err := os.WriteFile(filepath.Join(dir, "manifests", "ns.yaml"), []byte(ns), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runValidateCLI(t, "validate", dir)
	want := `manifests/ns.yaml:4: metadata.name: Namespace "metalk8s-monitoring" is also rendered from the namespace of the metalk8s-monitoring service configurations`
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d, output:\n%s\nwant exit 1 and %q", code, out, want)
	}
}
