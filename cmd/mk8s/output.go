package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
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
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		return text(w)
	}
}
