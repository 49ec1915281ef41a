package resource

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/metalk8s/mk8s/reconciler/change"
)

// ApplyScript is the one remote script that performs the steps that have a Script, in
// order, each in its own `set -e` subshell, stopping at the first failure. Markers on
// stdout say which step started and which finished.
func ApplyScript(steps []Step) []byte {
	var b bytes.Buffer
	// Steps print syncMarker+dir for directories whose entries they renamed; the
	// script fsyncs them all at the end, in one process.
	// The directories are collected as positional parameters, one per line of output,
	// so that a directory whose name holds spaces stays one word.
	b.WriteString("export LC_ALL=C\nset -f\numask 022\nset --\n")
	for i, s := range steps {
		if s.Script == "" {
			continue
		}
		fmt.Fprintf(&b, "echo '%sstep %d'\nout=$(\nset -e\n%s\n)\nrc=$?\n", marker, i, s.Script)
		b.WriteString("while IFS= read -r l; do case $l in '') ;; " + syncMarker + "*) set -- \"$@\" \"${l#" + syncMarker + "}\";; *) printf '%s\\n' \"$l\";; esac; done <<MK8S_OUT\n$out\nMK8S_OUT\n")
		fmt.Fprintf(&b, "[ $rc -eq 0 ] || exit $rc\necho '%sdone %d'\n", marker, i)
	}
	b.WriteString("[ $# -eq 0 ] || sync \"$@\"\necho '" + marker + "end'\n")
	return b.Bytes()
}

// syncMarker prefixes the lines by which a step asks for a directory fsync.
const syncMarker = "@@mk8s-sync:"

// Apply performs exactly the planned steps and returns them with their outcome: the
// planned action when the step ran, failed (with the remote stderr) for the step that
// broke, skipped for the steps after it. Steps without a script are returned unchanged.
func Apply(ctx context.Context, r Runner, steps []Step) ([]Step, error) {
	out := make([]Step, len(steps))
	copy(out, steps)
	pending := false
	for _, s := range steps {
		if s.Script != "" {
			pending = true
		}
	}
	if !pending {
		return out, nil
	}
	res, runErr := r.Run(ctx, ApplyScript(steps))
	started, done, ended := map[int]bool{}, map[int]bool{}, false
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), marker)
		if !ok {
			continue
		}
		if rest == "end" {
			ended = true
			continue
		}
		verb, num, _ := strings.Cut(rest, " ")
		i, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		switch verb {
		case "step":
			started[i] = true
		case "done":
			done[i] = true
		}
	}
	failed := ""
	for i := range out {
		if out[i].Script == "" || done[i] {
			continue
		}
		if started[i] && failed == "" {
			msg := strings.TrimSpace(string(res.Stderr))
			if runErr != nil {
				msg = strings.TrimSpace(runErr.Error() + "; " + msg)
			}
			out[i].Message = fmt.Sprintf("exit %d: %s", res.ExitCode, msg)
			out[i].Action = change.Failed
			failed = out[i].Resource
			continue
		}
		if failed == "" {
			failed = "the connection"
		}
		out[i].Action = change.Skipped
		out[i].Message = "not attempted: " + failed + " failed first"
	}
	if runErr != nil {
		return out, runErr
	}
	if failed != "" || !ended {
		return out, fmt.Errorf("apply failed at %s (exit %d): %s", failed, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return out, nil
}
