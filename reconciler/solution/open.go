package solution

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// jinjaMarker starts a Jinja expression, statement or comment.
var jinjaMarker = regexp.MustCompile(`\{[{%#]`)

var _ OpenFunc = Open

// Open opens the Solution archive at path without mounting it, checks everything Archive
// promises and returns it. A refused archive is an *ArchiveError naming the archive, the
// file inside it and what is wrong. Open reads the whole image (its digest, and every
// image blob against its digest): wrap it in a Cache where it runs repeatedly.
func Open(ctx context.Context, path string) (*Archive, error) {
	r := refusal{path: path}
	f, err := os.Open(path)
	if err != nil {
		return nil, openError(r, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, openError(r, err)
	}
	if !st.Mode().IsRegular() {
		return nil, &ArchiveError{Path: path, Reason: fmt.Sprintf("not a regular file (%s)", st.Mode().Type())}
	}
	vol, err := readVolume(f, st.Size())
	if err != nil {
		return nil, &ArchiveError{Path: path, Reason: err.Error()}
	}
	if missing := missingExtensions(vol); missing != "" {
		return nil, &ArchiveError{Path: path, Reason: fmt.Sprintf(
			"ISO-9660 image without %s: a Solution archive has Rock Ridge and Joliet directory records (xorriso -as mkisofs -R -J -joliet-long)", missing)}
	}
	t, err := readTree(ctx, f, st.Size(), vol)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ArchiveError{Path: path, Reason: "damaged image: its directories cannot be read", Err: err}
	}

	a := &Archive{Path: path, VolumeID: vol.ID}
	m, err := readManifest(r, t)
	if err != nil {
		return nil, err
	}
	a.Name, a.Version, a.DisplayName, a.Manifest = m.name, m.version, m.displayName, m.value
	a.Images, a.OperatorImage = m.images, m.operator

	var groups []string
	if a.CRDs, groups, err = readCRDs(r, t); err != nil {
		return nil, err
	}
	if a.Roles, err = readRoles(r, t, groups); err != nil {
		return nil, err
	}
	if a.RegistryConfigFile, a.RegistryConfig, err = readRegistryConfig(r, t); err != nil {
		return nil, err
	}
	if err := checkImages(ctx, r, t, a.Images); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if a.Digest, err = digest(ctx, f); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ArchiveError{Path: path, Reason: "cannot be read", Err: err}
	}
	return a, nil
}

func openError(r refusal, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &ArchiveError{Path: r.path, Reason: "no such file", missing: true}
	}
	return &ArchiveError{Path: r.path, Reason: "cannot be opened", Err: err}
}

func missingExtensions(v *volume) string {
	switch {
	case !v.RockRidge && !v.Joliet:
		return "Rock Ridge and Joliet"
	case !v.RockRidge:
		return "Rock Ridge"
	case !v.Joliet:
		return "Joliet"
	}
	return ""
}

// readTree reads the image's directories with go-diskfs (Rock Ridge names). go-diskfs
// parses directory records of an untrusted file: a panic on a damaged one is an error
// here, not a crash of the reconciler, and its reads are bounded (boundedBackend).
func readTree(ctx context.Context, f *os.File, size int64, vol *volume) (t *tree, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("ISO reader failed: %v", p)
		}
	}()
	b := &boundedBackend{Storage: file.New(f, true), ctx: ctx}
	fsys, err := iso9660.Read(b, size, 0, vol.BlockSize)
	if err != nil {
		return nil, err
	}
	return walkTree(ctx, &guardedFS{fsys: fsys, b: b})
}

// maxReadsPerCall bounds the reads of the image one call into go-diskfs makes (the
// image opened, a directory listed, a file opened or read). go-diskfs follows a
// record's chain of SUSP continuation areas (CE) without a bound and without a context:
// a damaged or hostile image whose continuation area points back at itself would spin
// forever. A real archive needs a few reads per directory of a path, plus one per
// record with a continuation area (long Rock Ridge names): far fewer.
const maxReadsPerCall = 1 << 16

// errReadLoop is a call that went past maxReadsPerCall.
var errReadLoop = fmt.Errorf("more than %d reads of the image for one directory or file: its Rock Ridge continuation areas (CE) loop", maxReadsPerCall)

// boundedBackend is the image as go-diskfs reads it: each read checks the context, and
// the reads of one call are counted from begin.
type boundedBackend struct {
	backend.Storage
	ctx   context.Context
	reads int
}

// begin starts a call into go-diskfs. Open reads one archive from one goroutine: no lock.
func (b *boundedBackend) begin() { b.reads = 0 }

func (b *boundedBackend) ReadAt(p []byte, off int64) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.reads++; b.reads > maxReadsPerCall {
		return 0, errReadLoop
	}
	return b.Storage.ReadAt(p, off)
}

// guardedFS turns the panics of go-diskfs on damaged records into errors for every later
// read of the image (files are read after readTree returns), and starts each call's
// count of reads.
type guardedFS struct {
	fsys fs.FS
	b    *boundedBackend
}

func (g *guardedFS) Open(name string) (f fs.File, err error) {
	defer guard(&err)
	g.b.begin()
	f, err = g.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if d, ok := f.(fs.ReadDirFile); ok {
		return &guardedDir{d, g.b}, nil
	}
	return &guardedFile{f, g.b}, nil
}

type guardedFile struct {
	fs.File
	b *boundedBackend
}

func (g *guardedFile) Read(p []byte) (n int, err error) {
	defer guard(&err)
	g.b.begin()
	return g.File.Read(p)
}

type guardedDir struct {
	fs.ReadDirFile
	b *boundedBackend
}

func (g *guardedDir) ReadDir(n int) (entries []fs.DirEntry, err error) {
	defer guard(&err)
	g.b.begin()
	return g.ReadDirFile.ReadDir(n)
}

func guard(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("ISO reader failed: %v", p)
	}
}

// readRegistryConfig reads the registry configuration the archive carries: the template
// when both are there (MetalK8s renders registry-config.inc.j2). It must use the
// variables {{ repository }} and {{ registry_root }}, or its images would not be served
// under the archive's repository.
func readRegistryConfig(r refusal, t *tree) (string, []byte, error) {
	name := FileRegistryConfigTemplate
	if !t.isFile(name) {
		name = FileRegistryConfig
	}
	if !t.isFile(name) {
		return "", nil, r.file(FileRegistryConfigTemplate, "missing (nor %s): the nginx configuration serving images/, from static-container-registry --name-prefix '{{ repository }}' --server-root '{{ registry_root }}'", FileRegistryConfig)
	}
	data, err := fs.ReadFile(t.fsys, name)
	if err != nil {
		return "", nil, r.wrap(name, err, "cannot be read")
	}
	// MetalK8s chooses the repository and the mountpoint, not the archive: both
	// variables are used, and nothing else is Jinja, which RegistryInclude would leave
	// in the include and nginx refuse, taking the registry of every image down with it.
	used := map[string]bool{}
	starts := map[int]bool{}
	for _, m := range registryVar.FindAllSubmatchIndex(data, -1) {
		used[string(data[m[4]:m[5]])] = true
		starts[m[0]] = true
	}
	for _, v := range []string{"repository", "registry_root"} {
		if !used[v] {
			return "", nil, r.file(name, "does not use {{ %s }}: generate it with static-container-registry --name-prefix '{{ repository }}' --server-root '{{ registry_root }}'", v)
		}
	}
	for _, m := range jinjaMarker.FindAllIndex(data, -1) {
		if starts[m[0]] {
			continue
		}
		// The expression up to its end ("}}", "%}", "#}"), or its line.
		excerpt, _, _ := strings.Cut(string(data[m[0]:min(len(data), m[0]+60)]), "\n")
		closer := map[byte]string{'{': "}}", '%': "%}", '#': "#}"}[data[m[0]+1]]
		if i := strings.Index(excerpt[2:], closer); i >= 0 {
			excerpt = excerpt[:i+4]
		}
		line := 1 + bytes.Count(data[:m[0]], []byte("\n"))
		return "", nil, r.field(name, line, "", "", "%q is not rendered: the only Jinja of a registry configuration is {{ repository }} and {{ registry_root }}", excerpt)
	}
	return name, data, nil
}

// digest is "sha256:<hex>" of the whole file.
func digest(ctx context.Context, f *os.File) (string, error) {
	h := sha256.New()
	if err := copyContext(ctx, h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
