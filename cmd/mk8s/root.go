package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// Exit codes CI can use.
const (
	exitCodeOK      = 0
	exitCodeError   = 1
	exitCodePending = 2 // plan --exit-code: changes are pending
)

// exitError carries an exit code through cobra. silent means the command already
// printed what went wrong.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// globals are the flags every command has.
type globals struct {
	output    string // text|json|yaml (+markdown for plan)
	verbosity int
	stdout    io.Writer
	stderr    io.Writer
}

// logger writes to stderr at the level -v asks for: 0 warnings, 1 info, 2+ debug.
func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbosity >= 2:
		level = slog.LevelDebug
	case g.verbosity == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "mk8s",
		Short: "GitOps reconciler for MetalK8s clusters",
		Long: `mk8s makes a signed Git repository the single source of truth of a MetalK8s
cluster: it validates the site, converges the hosts over SSH and the Kubernetes
objects by server-side apply, and reports what it did.`,
		Example: `  # Write a new site repository from a MetalK8s bootstrap.yaml
  mk8s seed --bootstrap-config /etc/metalk8s/bootstrap.yaml --signing-key ~/.ssh/id_ed25519 ./site

  # Validate a site, as CI does on a pull request
  mk8s validate ./site`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return checkOutput(cmd, g.output)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text, json or yaml")
	root.PersistentFlags().CountVarP(&g.verbosity, "verbose", "v", "log to stderr; repeat for more (-v info, -vv debug)")

	root.AddCommand(
		newVersionCmd(g),
		newValidateCmd(g),
		newSeedCmd(g),
		newISOCmd(g),
		newSolutionCmd(g),
		newPlanCmd(g),
		newReconcileCmd(g),
		newStatusCmd(g),
		newSuspendCmd(g),
		newResumeCmd(g),
		newRunCmd(g),
		newAllowRollbackCmd(g),
	)
	return root
}
