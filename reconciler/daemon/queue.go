package daemon

import (
	"slices"
	"sync"
)

// queue coalesces triggers: any number of Add calls between two Take calls make one
// pending run, whose reasons list each trigger once.
type queue struct {
	mu      sync.Mutex
	reasons []string
	ready   chan struct{} // capacity 1: "a run is pending"
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

// Add records a trigger; it never blocks.
func (q *queue) Add(reason string) {
	q.mu.Lock()
	if !slices.Contains(q.reasons, reason) {
		q.reasons = append(q.reasons, reason)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// C is readable when a run is pending.
func (q *queue) C() <-chan struct{} { return q.ready }

// Take returns and clears the pending reasons.
func (q *queue) Take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reasons
	q.reasons = nil
	return r
}
