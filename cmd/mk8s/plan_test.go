package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// A multi-line note stays in its table row, and a diff holding ``` stays inside its
// code block.
func TestPlanMarkdownKeepsRowsAndCodeBlocks(t *testing.T) {
	res := reconciler.Result{
		Hosts: change.Set{{Host: "worker-1", Subject: "Unit kubelet.service", Action: change.Failed,
			Message: "restart: exit 1\nJob for kubelet.service failed | see journalctl\n"}},
		Objects: change.Set{{Subject: "ConfigMap/default/readme", Action: change.Configured,
			Diff: "--- live/ConfigMap/default/readme\n+++ desired/ConfigMap/default/readme\n@@ -1,3 +1,3 @@\n data: |\n   ```\n-  old\n+  new\n"}},
	}
	var b bytes.Buffer
	if err := printPlanMarkdown(&b, res, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if !strings.Contains(md, "| failed | `worker-1 Unit kubelet.service` | restart: exit 1<br>Job for kubelet.service failed \\| see journalctl |\n") {
		t.Errorf("table row broken:\n%s", md)
	}
	if !strings.Contains(md, "\n````diff\n") || !strings.Contains(md, "+  new\n````\n") {
		t.Errorf("the diff's ``` ends the code block:\n%s", md)
	}
}

// A plan that failed before finding any change does not say "No changes.".
func TestPlanMarkdownFailedPlanIsNotClean(t *testing.T) {
	var b bytes.Buffer
	if err := printPlanMarkdown(&b, reconciler.Result{}, errors.New("objects: cannot use the cluster")); err != nil {
		t.Fatal(err)
	}
	if md := b.String(); strings.Contains(md, "No changes") || !strings.Contains(md, "> [!CAUTION]\n> objects: cannot use the cluster") {
		t.Errorf("failed plan:\n%s", md)
	}
	b.Reset()
	if err := printPlanMarkdown(&b, reconciler.Result{}, nil); err != nil || !strings.Contains(b.String(), "No changes.") {
		t.Errorf("clean plan: %v\n%s", err, b.String())
	}
}

// -o yaml prints the summary first, as text and JSON do, and the same data as JSON.
func TestRunResultYAMLSummaryFirst(t *testing.T) {
	res := reconciler.Result{Objects: change.Set{
		{Subject: "ConfigMap/a/b", Action: change.Configured, Diff: "--- live/x\n+++ desired/x\n-a: \"1\"\n+a: \"2\"\n"},
		{Subject: "Namespace/a", Action: change.Unchanged, Message: "123"},
		{Subject: "n", Action: change.Skipped, Message: "on"},
	}}
	out := newRunResult(res, nil)
	var y, j bytes.Buffer
	if err := printData(&y, "yaml", out, nil); err != nil {
		t.Fatal(err)
	}
	if err := printData(&j, "json", out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(y.String(), "summary:\n") {
		t.Errorf("yaml does not start with the summary:\n%s", y.String())
	}
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(y.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromYAML)
	b, _ := json.Marshal(fromJSON)
	if !bytes.Equal(a, b) {
		t.Errorf("yaml and json differ:\n%s\n%s", a, b)
	}
}
