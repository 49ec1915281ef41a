package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// copyObjects copies head and everything it reaches from src into dst, skipping what dst
// already has. It is the in-process fetch of local and ISO sources: no git binary, no
// transport. dst is assumed closed under reachability (a commit present means its
// history is present), which holds for a mirror only ever written by this function or by
// a fetch.
func copyObjects(ctx context.Context, src, dst storer.EncodedObjectStorer, head plumbing.Hash) (int, error) {
	n := 0
	copyOne := func(t plumbing.ObjectType, h plumbing.Hash) (bool, error) {
		if dst.HasEncodedObject(h) == nil {
			return false, nil
		}
		o, err := src.EncodedObject(t, h)
		if err != nil {
			return false, fmt.Errorf("object %s: %w", h, err)
		}
		if _, err := dst.SetEncodedObject(o); err != nil {
			return false, fmt.Errorf("write object %s: %w", h, err)
		}
		n++
		return true, nil
	}
	var copyTree func(h plumbing.Hash) error
	copyTree = func(h plumbing.Hash) error {
		if dst.HasEncodedObject(h) == nil {
			return nil
		}
		t, err := object.GetTree(src, h)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		for _, e := range t.Entries {
			switch e.Mode {
			case filemode.Dir:
				if err := copyTree(e.Hash); err != nil {
					return err
				}
			case filemode.Submodule:
			default:
				if _, err := copyOne(plumbing.BlobObject, e.Hash); err != nil {
					return err
				}
			}
		}
		_, err = copyOne(plumbing.TreeObject, h)
		return err
	}
	// Commits are written after their trees and parents so that an interrupted copy never
	// leaves a commit whose history is missing.
	type frame struct {
		h    plumbing.Hash
		done bool
	}
	stack := []frame{{h: head}}
	visited := map[plumbing.Hash]bool{}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if dst.HasEncodedObject(f.h) == nil {
			continue
		}
		c, err := object.GetCommit(src, f.h)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return n, fmt.Errorf("commit %s is missing from the source repository (shallow or damaged?)", f.h)
			}
			return n, fmt.Errorf("commit %s: %w", f.h, err)
		}
		if f.done {
			if err := copyTree(c.TreeHash); err != nil {
				return n, err
			}
			if _, err := copyOne(plumbing.CommitObject, c.Hash); err != nil {
				return n, err
			}
			continue
		}
		if visited[f.h] {
			continue
		}
		visited[f.h] = true
		stack = append(stack, frame{h: f.h, done: true})
		for _, p := range c.ParentHashes {
			if !visited[p] {
				stack = append(stack, frame{h: p})
			}
		}
	}
	return n, nil
}
