package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	yaml2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// outputFormats lists the -o values a command accepts; commands may add "markdown" with
// the annotation below.
const annotationMarkdown = "mk8s/output-markdown"

func checkOutput(cmd *cobra.Command, format string) error {
	allowed := []string{"text", "json", "yaml"}
	if cmd.Annotations[annotationMarkdown] == "true" {
		allowed = append(allowed, "markdown")
	}
	if !slices.Contains(allowed, format) {
		return &exitError{code: exitCodeError, err: fmt.Errorf("-o %q is not one of %v", format, allowed)}
	}
	return nil
}

// printData writes v as JSON or YAML, or calls text for the text form.
func printData(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		return writeYAML(w, v)
	default:
		return text(w)
	}
}

// writeYAML writes v as YAML with the fields in the order of its JSON form (struct
// order: a plan's summary first, as in text and JSON) rather than sorted by name. JSON
// is YAML: its JSON form is read as ordered mappings and written back by the same YAML
// library sigs.k8s.io/yaml uses, so values are quoted exactly as before.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml2.MapSlice
	if err := yaml2.Unmarshal(b, &doc); err != nil {
		// Not an object at the top: nothing to keep in order.
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	if b, err = yaml2.Marshal(doc); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
