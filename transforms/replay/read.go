package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/progress"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Files)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*cursor)(nil)).Elem())
	register.DoFn3x1[context.Context, []byte, func(Files), error](&listFn{})
	register.Function2x0[Files, func(string)](splitFiles)
	register.DoFn7x2[context.Context, *readWatermark, *sdf.LockRTracker, Files,
		func(beam.EventTime, message.Message), func(beam.EventTime, message.DeadLetter), func(string),
		sdf.ProcessContinuation, error](&orderedFn{})
	register.DoFn5x1[context.Context, string, func(beam.EventTime, message.Message), func(beam.EventTime, message.DeadLetter), func(string), error](&fileFn{})
	register.DoFn3x0[beam.EventTime, message.Message, func(beam.EventTime, message.Entry)](&beatFn{})
	register.Emitter1[Files]()
	register.Emitter2[beam.EventTime, message.DeadLetter]()
	register.Emitter2[beam.EventTime, message.Entry]()
}

var (
	recordsRead = beam.NewCounter("eventdelivery", "replay_records_read")
	filesRead   = beam.NewCounter("eventdelivery", "replay_files_read")
)

// Files is the input of a replay: the files matching its glob, in name order.
type Files struct {
	Paths []string
}

// Result is what Read returns.
type Result struct {
	// Messages is PCollection<message.Message>, each stamped with its publish time.
	Messages beam.PCollection
	// Dead is PCollection<message.DeadLetter> of entries that are not valid messages.
	Dead beam.PCollection
	// Beats is PCollection<message.Entry>: in order (the default), a heartbeat for every
	// bucket from the first publish hour read to the last, sent as the input reaches it, so
	// that the close step closes each hour, empty ones too, once the input is read past it.
	// Invalid (the zero PCollection) otherwise: the caller fills the gaps at end of input.
	Beats beam.PCollection
}

// Read reads the replay file(s) at glob (a local path or gs:// URL; * matches within a
// folder) and returns their messages, dead letters and, for input in order, heartbeats.
// Entries without a readable publish time are written under t's
// <event type>/_deadletter/unreadable/.
//
// # Order
//
// By default the input must be ordered by publish time within each file, and the files
// named in time order: they are read one after the other, in name order, and the output
// watermark trails the latest publish time read by the disorder allowed (WithDisorder,
// 0 by default). Downstream, each bucket therefore closes, and leaves memory, once the
// input is read past its close time: a replay holds about one bucket at a time, however
// long it is. An entry published further behind the latest one read than that would be
// late data, which a GroupByKey drops; the read fails instead, naming the file, the entry
// and what to do. Nothing is written for the hours it has not closed yet; a rerun with the
// same run id changes nothing that was closed (see output.Target.Rerun).
//
// AnyOrder accepts input in any order: the watermark then stays at the start of time until
// every file is read (the whole replay is held in memory, as a batch job does), and
// Bounded reads the files in parallel as a bounded source, for batch runners (Dataflow).
func Read(s beam.Scope, glob string, t output.Target, opts ...Option) Result {
	s = s.Scope("replay.Read")
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.disorder < 0 {
		panic(fmt.Sprintf("replay.Read: disorder %v is negative", o.disorder))
	}
	files := beam.ParDo(s, &listFn{Glob: glob}, beam.Impulse(s))
	var r Result
	var bad beam.PCollection
	switch {
	case o.bounded:
		paths := beam.Reshuffle(s, beam.ParDo(s, splitFiles, files))
		r.Messages, r.Dead, bad = beam.ParDo3(s, &fileFn{Format: o.format, Progress: o.progress}, paths)
	default:
		r.Messages, r.Dead, bad = beam.ParDo3(s, &orderedFn{Format: o.format, Progress: o.progress, Gate: o.gate, Disorder: o.disorder, AnyOrder: o.anyOrder, Every: o.every()}, files)
		if !o.anyOrder {
			r.Beats = beam.ParDo(s, &beatFn{Width: t.Layout.Width, Skew: t.Layout.Skew}, r.Messages)
		}
	}
	beam.ParDo0(s, &unreadableFn{Target: t}, bad)
	return r
}

// listFn expands the glob into Files, in name order.
type listFn struct {
	Glob string
}

func (f *listFn) ProcessElement(ctx context.Context, _ []byte, emit func(Files)) error {
	st, err := objstore.Open(ctx, f.Glob)
	if err != nil {
		return fmt.Errorf("replay %s: %w", f.Glob, err)
	}
	defer st.Close()
	paths, err := st.List(ctx, f.Glob)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("replay %s: no file matches", f.Glob)
	}
	slog.Info("replay input", "glob", f.Glob, "files", len(paths))
	emit(Files{Paths: paths})
	return nil
}

func splitFiles(fs Files, emit func(string)) {
	for _, p := range fs.Paths {
		emit(p)
	}
}

// hourMs is how often, in publish time, the ordered read logs its progress.
const hourMs = int64(time.Hour / time.Millisecond)

// cursor is the restriction of orderedFn: where the read stands, and what it has seen.
type cursor struct {
	File   int   // index in Files.Paths
	Record int64 // records of that file already read
	MaxP   int64 // latest publish time read (Unix ms); math.MinInt64 before the first
	Done   bool
}

// cursorTracker claims cursors, each the position after the entries emitted so far. It
// splits only to checkpoint (fraction 0): the residual starts at the last cursor claimed.
type cursorTracker struct {
	rest, claimed cursor
	stopped       bool
}

func (t *cursorTracker) TryClaim(pos any) bool {
	if t.stopped || t.claimed.Done {
		return false
	}
	t.claimed = pos.(cursor)
	return true
}
func (t *cursorTracker) GetError() error { return nil }
func (t *cursorTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if fraction > 0 || t.stopped || t.claimed.Done {
		return t.rest, nil, nil
	}
	t.stopped = true
	return cursor{Done: true}, t.claimed, nil
}
func (t *cursorTracker) GetProgress() (done, remaining float64) {
	return float64(t.claimed.Record), 1
}
func (t *cursorTracker) IsDone() bool        { return t.stopped || t.claimed.Done }
func (t *cursorTracker) GetRestriction() any { return t.claimed }
func (t *cursorTracker) IsBounded() bool     { return true }

// readWatermark is where the read stands in publish time, minus the disorder allowed; it
// never moves back.
type readWatermark struct{ state int64 }

func (w *readWatermark) CurrentWatermark() time.Time { return time.UnixMilli(w.state) }

func (w *readWatermark) advance(ms int64) {
	if ms > w.state {
		w.state = ms
	}
}

// orderedFn reads Files one after the other, checkpointing every Every entries so that the
// runner takes the watermark it reports.
type orderedFn struct {
	Format   InputFormat
	Progress string // progress.Counters key; "" for none
	Gate     string // inflight.Gate key; "" for none
	Disorder time.Duration
	AnyOrder bool
	Every    int

	store *objstore.Store
	open  *input // the file being read, kept across checkpoints
	openF int
	openR int64
}

func (f *orderedFn) Teardown() error {
	f.closeOpen()
	if f.store != nil {
		return f.store.Close()
	}
	return nil
}

func (f *orderedFn) closeOpen() {
	if f.open != nil {
		f.open.Close()
		f.open = nil
	}
}

func (f *orderedFn) CreateInitialRestriction(_ Files) cursor {
	return cursor{MaxP: mtime.MinTimestamp.Milliseconds()}
}
func (f *orderedFn) SplitRestriction(_ Files, r cursor) []cursor { return []cursor{r} }
func (f *orderedFn) RestrictionSize(_ Files, _ cursor) float64   { return 1 }
func (f *orderedFn) CreateTracker(r cursor) *sdf.LockRTracker {
	return sdf.NewLockRTracker(&cursorTracker{rest: r, claimed: r})
}
func (f *orderedFn) TruncateRestriction(_ *sdf.LockRTracker, _ Files) cursor {
	return cursor{Done: true}
}
func (f *orderedFn) InitialWatermarkEstimatorState(_ beam.EventTime, _ cursor, _ Files) int64 {
	return mtime.MinTimestamp.Milliseconds()
}
func (f *orderedFn) CreateWatermarkEstimator(state int64) *readWatermark {
	return &readWatermark{state: state}
}
func (f *orderedFn) WatermarkEstimatorState(w *readWatermark) int64 { return w.state }

func (f *orderedFn) ProcessElement(ctx context.Context, w *readWatermark, rt *sdf.LockRTracker, fs Files, emit func(beam.EventTime, message.Message), emitDead func(beam.EventTime, message.DeadLetter), emitBad func(string)) (sdf.ProcessContinuation, error) {
	c := rt.GetRestriction().(cursor)
	if c.Done {
		return sdf.StopProcessing(), nil
	}
	if f.store == nil {
		st, err := objstore.Open(ctx, fs.Paths[0])
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		f.store = st
	}
	inflight.For(f.Gate).Wait(ctx)
	disorder := f.Disorder.Milliseconds()
	prog := progress.For(f.Progress)
	if c.File == 0 && c.Record == 0 {
		prog.SetFiles(len(fs.Paths))
	}
	read := int64(0)
	defer func() {
		prog.Read(read, max(c.MaxP, 0))
		if f.open != nil {
			prog.Reading(f.open.Position())
		}
	}()
	for n := 0; n < f.Every; n++ {
		if c.File >= len(fs.Paths) {
			c.Done = true
			rt.TryClaim(c)
			return sdf.StopProcessing(), nil
		}
		path := fs.Paths[c.File]
		if f.open == nil || f.openF != c.File || f.openR != c.Record {
			f.closeOpen()
			recs, err := openRecords(ctx, f.store, path, f.Format, c.Record)
			if err != nil {
				return nil, err
			}
			f.open, f.openF, f.openR = recs, c.File, c.Record
		}
		rec, err := f.open.Next()
		if errors.Is(err, io.EOF) {
			f.closeOpen()
			filesRead.Inc(ctx, 1)
			prog.FileRead()
			next := cursor{File: c.File + 1, MaxP: c.MaxP}
			if !rt.TryClaim(next) {
				return sdf.StopProcessing(), nil
			}
			c = next
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("replay %s record %d: %w", path, c.Record+1, err)
		}
		f.openR++
		next := c
		next.Record++
		if rec.ok && !f.AnyOrder {
			if p := rec.msg.PublishTime; p < c.MaxP-disorder {
				return nil, fmt.Errorf("replay %s record %d: published at %s, %v before %s already read, more than the %v of disorder allowed: "+
					"the input must be ordered by publish time within each file, and its files named in time order; "+
					"sort it, allow more disorder (--input_disorder), or read it in any order (--input_disorder=any, which holds the whole replay in memory)",
					path, next.Record, time.UnixMilli(p).UTC().Format(time.RFC3339Nano), time.Duration(c.MaxP-p)*time.Millisecond,
					time.UnixMilli(c.MaxP).UTC().Format(time.RFC3339Nano), f.Disorder)
			}
			next.MaxP = max(c.MaxP, rec.msg.PublishTime)
			if hour := next.MaxP / hourMs; c.MaxP/hourMs != hour && c.MaxP > mtime.MinTimestamp.Milliseconds() {
				// Progress, as log lines: the close step logs each bucket it closes.
				slog.Info("replay read", "up_to", time.UnixMilli(hour*hourMs).UTC().Format(time.RFC3339),
					"file", c.File+1, "files", len(fs.Paths), "record", next.Record, "path", path)
			}
		}
		if !rt.TryClaim(next) {
			// A split took the rest; the residual reads this entry again.
			f.closeOpen()
			return sdf.StopProcessing(), nil
		}
		c = next
		read++
		emitRecord(ctx, rec, emit, emitDead, emitBad)
	}
	if !f.AnyOrder && c.MaxP > mtime.MinTimestamp.Milliseconds() {
		w.advance(c.MaxP - disorder)
	}
	return sdf.ResumeProcessingIn(0), nil
}

func emitRecord(ctx context.Context, rec record, emit func(beam.EventTime, message.Message), emitDead func(beam.EventTime, message.DeadLetter), emitBad func(string)) {
	recordsRead.Inc(ctx, 1)
	switch {
	case !rec.ok:
		unreadable.Inc(ctx, 1)
		emitBad(rec.raw)
	case rec.reason != "":
		emitDead(mtime.FromMilliseconds(rec.msg.PublishTime), message.DeadLetter{Message: rec.msg, Reason: rec.reason})
	default:
		emit(mtime.FromMilliseconds(rec.msg.PublishTime), rec.msg)
	}
}

// fileFn reads one whole file, for bounded reads.
type fileFn struct {
	Format   InputFormat
	Progress string
	store    *objstore.Store
}

func (f *fileFn) Teardown() error {
	if f.store != nil {
		return f.store.Close()
	}
	return nil
}

func (f *fileFn) ProcessElement(ctx context.Context, path string, emit func(beam.EventTime, message.Message), emitDead func(beam.EventTime, message.DeadLetter), emitBad func(string)) error {
	if f.store == nil {
		st, err := objstore.Open(ctx, path)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		f.store = st
	}
	recs, err := openRecords(ctx, f.store, path, f.Format, 0)
	if err != nil {
		return err
	}
	defer recs.Close()
	for i := int64(1); ; i++ {
		rec, err := recs.Next()
		if errors.Is(err, io.EOF) {
			filesRead.Inc(ctx, 1)
			prog := progress.For(f.Progress)
			prog.Read(i-1, 0)
			prog.FileRead()
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay %s record %d: %w", path, i, err)
		}
		emitRecord(ctx, rec, emit, emitDead, emitBad)
	}
}

// beatFn sends a heartbeat for every bucket from the first publish hour it sees on, once
// per bucket and DoFn instance, stamped for that bucket, so that the buckets without data
// between the first and the last close too. It follows orderedFn, which runs once, in
// one instance.
type beatFn struct {
	Width, Skew time.Duration
	last        int64
	started     bool
}

func (f *beatFn) ProcessElement(_ beam.EventTime, m message.Message, emit func(beam.EventTime, message.Entry)) {
	l := output.Layout{Width: f.Width, Skew: f.Skew}
	h := l.Start(m.PublishTime)
	if !f.started {
		f.started, f.last = true, h
		emit(mtime.FromMilliseconds(l.Stamp(h)), message.Entry{Bucket: h})
		return
	}
	for ; f.last < h; f.last = l.Next(f.last) {
		emit(mtime.FromMilliseconds(l.Stamp(l.Next(f.last))), message.Entry{Bucket: l.Next(f.last)})
	}
}
