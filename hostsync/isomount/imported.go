package isomount

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/metalk8s/mk8s/hostsync/resource"
)

// Imported is an archive mk8s mounted on a node, as its fstab entry records it.
type Imported struct {
	// Archive is the archive's id; ISO the file mounted.
	Archive, ISO string
}

// ImportedScript prints mk8s' fstab entries (device and mountpoint), read-only.
const ImportedScript = `awk '$1 !~ /^#/ && $4 ~ /(^|,)x-mk8s\.solution(,|$)/ { print $1 " " $2 }' ` + FstabPath + ` 2>/dev/null; exit 0`

// ParseImported reads ImportedScript's output: the archives mk8s mounted, by id. An
// entry whose mountpoint is not Root/<id> (edited by hand) or is the platform archive's
// is not mk8s' to release, and is left out.
func ParseImported(out []byte) []Imported {
	seen := map[string]bool{}
	var list []Imported
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		iso, mp := unescape(f[0]), unescape(f[1])
		id, ok := strings.CutPrefix(mp, Root+"/")
		if !ok || seen[id] || Validate(id, iso) != nil {
			continue
		}
		seen[id] = true
		list = append(list, Imported{Archive: id, ISO: iso})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Archive < list[j].Archive })
	return list
}

// ReadImported runs ImportedScript on a node.
func ReadImported(ctx context.Context, r resource.Runner) ([]Imported, error) {
	res, err := r.Run(ctx, []byte(ImportedScript))
	if err != nil {
		return nil, fmt.Errorf("reading the archives mk8s mounted (%s): %w", FstabPath, err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("reading the archives mk8s mounted (%s): exit %d: %s", FstabPath, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return ParseImported(res.Stdout), nil
}
