package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newValidateCmd is replaced by the schema work (issue 2).
func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "validate DIR", Short: "Validate a site repository", Args: cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error { return errors.New("not implemented yet") }}
}
