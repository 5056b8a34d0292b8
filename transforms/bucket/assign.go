package bucket

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window/trigger"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn5x1[context.Context, beam.EventTime, message.Event, func(beam.EventTime, message.Event), func(beam.EventTime, int64), error](&assignFn{})
	register.DoFn5x1[context.Context, beam.EventTime, message.DeadLetter, func(beam.EventTime, message.DeadLetter), func(beam.EventTime, int64), error](&assignDeadFn{})
	register.Emitter2[beam.EventTime, message.Event]()
	register.Emitter2[beam.EventTime, message.DeadLetter]()
	register.Emitter2[beam.EventTime, int64]()
}

var (
	skewedEvents = beam.NewCounter("eventdelivery", "skewed")
	// movedFromClosed counts events moved on because another job closed their bucket.
	movedFromClosed = beam.NewCounter("eventdelivery", "moved_from_closed_bucket")
	// alreadyDelivered counts events not written again because this run id closed their
	// bucket already (a replay rerun).
	alreadyDelivered = beam.NewCounter("eventdelivery", "already_delivered")
	// outsideRange counts events and dead letters of a backfill whose bucket is outside the
	// range it was asked for (output.Target.Range): not delivered.
	outsideRange = beam.NewCounter("eventdelivery", "outside_replay_range")
)

// Assign places every event (PCollection<message.Event>, timestamped with its publish time)
// in its bucket, stamps it with the bucket's close time − 1ms and windows it so that the
// window ends at the bucket's close time. It returns the events and, for heartbeats, the
// buckets it saw (PCollection<int64>, bucket starts, not windowed, a few per bundle).
//
// opts (such as EarlyPanes) set the trigger of the GroupByKey that writes the events.
func Assign(s beam.Scope, events beam.PCollection, t output.Target, opts ...beam.WindowIntoOption) (placed, seen beam.PCollection) {
	s = s.Scope("bucket.Assign")
	if err := t.Layout.Validate(); err != nil {
		panic("bucket.Assign: " + err.Error())
	}
	placed, seen = beam.ParDo2(s, &assignFn{placer: placer{Target: t}}, events)
	return Window(s, placed, t.Layout, opts...), seen
}

// AssignDeadLetters places every dead letter in the bucket of its publish time, like Assign;
// opts set the trigger of the GroupByKey that writes them.
func AssignDeadLetters(s beam.Scope, dead beam.PCollection, t output.Target, opts ...beam.WindowIntoOption) (placed, seen beam.PCollection) {
	s = s.Scope("bucket.AssignDeadLetters")
	placed, seen = beam.ParDo2(s, &assignDeadFn{placer: placer{Target: t}}, dead)
	return Window(s, placed, t.Layout, opts...), seen
}

// Window windows stamped elements so that each bucket's window ends at its close time.
func Window(s beam.Scope, col beam.PCollection, l output.Layout, opts ...beam.WindowIntoOption) beam.PCollection {
	return beam.WindowInto(s, window.NewFixedWindows(l.WindowSize()), col, opts...)
}

// EarlyPanes returns the windowing options under which a GroupByKey fires a bucket's pane
// every `every` of processing time after its first element, then once more when the bucket
// closes, each pane holding only what came since the last (no options when every is 0).
// Prism crashes when a window closes while such a firing is pending: use them on Dataflow.
func EarlyPanes(every time.Duration) []beam.WindowIntoOption {
	if every <= 0 {
		return nil
	}
	early := trigger.Repeat(trigger.AfterProcessingTime().PlusDelay(every))
	return []beam.WindowIntoOption{beam.Trigger(trigger.AfterEndOfWindow().EarlyFiring(early)), beam.PanesDiscard()}
}

// EveryRecords returns the windowing options under which a GroupByKey fires a shard's pane of
// a bucket whenever n elements are pending, and once more when the bucket closes, each pane
// holding only what came since the last. Where messages are acked only once they are in a
// file, this bounds how many wait unacked: about n per shard and open bucket, whatever the
// rate. Prism runs count triggers (unlike processing-time ones) without trouble.
func EveryRecords(n int) []beam.WindowIntoOption {
	if n <= 0 {
		return nil
	}
	early := trigger.Repeat(trigger.AfterCount(int32(n)))
	return []beam.WindowIntoOption{beam.Trigger(trigger.AfterEndOfWindow().EarlyFiring(early)), beam.PanesDiscard()}
}

// placer holds what both assign DoFns share: the target and its bucket status cache.
type placer struct {
	Target output.Target
	store  *objstore.Store
	closes *output.Closes
	seen   map[int64]bool
}

func (p *placer) Setup(ctx context.Context) error {
	st, err := objstore.Open(ctx, p.Target.Root)
	if err != nil {
		return err
	}
	p.store, p.closes = st, output.NewCloses(p.Target, st)
	// Placement runs per event: ask the store about an open bucket every few seconds, not
	// every bundle. The sink asks again, per bundle, before it writes.
	p.closes.OpenFor = placeCheckEvery
	return nil
}

// placeCheckEvery is how long placement believes a bucket is still open.
const placeCheckEvery = 5 * time.Second

func (p *placer) start() {
	p.seen = map[int64]bool{}
}

// place resolves bucket start against closed buckets and reports it once per bundle.
func (p *placer) place(ctx context.Context, start int64, emitSeen func(beam.EventTime, int64)) (to int64, moved, ok bool, err error) {
	r, err := p.closes.Route(ctx, start, 0)
	switch {
	case err != nil:
		return 0, false, false, fmt.Errorf("bucket %s: %w", output.Format(start), err)
	case r.Already:
		alreadyDelivered.Inc(ctx, 1)
		return 0, false, false, nil
	case r.Outside:
		outsideRange.Inc(ctx, 1)
		return 0, false, false, nil
	case r.Moved:
		movedFromClosed.Inc(ctx, 1)
	}
	to, moved = r.Bucket, r.Moved
	if !p.seen[to] {
		p.seen[to] = true
		emitSeen(mtime.FromMilliseconds(p.Target.Layout.Stamp(to)), to)
	}
	return to, moved, true, nil
}

func (p *placer) Teardown() error {
	return p.store.Close()
}

type assignFn struct{ placer }

func (f *assignFn) StartBundle(context.Context, func(beam.EventTime, message.Event), func(beam.EventTime, int64)) {
	f.start()
}

func (f *assignFn) ProcessElement(ctx context.Context, et beam.EventTime, e message.Event, emit func(beam.EventTime, message.Event), emitSeen func(beam.EventTime, int64)) error {
	start, skewed := f.Target.Layout.Place(e.Time, e.PublishTime)
	// A source may stamp an element later than its publish time (a redelivery behind the
	// watermark): its bucket must still close after that stamp.
	if min := f.Target.Layout.NotBefore(et.Milliseconds()); start < min && et.Milliseconds() > e.PublishTime {
		start, skewed = min, true
	}
	to, moved, ok, err := f.place(ctx, start, emitSeen)
	if err != nil || !ok {
		return err
	}
	e.Bucket, e.Skewed = to, skewed || moved
	if e.Skewed {
		skewedEvents.Inc(ctx, 1)
	}
	emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(to)), e)
	return nil
}

type assignDeadFn struct{ placer }

func (f *assignDeadFn) StartBundle(context.Context, func(beam.EventTime, message.DeadLetter), func(beam.EventTime, int64)) {
	f.start()
}

func (f *assignDeadFn) ProcessElement(ctx context.Context, et beam.EventTime, d message.DeadLetter, emit func(beam.EventTime, message.DeadLetter), emitSeen func(beam.EventTime, int64)) error {
	start := f.Target.Layout.Start(d.Message.PublishTime)
	if et.Milliseconds() > d.Message.PublishTime {
		start = max(start, f.Target.Layout.NotBefore(et.Milliseconds()))
	}
	to, _, ok, err := f.place(ctx, start, emitSeen)
	if err != nil || !ok {
		return err
	}
	d.Bucket = to
	emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(to)), d)
	return nil
}
