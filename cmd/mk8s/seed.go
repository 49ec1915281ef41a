package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSeedCmd is replaced by the seed work (issue 2).
func newSeedCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "seed DIR", Short: "Write a new site repository", Args: cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error { return errors.New("not implemented yet") }}
}
