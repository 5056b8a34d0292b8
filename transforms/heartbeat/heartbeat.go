// Package heartbeat makes sure every bucket gets closed, empty ones too, by feeding the
// close step an entry without a file for each bucket that must exist.
//
// FillGaps covers a bounded input (a replay): every bucket from the first to the last one
// that holds data or dead letters. It fills the buckets between those it has seen before the
// watermark passes them, which on a bounded input is all of them (the watermark moves only
// at the end); on a live stream an idle stretch can pass first, so live jobs add heartbeats
// on the wall clock as well.
package heartbeat

import (
	"context"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*span)(nil)).Elem())
	register.Function1x2[int64, int, int64](keyAll)
	register.DoFn5x0[state.Provider, timers.Provider, int, int64, func(beam.EventTime, manifest.Entry)](&fillFn{})
	register.Emitter2[beam.EventTime, manifest.Entry]()
}

// FillGaps takes the buckets seen (PCollection<int64> of bucket starts, each stamped for its
// bucket, in the global window, as bucket.Assign returns them) and returns
// PCollection<manifest.Entry>: a heartbeat for every bucket from the earliest to the latest
// seen, so that buckets without data between them are closed too.
func FillGaps(s beam.Scope, l bucket.Layout, seen ...beam.PCollection) beam.PCollection {
	s = s.Scope("heartbeat.FillGaps")
	keyed := beam.ParDo(s, keyAll, beam.Flatten(s, seen...))
	return beam.ParDo(s, &fillFn{
		Width: l.Width, Skew: l.Skew,
		Fill:  timers.InEventTime("fill"),
		Range: state.MakeValueState[span]("range"),
	}, keyed)
}

func keyAll(start int64) (int, int64) { return 0, start }

// fillFn keeps the range of buckets seen and, once the watermark reaches the first bucket
// not yet covered, emits a heartbeat for each bucket of the range. Emitting only at or after
// the timer's time keeps the heartbeats on time.
type fillFn struct {
	Width, Skew time.Duration
	Fill        timers.EventTime
	Range       state.Value[span]
}

// span is the range of buckets seen and how far heartbeats have been emitted.
type span struct {
	First, Last int64 // earliest and latest bucket seen
	Emitted     bool
	EmittedTo   int64 // latest bucket a heartbeat was emitted for
}

// from returns the first bucket still without a heartbeat.
func (r span) from(l bucket.Layout) int64 {
	if r.Emitted {
		return l.Next(r.EmittedTo)
	}
	return r.First
}

func (f *fillFn) layout() bucket.Layout { return bucket.Layout{Width: f.Width, Skew: f.Skew} }

func (f *fillFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, start int64, _ func(beam.EventTime, manifest.Entry)) {
	r, ok, _ := f.Range.Read(sp)
	if !ok {
		r = span{First: start, Last: start}
	}
	r.First, r.Last = min(r.First, start), max(r.Last, start)
	f.Range.Write(sp, r)
	l := f.layout()
	if from := r.from(l); from <= r.Last {
		f.Fill.Set(tp, l.Stamp(from).ToTime())
	}
}

func (f *fillFn) OnTimer(_ context.Context, _ beam.EventTime, sp state.Provider, _ timers.Provider, _ int, _ timers.Context, emit func(beam.EventTime, manifest.Entry)) {
	r, ok, _ := f.Range.Read(sp)
	if !ok {
		return
	}
	l := f.layout()
	for h := r.from(l); h <= r.Last; h = l.Next(h) {
		emit(l.Stamp(h), manifest.Entry{Bucket: h})
	}
	r.Emitted, r.EmittedTo = true, r.Last
	f.Range.Write(sp, r)
}
