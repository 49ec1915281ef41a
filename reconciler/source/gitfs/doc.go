// Package gitfs presents the tree of one git commit as a read-only io/fs.FS, read straight
// from git objects: no checkout, no working directory. The loader reads a verified
// revision through it.
//
// It owns nothing but that view; it must not verify, fetch or write anything.
package gitfs
