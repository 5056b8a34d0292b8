// Package inflight bounds what a replay on an in-process runner holds. Prism has no
// backpressure of its own: a reader faster than the writers fills the runner's queues, so
// that memory follows the length of the replay rather than its hour. A Gate counts the events
// that entered the pipeline and those that left it (into files, or dropped), and the
// reader waits while too many are in between. It also keeps the event ids (for dedupe) and
// the message ids of dead letters (for the dead-letter writer) that each open bucket's panes
// wrote: Prism's state for a stateful DoFn grows with every pane read (measured: 348 against
// 1,044 MiB at the peak of a 3,000,000-event replay), so a replay keeps them here, compactly
// (IDs), and forgets a bucket once it is closed.
//
// Like internal/progress, the DoFns find the Gate by key in their own process (Prism); on
// another runner a key finds nothing and nobody waits.
package inflight

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/inprocess"
)

// Gate is the flow control of one replay. Its methods do nothing on a nil Gate.
type Gate struct {
	inprocess.Entry
	limit int64
	// Stall is how long the writers may deliver nothing before the reader reads on anyway:
	// what is in flight then waits for the watermark (a bucket not over yet, a pane not
	// full), which only reading moves on.
	Stall time.Duration
	// Poll is how often a waiting reader looks again.
	Poll time.Duration

	in, out atomic.Int64

	mu    sync.Mutex
	seeds [2]maphash.Seed
	seen  map[bucketShard]*IDs
}

// bucketShard names the ids of one shard of a bucket, of its events or of its dead letters.
type bucketShard struct {
	bucket int64
	shard  int
	dead   bool
}

var registered = inprocess.NewRegistry[*Gate]("inflight")

// New registers a Gate in this process that lets about limit events be in flight.
func New(limit int64) *Gate {
	g := &Gate{limit: limit, Stall: 2 * time.Second, Poll: 10 * time.Millisecond, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	registered.Register(g, &g.Entry)
	return g
}

// For returns the Gate registered under key in this process, or nil.
func For(key string) *Gate { return registered.Find(key) }

// Enter counts n events that entered the pipeline.
func (g *Gate) Enter(n int64) {
	if g != nil {
		g.in.Add(n)
	}
}

// Leave counts n events that left it: written, or dropped as duplicates.
func (g *Gate) Leave(n int64) {
	if g != nil {
		g.out.Add(n)
	}
}

// InFlight is how many events entered and have not left.
func (g *Gate) InFlight() int64 {
	if g == nil {
		return 0
	}
	return g.in.Load() - g.out.Load()
}

// Wait blocks while more than the limit are in flight and the writers keep delivering: it
// returns once there is room, once nothing has left for Stall, or when ctx is done. It
// returns how long it waited.
func (g *Gate) Wait(ctx context.Context) time.Duration {
	if g == nil {
		return 0
	}
	start := time.Now()
	left, at := g.out.Load(), start
	for g.InFlight() > g.limit {
		if now := g.out.Load(); now != left {
			left, at = now, time.Now()
		} else if time.Since(at) >= g.Stall {
			break
		}
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-time.After(g.Poll):
		}
	}
	return time.Since(start)
}

// Seen returns the event ids that the panes of one shard of bucket wrote, for the dedupe of
// that shard, which alone uses it (the runner gives a key, the shard, to one bundle at a
// time); nil on a nil Gate.
func (g *Gate) Seen(bucket int64, shard int) *IDs { return g.ids(bucketShard{bucket, shard, false}) }

// SeenDeadLetters returns the message ids that the panes of one shard of bucket wrote as dead
// letters, for the dead-letter writer of that shard; nil on a nil Gate.
func (g *Gate) SeenDeadLetters(bucket int64, shard int) *IDs {
	return g.ids(bucketShard{bucket, shard, true})
}

func (g *Gate) ids(k bucketShard) *IDs {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[bucketShard]*IDs{}
	}
	s, ok := g.seen[k]
	if !ok {
		s = newIDs(&g.seeds)
		g.seen[k] = s
	}
	return s
}

// Forget drops the ids of bucket, of its events and its dead letters: it is closed (or left
// open to the wall clock), so no pane of it comes again.
func (g *Gate) Forget(bucket int64) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.seen {
		if k.bucket == bucket {
			delete(g.seen, k)
		}
	}
}
