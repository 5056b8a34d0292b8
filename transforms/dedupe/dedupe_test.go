package dedupe_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/transforms/dedupe"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function1x1[message.Batch, string](describe)
}

// describe shows a batch as "bucket pane shard: id/message … (duplicates)".
func describe(b message.Batch) string {
	var ids []string
	for _, e := range b.Events {
		ids = append(ids, e.ID+"/"+e.MessageID)
	}
	return fmt.Sprintf("%d %d %d: %s (%d)", b.Bucket/hour, b.Pane, b.Shard, strings.Join(ids, " "), b.Duplicates)
}

var hour = time.Hour.Milliseconds()

// event is event id, in bucket (hours since the epoch), published at ms within the hour,
// as message msg.
func event(id string, bucket, ms int64, msg string) message.Event {
	return message.Event{ID: id, MessageID: msg, PublishTime: bucket*hour + ms, Time: bucket*hour + ms, Bucket: bucket * hour}
}

func TestDedupe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards int
		events []message.Event
		want   []any
	}{
		{"a copy of an id in the same bucket is dropped and counted", 1,
			[]message.Event{event("a", 1, 1, "m1"), event("b", 1, 2, "m2"), event("a", 1, 3, "m3")},
			[]any{"1 0 0: a/m1 b/m2 (1)"}},
		{"the copy kept is the first published", 1,
			[]message.Event{event("a", 1, 9, "m1"), event("a", 1, 5, "m2")},
			[]any{"1 0 0: a/m2 (1)"}},
		{"at the same publish time, the lowest message id", 1,
			[]message.Event{event("a", 1, 5, "m9"), event("a", 1, 5, "m3")},
			[]any{"1 0 0: a/m3 (1)"}},
		{"the same id in two buckets is two events", 1,
			[]message.Event{event("a", 1, 1, "m1"), event("a", 2, 1, "m2")},
			[]any{"1 0 0: a/m1 (0)", "2 0 0: a/m2 (0)"}},
		{"ids spread over shards by output.Shard; each shard dedupes its own", 2,
			[]message.Event{event("a", 1, 1, "m1"), event("b", 1, 2, "m2"), event("a", 1, 3, "m3"), event("b", 1, 4, "m4")},
			[]any{"1 0 0: a/m1 (1)", "1 0 1: b/m2 (1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			c := teststream.NewConfig()
			for _, e := range tc.events {
				if err := c.AddElements(e.PublishTime, e); err != nil {
					t.Fatal(err)
				}
			}
			last := slices.MaxFunc(tc.events, func(a, b message.Event) int { return int(a.PublishTime - b.PublishTime) })
			if err := c.AdvanceWatermark(last.PublishTime); err != nil {
				t.Fatal(err)
			}
			if err := c.AdvanceWatermarkToInfinity(); err != nil {
				t.Fatal(err)
			}
			events := beam.WindowInto(s, window.NewFixedWindows(time.Hour), teststream.Create(s, c))
			batches := beam.ParDo(s, describe, dedupe.Dedupe(s, events, tc.shards))
			beamtest.Equals(s, batches, tc.want...)
			beamtest.Run(t, p)
		})
	}
}

func TestDedupeRefusesNoShards(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); !strings.HasPrefix(r, "dedupe.Dedupe:") {
			t.Errorf("recovered %q, want a dedupe.Dedupe panic", r)
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	dedupe.Dedupe(s, beam.Create(s, event("a", 1, 1, "m")), 0)
}
