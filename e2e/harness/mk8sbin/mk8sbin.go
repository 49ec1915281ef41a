// Package mk8sbin builds the mk8s binary of this tree for end-to-end tests that run it
// as users do: one build per test binary, in a directory of its own.
package mk8sbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Main builds mk8s into a temporary directory, runs the tests with its path, removes
// the directory and returns the exit code, for a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mk8sbin.Main(m, &mk8sBin)) }
func Main(m interface{ Run() int }, bin *string) int {
	dir, err := os.MkdirTemp("", "mk8s-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "mk8s")
	build := exec.Command("go", "build", "-o", *bin, "github.com/metalk8s/mk8s/cmd/mk8s")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mk8s:", err)
		return 1
	}
	return m.Run()
}
