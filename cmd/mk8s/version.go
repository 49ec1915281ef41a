package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/internal/version"
)

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Platform  string `json:"platform"`
	GoVersion string `json:"goVersion"`
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the mk8s version and the platform version it embeds",
		Example: `  mk8s version
  mk8s version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Version: version.Version, Commit: version.Commit,
				Platform: version.Platform, GoVersion: runtime.Version()}
			return printData(g.stdout, g.output, v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "mk8s %s (commit %s, platform MetalK8s %s, %s)\n",
					v.Version, v.Commit, v.Platform, v.GoVersion)
				return err
			})
		},
	}
}
