package heartbeat_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function2x1[beam.EventTime, message.Entry, string](describe)
}

// describe shows a heartbeat as "bucket @ stamp", both RFC3339, so that a test sees where it
// goes and when it counts.
func describe(ts beam.EventTime, e message.Entry) string {
	if e.Name != "" {
		return "not a heartbeat: " + e.Name
	}
	return fmt.Sprintf("%s @ %s", output.Format(e.Bucket), time.UnixMilli(ts.Milliseconds()).UTC().Format("15:04:05.000"))
}

var layout = output.Layout{Width: time.Hour, Skew: 30 * time.Minute}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end string
		every      time.Duration
		want       []any
	}{
		{"one tick: the oldest open bucket is that of now − L", "2026-11-20T10:20:00Z", "2026-11-20T10:20:00Z", time.Minute,
			[]any{"2026-11-20T09:00:00Z @ 10:29:59.999"}},
		{"the bucket moves on once now − L crosses the hour", "2026-11-20T10:20:00Z", "2026-11-20T10:40:00Z", 10 * time.Minute,
			[]any{"2026-11-20T09:00:00Z @ 10:29:59.999", "2026-11-20T10:00:00Z @ 11:29:59.999", "2026-11-20T10:00:00Z @ 11:29:59.999"}},
		{"a tick every `every` up to the end", "2026-11-20T10:30:00Z", "2026-11-20T12:30:00Z", time.Hour,
			[]any{"2026-11-20T10:00:00Z @ 11:29:59.999", "2026-11-20T11:00:00Z @ 12:29:59.999", "2026-11-20T12:00:00Z @ 13:29:59.999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			beats := heartbeat.Clock(s, layout, tc.every, nil, heartbeat.Between(at(tc.start), at(tc.end)))
			beamtest.Equals(s, beam.ParDo(s, describe, beats), tc.want...)
			beamtest.Run(t, p)
		})
	}
}

func TestFillGaps(t *testing.T) {
	h := at("2026-11-20T10:00:00Z").UnixMilli()
	hour := time.Hour.Milliseconds()
	for _, tc := range []struct {
		name string
		seen [][]int64
		want []any
	}{
		{"one bucket", [][]int64{{h}}, []any{"2026-11-20T10:00:00Z @ 11:29:59.999"}},
		{"the gap between two buckets is filled", [][]int64{{h + 3*hour, h}}, []any{
			"2026-11-20T10:00:00Z @ 11:29:59.999", "2026-11-20T11:00:00Z @ 12:29:59.999",
			"2026-11-20T12:00:00Z @ 13:29:59.999", "2026-11-20T13:00:00Z @ 14:29:59.999"}},
		{"buckets seen twice and in several inputs count once", [][]int64{{h, h}, {h + hour, h}}, []any{
			"2026-11-20T10:00:00Z @ 11:29:59.999", "2026-11-20T11:00:00Z @ 12:29:59.999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			var seen []beam.PCollection
			for _, b := range tc.seen {
				seen = append(seen, beam.CreateList(s, b))
			}
			beats := heartbeat.FillGaps(s, layout, seen...)
			beamtest.Equals(s, beam.ParDo(s, describe, beats), tc.want...)
			beamtest.Run(t, p)
		})
	}
}

func TestClockRefusesNoInterval(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("Clock with every = 0: no panic")
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	heartbeat.Clock(s, layout, 0, nil)
}
