// Command sitegen writes a generated site repository (default: 200 nodes, 2,000
// volumes) into a directory, for benchmarks: go run ./schema/sitegen/cmd/sitegen DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/metalk8s/mk8s/schema/sitegen"
)

func main() {
	var o sitegen.Options
	flag.IntVar(&o.Nodes, "nodes", 200, "number of nodes")
	flag.IntVar(&o.VolumesPerNode, "volumes-per-node", 10, "number of volumes per node")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: sitegen [-nodes N] [-volumes-per-node N] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := sitegen.WriteDir(flag.Arg(0), o); err != nil {
		fmt.Fprintln(os.Stderr, "sitegen:", err)
		os.Exit(1)
	}
}
