// Package heartbeat makes sure every bucket gets closed, empty ones too, by feeding the
// close step an entry without a file for each bucket that must exist.
//
//   - FillGaps, for a bounded input (a replay): a heartbeat for every bucket from the first
//     to the last one that holds data or dead letters.
//   - Clock, for a live stream: a heartbeat for the oldest open bucket, on the wall clock.
//   - Lookback, at the start of a job: the buckets its predecessor left open.
package heartbeat

import (
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*span)(nil)).Elem())
	register.Combiner2[span, int64](&spanFn{})
	register.DoFn3x0[[]byte, func(*span) bool, func(beam.EventTime, message.Entry)](&fillFn{})
	register.Function1x1[int64, message.Entry](beat)
	register.DoFn2x0[[]byte, func(beam.EventTime, message.Entry)](&rangeFn{})
	register.Emitter2[beam.EventTime, message.Entry]()
	register.Iter1[span]()
}

// FillGaps takes the buckets seen (PCollection<int64> of bucket starts, in the global
// window, as bucket.Assign returns them) and returns PCollection<message.Entry>: a
// heartbeat for every bucket from the earliest to the latest seen, so that the buckets
// without data between them are closed too.
//
// The range is known only once the input is complete, so FillGaps suits bounded inputs: it
// holds the close of every bucket until then (the heartbeats come from an Impulse that waits
// for the range as a side input, and an element pending at the start of time holds the
// watermark). A live job uses Clock instead.
func FillGaps(s beam.Scope, l output.Layout, seen ...beam.PCollection) beam.PCollection {
	s = s.Scope("heartbeat.FillGaps")
	all := beam.Flatten(s, seen...)
	rng := beam.Combine(s, &spanFn{}, all)
	return beam.ParDo(s, &fillFn{Width: l.Width, Skew: l.Skew}, beam.Impulse(s), beam.SideInput{Input: rng})
}

// Beats turns buckets (PCollection<int64>, stamped for their bucket, such as Lookback
// returns) into heartbeats (PCollection<message.Entry>) with the same stamps.
func Beats(s beam.Scope, buckets beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("heartbeat.Beats"), beat, buckets)
}

func beat(start int64) message.Entry { return message.Entry{Bucket: start} }

// span is the range of buckets seen.
type span struct {
	Valid       bool
	First, Last int64
}

type spanFn struct{}

func (spanFn) CreateAccumulator() span { return span{} }

func (spanFn) AddInput(a span, start int64) span {
	if !a.Valid {
		return span{Valid: true, First: start, Last: start}
	}
	a.First, a.Last = min(a.First, start), max(a.Last, start)
	return a
}

func (f spanFn) MergeAccumulators(a, b span) span {
	if !b.Valid {
		return a
	}
	return f.AddInput(f.AddInput(a, b.First), b.Last)
}

type fillFn struct {
	Width, Skew time.Duration
}

func (f *fillFn) ProcessElement(_ []byte, spans func(*span) bool, emit func(beam.EventTime, message.Entry)) {
	l := output.Layout{Width: f.Width, Skew: f.Skew}
	var r span
	for spans(&r) {
		if !r.Valid {
			continue
		}
		for h := r.First; h <= r.Last; h = l.Next(h) {
			emit(mtime.FromMilliseconds(l.Stamp(h)), message.Entry{Bucket: h})
		}
	}
}

// Range returns PCollection<message.Entry>: a heartbeat for every bucket of r, stamped for
// its bucket, so that a backfill closes exactly the buckets it was asked for, empty ones
// too, each once the input is read past it. It panics for an empty range.
func Range(s beam.Scope, l output.Layout, r output.Range) beam.PCollection {
	s = s.Scope("heartbeat.Range")
	if !r.IsSet() || r.To <= r.From {
		panic(fmt.Sprintf("heartbeat.Range: %v is empty", r))
	}
	return beam.ParDo(s, &rangeFn{Width: l.Width, Skew: l.Skew, From: r.From, To: r.To}, beam.Impulse(s))
}

type rangeFn struct {
	Width, Skew time.Duration
	From, To    int64
}

func (f *rangeFn) ProcessElement(_ []byte, emit func(beam.EventTime, message.Entry)) {
	l := output.Layout{Width: f.Width, Skew: f.Skew}
	for _, h := range (output.Range{From: f.From, To: f.To}).Buckets(l) {
		emit(mtime.FromMilliseconds(l.Stamp(h)), message.Entry{Bucket: h})
	}
}
