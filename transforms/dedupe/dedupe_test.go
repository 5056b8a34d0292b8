package dedupe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window/trigger"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/dedupe"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function1x1[message.Batch, string](describe)
	register.Function2x0[message.Batch, func(string)](keptIDs)
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

// TestDedupeAgainstFiles: the files in the output are the truth. Ids that another run's files
// hold are duplicates; so are ids in this run's files of another pane of the same bucket,
// earlier or later (the state that should have known them may be lost, or that pane came
// first), but not those in a file of the pane being deduped, which a retried bundle rewrites.
func TestDedupeAgainstFiles(t *testing.T) {
	root := t.TempDir()
	target := output.Target{Root: root, EventType: "e", Layout: output.Layout{Width: time.Hour, Skew: time.Minute}, RunID: "r1"}
	write := func(run string, pane int64, ids ...string) {
		t.Helper()
		name := output.FileName(run, pane, 0)
		w := avrofile.NewWriter(`"string"`, name, avrofile.Meta{Key: output.MetaIDs, Value: output.IDsMeta(ids)})
		path := filepath.Join(target.Dir(1*hour), name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, w.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("r1-b", 0, "other")   // another run, whose id starts with this one's
	write("r1", 0, "lost")      // this run's pane 0, which the state does not know of
	write("r1", 3, "rewritten") // the pane "rewritten" comes in
	write("r1", 9, "later")     // a later pane of this run, done first

	p, s := beam.NewPipelineWithRoot()
	c := teststream.NewConfig()
	for i, id := range []string{"first", "other", "lost", "rewritten", "new", "later"} {
		if err := c.AddElements(hour+int64(i), event(id, 1, int64(i), "m-"+id)); err != nil {
			t.Fatal(err)
		}
		if err := c.AdvanceWatermark(hour + int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	// One pane per element: "first" is pane 0, the others panes 1 to 5.
	events := beam.WindowInto(s, window.NewFixedWindows(time.Hour), teststream.Create(s, c),
		beam.Trigger(trigger.AfterEndOfWindow().EarlyFiring(trigger.Repeat(trigger.AfterCount(1)))), beam.PanesDiscard())
	batches := dedupe.Dedupe(s, events, 1, dedupe.AcrossRuns(target, 2*hour))
	kept := beam.ParDo(s, keptIDs, batches)
	beamtest.Equals(s, kept, "first", "rewritten", "new")
	beamtest.Run(t, p)
}

func keptIDs(b message.Batch, emit func(string)) {
	for _, e := range b.Events {
		emit(e.ID)
	}
}
