package heartbeat

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*tick)(nil)).Elem())
	register.DoFn5x2[context.Context, *clockWatermark, *sdf.LockRTracker, []byte, func(beam.EventTime, message.Entry), sdf.ProcessContinuation, error](&clockFn{})
}

// Clock returns PCollection<message.Entry>: every `every`, on the wall clock, a heartbeat
// for the oldest bucket still open (the bucket of now − L), so that a live job closes every
// bucket, empty ones too, even when its subscription is idle. Its watermark follows the
// clock. It runs until stopper (may be nil) is stopped; then it finishes and the pipeline
// can drain. Between gives it a clock of its own instead of the wall clock.
func Clock(s beam.Scope, l output.Layout, every time.Duration, stopper *stop.Stopper, opts ...ClockOption) beam.PCollection {
	s = s.Scope("heartbeat.Clock")
	if every <= 0 {
		panic(fmt.Sprintf("heartbeat.Clock: every is %v, must be positive", every))
	}
	fn := &clockFn{Width: l.Width, Skew: l.Skew, Every: every}
	if stopper != nil {
		fn.StopKey = stopper.Key()
	}
	for _, o := range opts {
		o(fn)
	}
	return beam.ParDo(s, fn, beam.Impulse(s))
}

// ClockOption configures Clock.
type ClockOption func(*clockFn)

// Between runs the clock on a time of its own, as Beam's periodic.Impulse takes a start and
// an end: its ticks are start, start + every, … up to end, all emitted at once (they are in
// the past of that clock), and then it finishes. Tests use it to drive the clock without
// waiting; the heartbeats are exactly those of a wall clock that read those times.
func Between(start, end time.Time) ClockOption {
	return func(f *clockFn) {
		f.StartMs, f.EndMs = start.UnixMilli(), end.UnixMilli()
		if f.EndMs < f.StartMs {
			panic(fmt.Sprintf("heartbeat.Between: end %v before start %v", end, start))
		}
	}
}

// tick is the clock's restriction: it has no offsets; Done finishes it.
type tick struct{ Done bool }

type clockTracker struct {
	rest tick
	done bool
}

func (t *clockTracker) TryClaim(pos any) bool {
	if t.done {
		return false
	}
	if stopNow, _ := pos.(bool); stopNow {
		t.done = true
		return false
	}
	return true
}
func (t *clockTracker) GetError() error { return nil }
func (t *clockTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.done || fraction > 0 {
		return t.rest, nil, nil
	}
	t.done = true
	return tick{Done: true}, tick{}, nil
}
func (t *clockTracker) GetProgress() (done, remaining float64) { return 0, 1 }
func (t *clockTracker) IsDone() bool                           { return t.done }
func (t *clockTracker) GetRestriction() any                    { return t.rest }
func (t *clockTracker) IsBounded() bool                        { return false }

// clockWatermark follows the wall clock; it never moves back.
type clockWatermark struct{ state int64 }

func (w *clockWatermark) CurrentWatermark() time.Time { return time.UnixMilli(w.state) }

type clockFn struct {
	Width, Skew, Every time.Duration
	StopKey            string
	// StartMs and EndMs, when EndMs is set, are the clock's own span (Between); otherwise
	// it reads the wall clock until stopped.
	StartMs, EndMs int64
}

func (f *clockFn) CreateInitialRestriction(_ []byte) tick   { return tick{} }
func (f *clockFn) SplitRestriction(_ []byte, r tick) []tick { return []tick{r} }
func (f *clockFn) RestrictionSize(_ []byte, _ tick) float64 { return 1 }
func (f *clockFn) CreateTracker(r tick) *sdf.LockRTracker {
	return sdf.NewLockRTracker(&clockTracker{rest: r, done: r.Done})
}
func (f *clockFn) TruncateRestriction(_ *sdf.LockRTracker, _ []byte) tick { return tick{Done: true} }
func (f *clockFn) InitialWatermarkEstimatorState(_ beam.EventTime, _ tick, _ []byte) int64 {
	if f.EndMs != 0 {
		return f.StartMs
	}
	return time.Now().UnixMilli()
}
func (f *clockFn) CreateWatermarkEstimator(state int64) *clockWatermark {
	return &clockWatermark{state: state}
}
func (f *clockFn) WatermarkEstimatorState(w *clockWatermark) int64 { return w.state }

func (f *clockFn) ProcessElement(_ context.Context, w *clockWatermark, rt *sdf.LockRTracker, _ []byte, emit func(beam.EventTime, message.Entry)) (sdf.ProcessContinuation, error) {
	if stop.Stopped(f.StopKey) {
		rt.TryClaim(true)
		return sdf.StopProcessing(), nil
	}
	if !rt.TryClaim(false) {
		return sdf.StopProcessing(), nil
	}
	if f.EndMs != 0 {
		for now := f.StartMs; now <= f.EndMs; now += f.Every.Milliseconds() {
			f.beat(now, w, emit)
		}
		rt.TryClaim(true)
		return sdf.StopProcessing(), nil
	}
	f.beat(time.Now().UnixMilli(), w, emit)
	return sdf.ResumeProcessingIn(f.Every), nil
}

// beat emits the heartbeat of the clock reading now, and moves the watermark to now.
func (f *clockFn) beat(now int64, w *clockWatermark, emit func(beam.EventTime, message.Entry)) {
	l := output.Layout{Width: f.Width, Skew: f.Skew}
	h := l.Start(now - f.Skew.Milliseconds())
	emit(mtime.FromMilliseconds(l.Stamp(h)), message.Entry{Bucket: h})
	// The watermark follows the clock: the heartbeat just emitted is stamped after now.
	if now > w.state {
		w.state = now
	}
}
