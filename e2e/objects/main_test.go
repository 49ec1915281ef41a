package objects

import (
	"os"
	"testing"
)

// binDir holds the mk8s binary built for the CLI tests.
var binDir string

func TestMain(m *testing.M) {
	var err error
	binDir, err = os.MkdirTemp("", "mk8s-e2e-objects-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}
