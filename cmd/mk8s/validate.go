package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

// validateResult is the data form of `mk8s validate` (-o json|yaml).
type validateResult struct {
	Valid    bool              `json:"valid"`
	Errors   []diag.Diagnostic `json:"errors"`
	Warnings []diag.Diagnostic `json:"warnings"`
}

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "Validate a site repository",
		Long: `Validate reads every YAML and CUE document of a site repository, checks each one
against its schema and all of them together (one bootstrap node, unique names, volumes on
declared nodes, networks that do not overlap, …), and prints every problem found as

  path/in/site.yaml:LINE: field.path: what is wrong; what is allowed

Errors come first, then warnings (credentials in clear text, …). Warnings never change
the exit code: validate exits 0 when the site has no error, 1 otherwise.`,
		Example: `  # Validate a site, as CI does on a pull request
  mk8s validate ./site

  # The same, as data for another tool
  mk8s validate ./site -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := g.logger()
			log.Info("validating site", "dir", args[0])
			site, diags := schema.LoadDir(cmd.Context(), args[0])
			if site != nil && !diags.HasErrors() {
				diags = append(diags, render.Check(site)...)
			}
			res := validateResult{Valid: !diags.HasErrors(), Errors: diags.Errors().Sort(), Warnings: diags.Warnings().Sort()}
			if res.Errors == nil {
				res.Errors = []diag.Diagnostic{}
			}
			if res.Warnings == nil {
				res.Warnings = []diag.Diagnostic{}
			}
			err := printData(g.stdout, g.output, res, func(w io.Writer) error {
				for _, d := range res.Errors {
					fmt.Fprintln(w, d.String())
				}
				for _, d := range res.Warnings {
					fmt.Fprintln(w, d.String())
				}
				status := "valid"
				if !res.Valid {
					status = "invalid"
				}
				_, err := fmt.Fprintf(w, "%s: %s (%s, %s)\n", args[0], status,
					validateCount(len(res.Errors), "error"), validateCount(len(res.Warnings), "warning"))
				return err
			})
			if err != nil {
				return err
			}
			if !res.Valid {
				return &exitError{code: exitCodeError, silent: true}
			}
			return nil
		},
	}
}

func validateCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
