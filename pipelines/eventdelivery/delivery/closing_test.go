package delivery

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.Function1x1[message.Message, message.Entry](earlyBeat)
}

// earlyBeat is a careless wall clock: a heartbeat for the hour a message was published in,
// stamped when it was published, long before the hour's close time.
func earlyBeat(m message.Message) message.Entry {
	h := time.Hour.Milliseconds()
	return message.Entry{Bucket: m.PublishTime - m.PublishTime%h}
}

// TestHoursCloseAsTheStreamGoes runs the live graph (heartbeats, no gap filler) on a
// TestStream: 10h closes when the watermark passes 11:30, while the stream goes on. A
// heartbeat stamped at the start of its hour must not close the hour early: the event that
// reaches 10h within its lateness (e2, published 11:10) must be in it, not dropped as
// already delivered. An event of 10h delivered for the first time after the job closed 10h
// (e4, stamped with the watermark as pubsubread stamps it) moves to 11h as skewed. (That a
// live job never takes its own closed hour for a rerun, output.Target.Rerun, is tested in
// transforms/bucket: here placement moves e4 by its stamp before it asks for the manifest.)
func TestHoursCloseAsTheStreamGoes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Subscription = "projects/p/subscriptions/play-track"
	c := teststream.NewConfig()
	c.AddElements(ts("2026-11-20T10:05:00Z").UnixMilli(), event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T11:05:00Z").UnixMilli())
	c.AddElements(ts("2026-11-20T11:10:00Z").UnixMilli(), event("m2", "e2", "2026-11-20T11:10:00Z", "2026-11-20T10:50:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T11:40:00Z").UnixMilli()) // 10h closes at 11:30
	c.AddElements(ts("2026-11-20T11:45:00Z").UnixMilli(),
		event("m3", "e3", "2026-11-20T11:45:00Z", "2026-11-20T11:44:00Z"),
		// Delivered for the first time after 10h closed, stamped with the watermark as the
		// reader stamps it: late, not already delivered.
		event("m4", "e4", "2026-11-20T10:06:00Z", "2026-11-20T10:05:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T12:45:00Z").UnixMilli()) // 11h closes at 12:30
	c.AdvanceWatermarkToInfinity()

	p, s := beam.NewPipelineWithRoot()
	msgs := teststream.Create(s, c)
	Deliver(s, cfg, msgs, beam.PCollection{}, beam.ParDo(s, earlyBeat, msgs))
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg)
	if got := tree.Dirs(); !reflect.DeepEqual(got, []string{"2026/11/20/10", "2026/11/20/11"}) {
		t.Fatalf("buckets = %v, want 10h and 11h", got)
	}
	for dir, want := range map[string][]string{"2026/11/20/10": {"e1", "e2"}, "2026/11/20/11": {"e3", "e4"}} {
		b := tree.Buckets[dir]
		if got := ids(b); !reflect.DeepEqual(got, want) || b.Manifest == nil || b.Manifest.Records != int64(len(want)) {
			t.Errorf("%s holds %v (manifest %+v), want %v", dir, got, b.Manifest, want)
		}
	}
	if m := tree.Buckets["2026/11/20/11"].Manifest; m != nil && m.Skewed != 1 {
		t.Errorf("11h counts %d skewed, want 1 (e4)", m.Skewed)
	}
}
