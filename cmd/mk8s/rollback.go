package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
)

func newAllowRollbackCmd(g *globals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "allow-rollback COMMIT",
		Short: "Let the reconciler apply one commit that does not descend from the applied revision",
		Long: `The reconciler refuses a new head that does not descend from the last applied revision:
a force-push that rewinds or replaces history could otherwise silently undo changes.
When the operator means it (to go back to a known good commit, say), allow-rollback
records a one-shot override in the reconciler's state directory: the next reconcile
accepts exactly that COMMIT (a full 40-hex hash) as the new head, once. Its signature and
those of the commits it brings are still verified. The override is recorded in the
Site's status and in the state's rollback history, and is cleared once used; a later
rewind is refused again.`,
		Example: `  # Go back to a known good commit, then make the daemon apply it now
  git push --force origin 3f1c…:main
  mk8s allow-rollback --config /etc/mk8s/reconciler.yaml 3f1c2d9e…(40 hex)
  mk8s reconcile --now`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, diags := config.Load(cfgPath)
			if diags.HasErrors() {
				return &exitError{code: exitCodeError, err: diags.Err()}
			}
			if cfg.StateDir == "" {
				return &exitError{code: exitCodeError, err: errors.New(cfgPath + ": stateDir: not set; the override lives in the reconciler's state directory")}
			}
			if err := source.AllowRollback(cfg.StateDir, args[0]); err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			res := struct {
				Commit   string `json:"commit"`
				StateDir string `json:"stateDir"`
			}{args[0], cfg.StateDir}
			return printData(g.stdout, g.output, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "the next reconcile may move the site to %s, once (state %s)\n", res.Commit, res.StateDir)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "reconciler configuration (its stateDir holds the override)")
	return cmd
}
