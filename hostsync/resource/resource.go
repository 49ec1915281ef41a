package resource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/transport"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// Resource is one piece of desired host state.
type Resource interface {
	// ID names the resource in results: "File /etc/crictl.yaml".
	ID() string
	// Probe returns a shell snippet that prints, on stdout, the facts Decide needs. It
	// must not change anything on the host.
	Probe() string
	// Decide compares the probed facts with the desired state and returns the step that
	// converges the host, with Action Unchanged and no Script when there is nothing to do.
	Decide(facts string, c *Context) Step
}

// PackageMode says whether packages are installed or only probed.
type PackageMode int

const (
	// PackagesInstall installs and holds missing or wrong versions.
	PackagesInstall PackageMode = iota
	// PackagesProbeOnly reports missing packages as skipped, installs nothing (lab hosts,
	// hosts whose packages are managed elsewhere).
	PackagesProbeOnly
)

// HostFacts are probed once per host, before the resources.
type HostFacts struct {
	Systemd    bool   // systemd is PID 1 (/run/systemd/system exists)
	PkgFamily  string // "deb", "rpm" or ""
	RPMTool    string // "dnf" or "yum" on rpm hosts
	Kernel     string // uname -r
	CanModload bool   // modprobe and /lib/modules/<kernel> exist
}

// Context carries what resources of one host need to know about each other while the
// plan is decided in order.
type Context struct {
	Host HostFacts
	// Desired maps each managed file to the sha256 (hex) of the content mk8s leaves there.
	Desired map[string]string
	// Changed holds the paths whose content, mode or owner the plan changes so far.
	Changed map[string]bool
	// Old holds the live content of files whose checksum differs, for diffs.
	Old map[string][]byte
	// Packages says whether packages are installed or only probed.
	Packages PackageMode
	// Applied maps each file to the sha256 mk8s last wrote there (the host's record), to
	// tell drift (edited on the host) from a new render.
	Applied map[string]string
	// Stat maps paths to `kind|mode|owner|group`, and Sum to their sha256, both probed
	// in one batch for every resource that implements Batched.
	Stat, Sum map[string]string
	// reloaded is set once a step of this host runs systemctl daemon-reload.
	reloaded bool
}

// Step is one planned action on a host: what apply will do, and why.
type Step struct {
	Resource string        `json:"resource"`
	Action   change.Action `json:"action"`
	Diff     string        `json:"diff,omitempty"`
	Message  string        `json:"message,omitempty"`
	// Script performs the step; empty when Action is unchanged, skipped or failed. It
	// carries file contents, secrets included: it is never printed nor serialised.
	Script string `json:"-"`
	// NeedOld lists paths whose live content Decide needs to produce the diff.
	NeedOld []string `json:"-"`
	// Internal steps are mk8s' own bookkeeping (the host's record): applied with the
	// others, never reported as a change of the host.
	Internal bool `json:"-"`
}

// Entry turns a step into the shared result vocabulary.
func (s Step) Entry(host string) change.Entry {
	return change.Entry{Subject: s.Resource, Host: host, Action: s.Action, Diff: s.Diff, Message: s.Message}
}

// Runner is what a host plan needs from a connection.
type Runner = transport.Runner

// Q quotes one shell word.
func Q(s string) string { return transport.Quote(s) }

// SHA256 returns the hex sha256 of b, as sha256sum prints it.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Options of Plan.
type Options struct {
	// Packages says whether packages are installed or only probed.
	Packages PackageMode
	// Header starts the host's record file.
	Header string
	// RecordPath overrides where the record is kept (tests); RecordPath when empty.
	RecordPath string
}

// Batched is implemented by resources whose facts are a stat and a checksum: the plan
// probes all of them with one stat and one sha256sum (two processes for the whole host,
// instead of two per resource), and their Probe snippet is empty.
type Batched interface {
	StatPaths() []string
	SumPaths() []string
}

// fileFacts is the probe output of a file in the per-resource format.
func (c *Context) fileFacts(p string) string {
	st, ok := c.Stat[p]
	if !ok {
		return "absent"
	}
	if sum, ok := c.Sum[p]; ok {
		return st + "\n" + sum
	}
	return st
}

// Desired is implemented by resources that own a file's whole content.
type Desired interface {
	// DesiredFile returns the path and the content mk8s leaves there.
	DesiredFile() (path string, content []byte)
}

// Plan probes the host in one round trip (two when some content differs and diffs need
// the live bytes), then decides every resource in order.
//
// When the host's files change, a last step rewrites the host's record of what mk8s
// wrote (RecordPath), so that the next plan can tell drift from a new render.
func Plan(ctx context.Context, r Runner, rs []Resource, opts Options) ([]Step, HostFacts, error) {
	c := &Context{Desired: map[string]string{}, Changed: map[string]bool{}, Old: map[string][]byte{}, Packages: opts.Packages}
	for _, res := range rs {
		if d, ok := res.(Desired); ok {
			p, content := d.DesiredFile()
			c.Desired[p] = SHA256(content)
		}
	}
	record := &File{Path: or(opts.RecordPath, RecordPath), Mode: 0o600}
	rs = append(rs[:len(rs):len(rs)], record)
	header := opts.Header
	facts, err := probe(ctx, r, rs, record.Path)
	if err != nil {
		return nil, HostFacts{}, err
	}
	c.Host, c.Applied, c.Stat, c.Sum = facts.host, facts.applied, facts.stat, facts.sum
	steps := decide(rs, facts.sections, c, record, header)
	var need []string
	for _, s := range steps {
		need = append(need, s.NeedOld...)
	}
	if len(need) > 0 {
		if c.Old, err = fetch(ctx, r, need); err != nil {
			return nil, c.Host, err
		}
		c.Changed, c.reloaded = map[string]bool{}, false
		steps = decide(rs, facts.sections, c, record, header)
	}
	return steps, c.Host, nil
}

// RecordPath is where mk8s records the checksum of every file it manages on a host.
const RecordPath = "/var/lib/metalk8s/mk8s-applied.sha256"

func decide(rs []Resource, sections []string, c *Context, record *File, header string) []Step {
	steps := make([]Step, len(rs))
	for i, res := range rs {
		if res == Resource(record) {
			// Last: written only when some file changes, listing what mk8s leaves.
			var b strings.Builder
			b.WriteString(header)
			paths := slices.Sorted(maps.Keys(c.Desired))
			for _, p := range paths {
				fmt.Fprintf(&b, "%s  %s\n", c.Desired[p], p)
			}
			record.Content = []byte(b.String())
			if len(c.Changed) == 0 {
				steps[i] = Step{Action: change.Unchanged}
			} else {
				steps[i] = record.Decide(sections[i], c)
				steps[i].NeedOld = nil
				steps[i].Diff = ""
			}
			steps[i].Internal = true
		} else {
			steps[i] = res.Decide(sections[i], c)
		}
		steps[i].Resource = res.ID()
	}
	return steps
}
