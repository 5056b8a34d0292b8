// Package dedupe groups a bucket's events by shard and drops every copy of an event id
// after the first, within the bucket.
//
// # Behavior
//
// Events are keyed by a shard of their event id (output.Shard) and grouped; each pane of a
// shard becomes a message.Batch. A stateful DoFn keyed by the shard remembers the ids already
// written in the other panes of the same window (bucket), so dedupe is exact by event id
// across panes, while the state is read at most once per pane instead of once per event.
// Panes may reach it in any order (they cross parallel bundles on the way): each pane of a
// window that has several reads what the others wrote and adds its own; a window's only
// pane (on time, no early firings) touches no state. State is per window and is dropped when
// the bucket's window closes (a replay on Prism keeps the ids in the process instead:
// InProcess). Within a pane the first copy by publish time, then message id, is kept, so
// reruns pick the same copy.
//
// Across runs (AcrossRuns): an event is also a duplicate when a file of another run holds its
// id (a predecessor that crashed, stopped or was drained), in its bucket or in a later one
// its copy may have been moved to, so a redelivery or client retry of an event it wrote is a
// counted duplicate, never a second record. A live job also looks at its own files of the
// other buckets such a copy could be in. The ids are read from the files' headers.
package dedupe

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn2x0[message.Event, func(int, message.Event)](&keyFn{})
	register.DoFn4x0[beam.PaneInfo, int, func(*message.Event) bool, func(int, message.Batch)](&batchFn{})
	register.DoFn5x1[context.Context, state.Provider, int, message.Batch, func(message.Batch), error](&dedupeFn{})
	register.Emitter2[int, message.Event]()
	register.Emitter2[int, message.Batch]()
	register.Emitter1[message.Batch]()
	register.Iter1[message.Event]()
}

var duplicates = beam.NewCounter("eventdelivery", "duplicates")

// Dedupe groups PCollection<message.Event> (windowed by bucket.Assign) by shard of event id
// and returns PCollection<message.Batch> with every duplicate of an event id within a bucket removed.
func Dedupe(s beam.Scope, events beam.PCollection, shards int, opts ...Option) beam.PCollection {
	s = s.Scope("dedupe.Dedupe")
	if shards < 1 {
		panic("dedupe.Dedupe: shards must be 1 or more")
	}
	fn := &dedupeFn{Seen: state.MakeBagState[[]string]("seen"), Shards: shards}
	for _, o := range opts {
		o(fn)
	}
	keyed := beam.ParDo(s, &keyFn{Shards: shards}, events)
	batches := beam.ParDo(s, &batchFn{Late: fn.late}, beam.GroupByKey(s, keyed))
	return beam.ParDo(s, fn, batches)
}

// Option configures Dedupe.
type Option func(*dedupeFn)

// InProcess keeps the ids of a window's panes in the inflight.Gate registered under key in
// this process (internal/inflight) instead of in the runner's state: for a replay on Prism,
// whose state for a stateful DoFn grows with every pane read. The manifest's close of each
// bucket makes the gate forget it (manifest.Config.Gate).
func InProcess(key string) Option {
	return func(fn *dedupeFn) { fn.Gate = key }
}

// LatePanes numbers the panes under output.LatePane: for the late events of buckets whose
// on-time events another Dedupe groups (bucket.AssignEarly), with the same InProcess gate.
func LatePanes() Option {
	return func(fn *dedupeFn) { fn.late = true }
}

// AcrossRuns makes every event whose id other runs already wrote into t's output a
// duplicate: in its bucket, or in any bucket a copy of it could have gone to (from the bucket
// it would be placed in to the one of the wall clock's now, nowMs; 0 means time.Now).
func AcrossRuns(t output.Target, nowMs int64) Option {
	return func(fn *dedupeFn) { fn.Target, fn.NowMs = t, nowMs }
}

type keyFn struct{ Shards int }

func (f *keyFn) ProcessElement(e message.Event, emit func(int, message.Event)) {
	emit(output.Shard(e.ID, f.Shards), e)
}

type batchFn struct {
	Late bool // number the panes under output.LatePane
}

func (f *batchFn) ProcessElement(pane beam.PaneInfo, shard int, iter func(*message.Event) bool, emit func(int, message.Batch)) {
	b := message.Batch{Shard: shard, Pane: pane.Index, Last: pane.IsLast && !f.Late}
	if f.Late {
		b.Pane = output.LatePane(pane.Index)
	}
	var e message.Event
	for iter(&e) {
		b.Events = append(b.Events, e)
	}
	if len(b.Events) > 0 {
		b.Bucket = b.Events[0].Bucket
	}
	emit(shard, b)
}

type dedupeFn struct {
	Seen   state.Bag[[]string] // ids written by earlier panes of this shard and window
	Shards int
	Target output.Target // with a root: ids written by other runs count as seen (AcrossRuns)
	NowMs  int64
	Gate   string // inflight.Gate key: the panes' ids are kept there (InProcess)
	late   bool   // LatePanes

	gate  *inflight.Gate
	store *objstore.Store
	// written caches, per bucket and shard, the ids its files hold (see written).
	written map[shardOf]*writtenIDs
	order   []shardOf
}

type shardOf struct {
	bucket int64
	shard  int
}

// writtenIDs are the ids of one shard in one bucket's files, by whether this run wrote them.
type writtenIDs struct {
	files   map[string]bool  // names read
	others  map[string]bool  // written by other runs
	own     map[string]int64 // written by this run: the first pane holding each
	final   bool             // the bucket is closed: its files no longer change
	checked time.Time
}

const (
	// writtenCache is how many buckets' (and shards') ids a DoFn keeps.
	writtenCache = 64
	// maxSpan bounds how many buckets an event's copies are looked for in.
	maxSpan = 16
	// recheck is how often the files of a bucket still open are listed again.
	recheck = time.Second
)

func (f *dedupeFn) Setup(ctx context.Context) (err error) {
	f.gate = inflight.For(f.Gate)
	if f.Target.Root == "" {
		return nil
	}
	f.store, err = objstore.Open(ctx, f.Target.Root)
	return err
}

func (f *dedupeFn) Teardown() error { return f.store.Close() }

// writtenIn returns what the files of bucket bkt hold of shard, listing the files again
// (reading only the headers of new ones) at most every recheck until the bucket is closed.
func (f *dedupeFn) writtenIn(ctx context.Context, bkt int64, shard int) (*writtenIDs, error) {
	key := shardOf{bkt, shard}
	w, ok := f.written[key]
	if ok && (w.final || time.Since(w.checked) < recheck) {
		return w, nil
	}
	if !ok {
		w = &writtenIDs{files: map[string]bool{}, others: map[string]bool{}, own: map[string]int64{}}
		if f.written == nil {
			f.written = map[shardOf]*writtenIDs{}
		}
		if len(f.order) == writtenCache {
			delete(f.written, f.order[0])
			f.order = f.order[1:]
		}
		f.written[key], f.order = w, append(f.order, key)
	}
	fail := func(err error) (*writtenIDs, error) {
		delete(f.written, key)
		return nil, fmt.Errorf("dedupe against bucket %s: %w", output.Format(bkt), err)
	}
	closed, err := f.store.Exists(ctx, f.Target.ManifestPath(bkt))
	if err != nil {
		return fail(err)
	}
	names, err := f.store.List(ctx, output.Join(f.Target.Dir(bkt), "part-*.avro"))
	if err != nil {
		return fail(err)
	}
	for _, n := range names {
		base := path.Base(n)
		if w.files[base] {
			continue
		}
		run, pane, _, _ := output.ParseFileName(base)
		if run == f.Target.RunID && f.Target.Rerun {
			// A replay's own files are not looked at (see writtenElsewhere): keeping their
			// ids would hold every id of the replay in memory.
			w.files[base] = true
			continue
		}
		ids, err := output.FileIDs(ctx, f.store, n)
		if err != nil {
			return fail(err)
		}
		for _, id := range ids {
			if output.Shard(id, f.Shards) != shard {
				continue
			}
			if run != f.Target.RunID {
				w.others[id] = true
			} else if p, ok := w.own[id]; !ok || pane < p {
				w.own[id] = pane
			}
		}
		w.files[base] = true
	}
	w.final, w.checked = closed, time.Now()
	return w, nil
}

// writtenElsewhere reports whether a file that this run's state does not know of holds e (of
// shard): in any bucket a copy of it could have gone to, from the bucket its times place it
// in to the later of its bucket here (in) and the newest bucket an event may go to now, or,
// in its own bucket, a file of an earlier pane than pane.
func (f *dedupeFn) writtenElsewhere(ctx context.Context, e message.Event, shard int, in, pane int64) (bool, error) {
	l := f.Target.Layout
	from, _ := l.Place(e.Time, e.PublishTime)
	now := f.NowMs
	if now == 0 {
		now = time.Now().UnixMilli()
	}
	to := max(in, l.Start(now+l.MaxFuture.Milliseconds()))
	for b, n := min(from, in), 0; b <= to && n < maxSpan; b, n = l.Next(b), n+1 {
		w, err := f.writtenIn(ctx, b, shard)
		if err != nil {
			return false, err
		}
		if w.others[e.ID] {
			return true, nil
		}
		// This run's own other panes in the event's bucket are in the state, and in their
		// files once written: the files are the truth should the runner's state be lost.
		// A file of the pane itself is not: a retried bundle rewrites it. A replay's own
		// files are not looked at: a rerun replaces those of its earlier attempt.
		if p, own := w.own[e.ID]; own && !f.Target.Rerun && (b != in || p != pane) {
			return true, nil
		}
	}
	return false, nil
}

func (f *dedupeFn) ProcessElement(ctx context.Context, sp state.Provider, _ int, b message.Batch, emit func(message.Batch)) error {
	seen := map[string]bool{}
	only := b.Pane == 0 && b.Last // the window's only pane
	// mem, when kept in this process, holds each id with the pane that wrote it: a retried
	// bundle finds its own pane's ids there and keeps them again.
	var mem *inflight.IDs
	if len(b.Events) > 0 {
		mem = f.gate.Seen(b.Bucket, b.Shard)
	}
	if !only && mem == nil {
		earlier, _, err := f.Seen.Read(sp)
		if err != nil {
			return err
		}
		for _, ids := range earlier {
			for _, id := range ids {
				seen[id] = true
			}
		}
	}
	slices.SortFunc(b.Events, func(a, c message.Event) int {
		if r := strings.Compare(a.ID, c.ID); r != 0 {
			return r
		}
		if r := cmp.Compare(a.PublishTime, c.PublishTime); r != 0 {
			return r
		}
		return strings.Compare(a.MessageID, c.MessageID)
	})
	kept := b.Events[:0]
	var fresh []string
	for _, e := range b.Events {
		if !mem.Claim(e.ID, b.Pane) { // another pane wrote it
			seen[e.ID] = true
		}
		if !seen[e.ID] && f.store != nil {
			there, err := f.writtenElsewhere(ctx, e, b.Shard, b.Bucket, b.Pane)
			if err != nil {
				return err
			}
			seen[e.ID] = there
		}
		if seen[e.ID] {
			b.Duplicates++
			if e.AckID != "" {
				b.Acks = append(b.Acks, e.AckID)
			}
			continue
		}
		seen[e.ID] = true
		kept = append(kept, e)
		fresh = append(fresh, e.ID)
	}
	b.Events = kept
	if b.Duplicates > 0 {
		duplicates.Inc(ctx, b.Duplicates)
	}
	if !only && mem == nil && len(fresh) > 0 {
		if err := f.Seen.Add(sp, fresh); err != nil {
			return err
		}
	}
	emit(b)
	return nil
}
