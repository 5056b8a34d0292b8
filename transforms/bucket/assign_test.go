package bucket_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function2x0[message.Event, func(beam.EventTime, message.Event)](stampPublished)
	register.Function2x1[beam.EventTime, message.Event, string](describe)
	register.Emitter2[beam.EventTime, message.Event]()
}

// stampPublished stamps an event with its publish time, as a source does.
func stampPublished(e message.Event, emit func(beam.EventTime, message.Event)) {
	emit(mtime.FromMilliseconds(e.PublishTime), e)
}

// describe shows a placed event as "id: bucket @ stamp", the bucket's hour and the stamp's
// time of day, so that a test sees where it goes and when it is written.
func describe(ts beam.EventTime, e message.Event) string {
	return fmt.Sprintf("%s: %s @ %s", e.ID, time.UnixMilli(e.Bucket).UTC().Format("15:04"), time.UnixMilli(ts.Milliseconds()).UTC().Format("15:04:05.000"))
}

func at(s string) int64 {
	t, err := time.Parse(time.RFC3339, "2026-11-20T"+s+"Z")
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// AssignEarly stamps a bucket's events published before its end at its end − 1ms (their
// pane is written once the input passes it) and the others, late or moved there as
// skewed, at its close − 1ms, as Assign stamps all of them.
func TestAssignEarly(t *testing.T) {
	layout := output.Layout{Width: time.Hour, Skew: 30 * time.Minute, MaxFuture: 10 * time.Minute}
	events := []any{
		message.Event{ID: "on-time", Time: at("10:20:00"), PublishTime: at("10:20:01")},
		message.Event{ID: "last-ms", Time: at("10:59:59"), PublishTime: at("10:59:59.999")},
		message.Event{ID: "late", Time: at("10:59:00"), PublishTime: at("11:05:00")},
		message.Event{ID: "skewed", Time: at("08:00:00"), PublishTime: at("11:20:00")}, // to the oldest open bucket
		message.Event{ID: "ahead", Time: at("11:02:00"), PublishTime: at("10:58:00")},  // a clock a little ahead
	}
	onTimeWant := []any{"on-time: 10:00 @ 10:59:59.999", "last-ms: 10:00 @ 10:59:59.999", "ahead: 11:00 @ 11:59:59.999"}
	lateWant := []any{"late: 10:00 @ 11:29:59.999", "skewed: 10:00 @ 11:29:59.999"}
	t.Run("split", func(t *testing.T) {
		p, s := beam.NewPipelineWithRoot()
		tg := output.Target{Root: t.TempDir(), EventType: "e", Layout: layout, RunID: "r"}
		onTime, late, _ := bucket.AssignEarly(s, beam.ParDo(s, stampPublished, beam.Create(s, events...)), tg)
		beamtest.Equals(s, beam.ParDo(s, describe, onTime), onTimeWant...)
		beamtest.Equals(s, beam.ParDo(s, describe, late), lateWant...)
		beamtest.Run(t, p)
	})
	t.Run("Assign stamps every event at its bucket's close", func(t *testing.T) {
		p, s := beam.NewPipelineWithRoot()
		tg := output.Target{Root: t.TempDir(), EventType: "e", Layout: layout, RunID: "r"}
		placed, _ := bucket.Assign(s, beam.ParDo(s, stampPublished, beam.Create(s, events...)), tg)
		beamtest.Equals(s, beam.ParDo(s, describe, placed), "on-time: 10:00 @ 11:29:59.999", "last-ms: 10:00 @ 11:29:59.999",
			"late: 10:00 @ 11:29:59.999", "skewed: 10:00 @ 11:29:59.999", "ahead: 11:00 @ 12:29:59.999")
		beamtest.Run(t, p)
	})
}
