package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Result of one remote script.
type Result struct {
	Stdout, Stderr []byte
	// ExitCode is the script's exit status (-1 when it died of a signal or the
	// connection broke).
	ExitCode int
}

// Runner runs a shell script on a host and returns its output. The script is sent on
// stdin to `sh -s` (under `sudo -n` when required), so its size is not bounded by the
// remote ARG_MAX and no part of it travels as an unquoted argument. A non-zero exit is
// not an error: callers read ExitCode and Stderr.
type Runner interface {
	Run(ctx context.Context, script []byte) (Result, error)
}

// Command is the fixed remote command line: the script comes on stdin.
func (c *Conn) Command() string {
	if c.target.Sudo {
		return Join("sudo", "-n", "--", "/bin/sh", "-s")
	}
	return Join("/bin/sh", "-s")
}

// Run implements Runner over one new session of the connection.
func (c *Conn) Run(ctx context.Context, script []byte) (Result, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("node %s: opening ssh session: %w", c.target.Node, err)
	}
	defer s.Close()
	// Two buffers: x/crypto/ssh copies stdout and stderr concurrently.
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	s.Stdin = bytes.NewReader(script)
	done := make(chan error, 1)
	go func() { done <- s.Run(c.Command()) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1},
			fmt.Errorf("node %s: remote script interrupted: %w", c.target.Node, ctx.Err())
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
	default:
		res.ExitCode = -1
		return res, fmt.Errorf("node %s: running remote script: %w", c.target.Node, err)
	}
	return res, nil
}
