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
	register.DoFn6x1[context.Context, beam.EventTime, message.Event, func(beam.EventTime, message.Event), func(beam.EventTime, message.Event), func(beam.EventTime, int64), error](&assignEarlyFn{})
	register.DoFn6x1[context.Context, beam.EventTime, message.DeadLetter, func(beam.EventTime, message.DeadLetter), func(beam.EventTime, message.DeadLetter), func(beam.EventTime, int64), error](&assignDeadEarlyFn{})
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

// AssignEarly is Assign for a source whose watermark follows the publish times closely (a
// replay read in order, on Prism): a bucket's events published before its end (on time) are
// stamped at its end − 1ms and windowed apart, in windows of its width, so that their last
// pane is written once the input is read past the bucket's end, not at its close; only its
// late events (mostly skewed ones, moved to the oldest open bucket) wait for the close. The
// caller groups onTime and late each on its own, for they are windowed differently, and
// writes the panes of late under output.LatePane numbers.
func AssignEarly(s beam.Scope, events beam.PCollection, t output.Target, opts ...beam.WindowIntoOption) (onTime, late, seen beam.PCollection) {
	s = s.Scope("bucket.AssignEarly")
	if err := t.Layout.Validate(); err != nil {
		panic("bucket.AssignEarly: " + err.Error())
	}
	onTime, late, seen = beam.ParDo3(s, &assignEarlyFn{assignFn{placer: placer{Target: t}}}, events)
	return windowOnTime(s, onTime, t.Layout, opts...), Window(s, late, t.Layout, opts...), seen
}

// AssignDeadLettersEarly is AssignDeadLetters split as AssignEarly splits Assign.
func AssignDeadLettersEarly(s beam.Scope, dead beam.PCollection, t output.Target, opts ...beam.WindowIntoOption) (onTime, late, seen beam.PCollection) {
	s = s.Scope("bucket.AssignDeadLettersEarly")
	onTime, late, seen = beam.ParDo3(s, &assignDeadEarlyFn{assignDeadFn{placer: placer{Target: t}}}, dead)
	return windowOnTime(s, onTime, t.Layout, opts...), Window(s, late, t.Layout, opts...), seen
}

// windowOnTime windows elements stamped at their bucket's end − 1ms in windows of the bucket's
// width: one window a bucket, ending at its end.
func windowOnTime(s beam.Scope, col beam.PCollection, l output.Layout, opts ...beam.WindowIntoOption) beam.PCollection {
	return beam.WindowInto(s, window.NewFixedWindows(l.Width), col, opts...)
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
	e, ok, err := f.assign(ctx, et, e, emitSeen)
	if ok {
		emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(e.Bucket)), e)
	}
	return err
}

// assign places e in its bucket; ok is false when it is not to be delivered.
func (f *assignFn) assign(ctx context.Context, et beam.EventTime, e message.Event, emitSeen func(beam.EventTime, int64)) (_ message.Event, ok bool, _ error) {
	start, skewed := f.Target.Layout.Place(e.Time, e.PublishTime)
	// A source may stamp an element later than its publish time (a redelivery behind the
	// watermark): its bucket must still close after that stamp.
	if min := f.Target.Layout.NotBefore(et.Milliseconds()); start < min && et.Milliseconds() > e.PublishTime {
		start, skewed = min, true
	}
	to, moved, ok, err := f.place(ctx, start, emitSeen)
	if err != nil || !ok {
		return e, false, err
	}
	e.Bucket, e.Skewed = to, skewed || moved
	if e.Skewed {
		skewedEvents.Inc(ctx, 1)
	}
	return e, true, nil
}

type assignEarlyFn struct{ assignFn }

func (f *assignEarlyFn) StartBundle(context.Context, func(beam.EventTime, message.Event), func(beam.EventTime, message.Event), func(beam.EventTime, int64)) {
	f.start()
}

func (f *assignEarlyFn) ProcessElement(ctx context.Context, et beam.EventTime, e message.Event, onTime, late func(beam.EventTime, message.Event), emitSeen func(beam.EventTime, int64)) error {
	e, ok, err := f.assign(ctx, et, e, emitSeen)
	if ok {
		f.split(et, e.Bucket, func(ts int64) { onTime(mtime.FromMilliseconds(ts), e) }, func(ts int64) { late(mtime.FromMilliseconds(ts), e) })
	}
	return err
}

// split sends an element of bucket that came in at et on time, stamped at the bucket's end −
// 1ms, if et is before that; late, stamped at its close − 1ms, otherwise.
func (p *placer) split(et beam.EventTime, bucket int64, onTime, late func(int64)) {
	l := p.Target.Layout
	if end := l.End(bucket); et.Milliseconds() < end {
		onTime(end - 1)
		return
	}
	late(l.Stamp(bucket))
}

type assignDeadFn struct{ placer }

func (f *assignDeadFn) StartBundle(context.Context, func(beam.EventTime, message.DeadLetter), func(beam.EventTime, int64)) {
	f.start()
}

func (f *assignDeadFn) ProcessElement(ctx context.Context, et beam.EventTime, d message.DeadLetter, emit func(beam.EventTime, message.DeadLetter), emitSeen func(beam.EventTime, int64)) error {
	d, ok, err := f.assign(ctx, et, d, emitSeen)
	if ok {
		emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(d.Bucket)), d)
	}
	return err
}

// assign places d in its bucket; ok is false when it is not to be written.
func (f *assignDeadFn) assign(ctx context.Context, et beam.EventTime, d message.DeadLetter, emitSeen func(beam.EventTime, int64)) (_ message.DeadLetter, ok bool, _ error) {
	start := f.Target.Layout.Start(d.Message.PublishTime)
	if et.Milliseconds() > d.Message.PublishTime {
		start = max(start, f.Target.Layout.NotBefore(et.Milliseconds()))
	}
	to, _, ok, err := f.place(ctx, start, emitSeen)
	if err != nil || !ok {
		return d, false, err
	}
	d.Bucket = to
	return d, true, nil
}

type assignDeadEarlyFn struct{ assignDeadFn }

func (f *assignDeadEarlyFn) StartBundle(context.Context, func(beam.EventTime, message.DeadLetter), func(beam.EventTime, message.DeadLetter), func(beam.EventTime, int64)) {
	f.start()
}

func (f *assignDeadEarlyFn) ProcessElement(ctx context.Context, et beam.EventTime, d message.DeadLetter, onTime, late func(beam.EventTime, message.DeadLetter), emitSeen func(beam.EventTime, int64)) error {
	d, ok, err := f.assign(ctx, et, d, emitSeen)
	if ok {
		f.split(et, d.Bucket, func(ts int64) { onTime(mtime.FromMilliseconds(ts), d) }, func(ts int64) { late(mtime.FromMilliseconds(ts), d) })
	}
	return err
}
