package solution

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
)

// Cache is an OpenFunc that opens an archive again only when its file changed (device,
// inode, size or modification time): Open reads the whole image, a daemon reconciling
// every minute must not re-hash a multi-GB ISO each time. Refusals are kept as well, so
// an invalid archive is not read again until it changes. A file that changes while it
// is being opened is not kept. Safe for concurrent use: one Open per path at a time, the
// others wait for its result.
//
// Archives it returns are shared between callers: they must not be modified.
type Cache struct {
	open OpenFunc

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	// turn is held by the caller checking or opening the path.
	turn chan struct{}

	valid   bool
	stamp   fileStamp
	archive *Archive
	err     error
}

// fileStamp is what tells a file changed without reading it.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// NewCache returns a Cache over open (Open when nil).
func NewCache(open OpenFunc) *Cache {
	if open == nil {
		open = Open
	}
	return &Cache{open: open, entries: map[string]*cacheEntry{}}
}

var _ OpenFunc = (&Cache{}).Open

// Open returns the archive at path as the wrapped OpenFunc did when the file was last
// opened, or opens it again if it changed since.
func (c *Cache) Open(ctx context.Context, path string) (*Archive, error) {
	e := c.entry(path)
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.turn }()

	before, err := statStamp(path)
	if err != nil {
		// Missing or unreadable: cheap to find out again, and the wrapped Open says why.
		e.valid = false
		return c.open(ctx, path)
	}
	if e.valid && e.stamp == before {
		return e.archive, e.err
	}
	a, err := c.open(ctx, path)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.valid = false
		return a, err
	}
	after, serr := statStamp(path)
	e.valid = serr == nil && after == before
	e.stamp, e.archive, e.err = before, a, err
	return a, err
}

// Forget drops what the cache keeps of path (an archive no longer configured).
func (c *Cache) Forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, path)
}

func (c *Cache) entry(path string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if !ok {
		e = &cacheEntry{turn: make(chan struct{}, 1)}
		c.entries[path] = e
	}
	return e
}

func statStamp(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	s := fileStamp{size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return s, nil
}
