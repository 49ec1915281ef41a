package resource

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

const marker = "@@mk8s "

// hostFactsProbe prints key=value lines about the host as a whole.
const hostFactsProbe = `[ -d /run/systemd/system ] && echo systemd=1
if [ -e /etc/redhat-release ] && command -v rpm >/dev/null 2>&1; then echo pkg=rpm
  if command -v dnf >/dev/null 2>&1; then echo rpmtool=dnf; else echo rpmtool=yum; fi
elif command -v dpkg-query >/dev/null 2>&1; then echo pkg=deb; fi
k=$(uname -r); echo kernel=$k
command -v modprobe >/dev/null 2>&1 && [ -d /lib/modules/$k ] && echo modload=1
`

type probed struct {
	host      HostFacts
	applied   map[string]string
	stat, sum map[string]string
	sections  []string
}

// ProbeScript is the one remote script that probes every resource of a host.
func ProbeScript(rs []Resource, record string) []byte {
	var b bytes.Buffer
	b.WriteString("export LC_ALL=C\necho '" + marker + "host'\n" + hostFactsProbe)
	fmt.Fprintf(&b, "sed -n 's/^\\([0-9a-f]\\{64\\}\\)  /applied=\\1 /p' %s 2>/dev/null\n", Q(record))
	var stats, sums []string
	seenS, seenH := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		if bt, ok := r.(Batched); ok {
			for _, p := range bt.StatPaths() {
				if !seenS[p] {
					seenS[p] = true
					stats = append(stats, Q(p))
				}
			}
			for _, p := range bt.SumPaths() {
				if !seenH[p] {
					seenH[p] = true
					sums = append(sums, Q(p))
				}
			}
		}
	}
	if len(stats) > 0 {
		fmt.Fprintf(&b, "echo '%sstat'\nstat -c '%%F|%%a|%%U|%%G|%%n' -- %s 2>/dev/null\n", marker, strings.Join(stats, " "))
	}
	if len(sums) > 0 {
		fmt.Fprintf(&b, "echo '%ssums'\nsha256sum -- %s 2>/dev/null\n", marker, strings.Join(sums, " "))
	}
	for i, r := range rs {
		if _, ok := r.(Batched); ok {
			fmt.Fprintf(&b, "echo '%s%d'\n", marker, i)
			continue
		}
		fmt.Fprintf(&b, "echo '%s%d'\n{\n%s\n} 2>/dev/null\n", marker, i, r.Probe())
	}
	b.WriteString("echo '" + marker + "end'\n")
	return b.Bytes()
}

func probe(ctx context.Context, r Runner, rs []Resource, record string) (probed, error) {
	res, err := r.Run(ctx, ProbeScript(rs, record))
	if err != nil {
		return probed{}, err
	}
	secs, err := splitSections(res.Stdout, len(rs)+2)
	if err != nil {
		return probed{}, fmt.Errorf("probe script (exit %d): %w; stderr: %s", res.ExitCode, err, bytes.TrimSpace(res.Stderr))
	}
	p := probed{sections: secs[1 : len(rs)+1], applied: map[string]string{}, stat: map[string]string{}, sum: map[string]string{}}
	for _, l := range strings.Split(secs[len(rs)+1], "\n") {
		// kind|mode|owner|group|path: the path is last, so it may hold '|'.
		if f := strings.SplitN(l, "|", 5); len(f) == 5 {
			p.stat[f[4]] = strings.Join(f[:4], "|")
		}
	}
	for _, l := range strings.Split(secs[len(rs)+2], "\n") {
		// sha256sum escapes odd names with a leading backslash: those stay unknown.
		if sum, path, ok := strings.Cut(l, "  "); ok && len(sum) == 64 {
			p.sum[path] = sum
		}
	}
	for _, l := range strings.Split(secs[0], "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "systemd":
			p.host.Systemd = v == "1"
		case "pkg":
			p.host.PkgFamily = v
		case "rpmtool":
			p.host.RPMTool = v
		case "kernel":
			p.host.Kernel = v
		case "modload":
			p.host.CanModload = v == "1"
		case "applied":
			sum, path, _ := strings.Cut(v, " ")
			p.applied[path] = sum
		}
	}
	return p, nil
}

// splitSections cuts probe output into the host section and n resource sections.
func splitSections(out []byte, n int) ([]string, error) {
	secs := make([]string, n+1)
	cur, ended := -2, false
	var buf strings.Builder
	flush := func() {
		if cur >= -1 {
			secs[cur+1] = strings.TrimRight(buf.String(), "\n")
		}
		buf.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, marker); ok {
			flush()
			switch rest {
			case "host":
				cur = -1
			case "stat":
				cur = n - 2
			case "sums":
				cur = n - 1
			case "end":
				ended = true
				cur = -2
			default:
				i, err := strconv.Atoi(rest)
				if err != nil || i < 0 || i >= n {
					return nil, fmt.Errorf("bad marker %q", l)
				}
				cur = i
			}
			continue
		}
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !ended {
		return nil, fmt.Errorf("probe output is truncated")
	}
	return secs, nil
}

// fetch reads the live content of files (base64 on the wire) in one round trip.
func fetch(ctx context.Context, r Runner, paths []string) (map[string][]byte, error) {
	var b bytes.Buffer
	for i, p := range paths {
		fmt.Fprintf(&b, "echo '%s%d'\nbase64 < %s 2>/dev/null\n", marker, i, Q(p))
	}
	b.WriteString("echo '" + marker + "end'\n")
	res, err := r.Run(ctx, b.Bytes())
	if err != nil {
		return nil, err
	}
	secs, err := splitSections(res.Stdout, len(paths))
	if err != nil {
		return nil, fmt.Errorf("reading live files: %w", err)
	}
	out := map[string][]byte{}
	for i, p := range paths {
		raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(secs[i+1], "\n", ""))
		if err != nil {
			return nil, fmt.Errorf("reading live %s: %w", p, err)
		}
		out[p] = raw
	}
	return out, nil
}
