package sink_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/sink"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function2x1[beam.EventTime, message.Entry, string](describe)
}

const schema = `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}`

var hour = time.Hour.Milliseconds()

// describe shows an entry as "file (bucket) records duplicates skewed @ stamp".
func describe(ts beam.EventTime, e message.Entry) string {
	return fmt.Sprintf("%s (%d) %d %d %d @ %d", path.Base(e.Name), e.Bucket/hour, e.Records, e.Duplicates, e.Skewed, ts.Milliseconds()/hour)
}

func record(id string) []byte { return append(binary.AppendVarint(nil, int64(len(id))), id...) }

func batch(bucket, pane int64, shard int, dups int64, ids ...string) message.Batch {
	b := message.Batch{Bucket: bucket * hour, Pane: pane, Shard: shard, Duplicates: dups}
	for _, id := range ids {
		b.Events = append(b.Events, message.Event{ID: id, Bucket: bucket * hour, Skewed: id == "late", Record: record(id)})
	}
	return b
}

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rerun    bool
		closedBy map[int64]string // bucket (hours) → run id of its manifest
		batches  []message.Batch
		want     []any
		files    map[string][]string // file under the event type's folder → ids
	}{
		{"a batch becomes one file named by run, pane and shard", false, nil,
			[]message.Batch{batch(1, 0, 2, 0, "b", "a")},
			[]any{"part-r2-0-2.avro (1) 2 0 0 @ 1"},
			map[string][]string{"1970/01/01/01/part-r2-0-2.avro": {"b", "a"}}},
		{"a pane of duplicates only writes no file, its count still goes on", false, nil,
			[]message.Batch{batch(1, 1, 0, 3)},
			[]any{". (1) 0 3 0 @ 1"}, nil},
		{"skewed events are counted", false, nil,
			[]message.Batch{batch(1, 0, 0, 0, "late", "a")},
			[]any{"part-r2-0-0.avro (1) 2 0 1 @ 1"},
			map[string][]string{"1970/01/01/01/part-r2-0-0.avro": {"late", "a"}}},
		{"a bucket another job closed: the batch moves to the next open one, skewed", false, map[int64]string{1: "r1", 2: "r1"},
			[]message.Batch{batch(1, 0, 0, 0, "a")},
			[]any{"part-r2-2000000-0.avro (3) 1 0 1 @ 3"},
			map[string][]string{"1970/01/01/03/part-r2-2000000-0.avro": {"a"}}},
		{"a batch moved there and that bucket's own pane of the shard are two files", false, map[int64]string{1: "r1"},
			[]message.Batch{batch(1, 0, 0, 0, "a"), batch(2, 0, 0, 0, "b")},
			[]any{"part-r2-1000000-0.avro (2) 1 0 1 @ 2", "part-r2-0-0.avro (2) 1 0 0 @ 2"},
			map[string][]string{"1970/01/01/02/part-r2-1000000-0.avro": {"a"}, "1970/01/01/02/part-r2-0-0.avro": {"b"}}},
		{"a bucket this replay closed already: nothing again", true, map[int64]string{1: "r2"},
			[]message.Batch{batch(1, 0, 0, 0, "a")},
			nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := output.Target{Root: t.TempDir(), EventType: "e", Layout: output.Layout{Width: time.Hour}, RunID: "r2", Rerun: tc.rerun}
			st, err := objstore.Open(ctx, tg.Root)
			if err != nil {
				t.Fatal(err)
			}
			for b, run := range tc.closedBy {
				m, _ := output.Manifest{RunID: run}.Marshal()
				if err := st.Write(ctx, tg.ManifestPath(b*hour), m); err != nil {
					t.Fatal(err)
				}
			}
			// Every batch's events and duplicates leave a replay's gate, whatever becomes of them.
			gate := inflight.New(0)
			defer gate.Release()
			for _, b := range tc.batches {
				gate.Enter(int64(len(b.Events)) + b.Duplicates)
			}
			p, s := beam.NewPipelineWithRoot()
			entries := sink.Write(s, beam.CreateList(s, tc.batches), sink.Config{Target: tg, Schema: schema, Gate: gate.Key()})
			beamtest.Equals(s, beam.ParDo(s, describe, entries), tc.want...)
			beamtest.Run(t, p)
			if n := gate.InFlight(); n != 0 {
				t.Errorf("%d events still in flight at the gate after the sink", n)
			}

			names, err := st.Walk(ctx, tg.Base())
			if err != nil {
				t.Fatal(err)
			}
			files := 0
			for _, n := range names {
				if !strings.HasSuffix(n, ".avro") {
					continue
				}
				files++
				rel := strings.TrimPrefix(n, tg.Base()+"/")
				data, _ := st.Read(ctx, n)
				_, recs, err := avrofile.Read(data)
				if err != nil {
					t.Fatalf("%s: %v", rel, err)
				}
				var ids []string
				for _, r := range recs {
					ids = append(ids, r.(map[string]any)["id"].(string))
				}
				if want, ok := tc.files[rel]; !ok || strings.Join(ids, " ") != strings.Join(want, " ") {
					t.Errorf("%s holds %v, want %v", rel, ids, want)
				}
			}
			if files != len(tc.files) {
				t.Errorf("%d files written, want %d", files, len(tc.files))
			}
		})
	}
}

func TestWriteRefusesABadSchema(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); !strings.HasPrefix(r, "sink.Write: schema") {
			t.Errorf("recovered %q, want a sink.Write schema panic", r)
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	sink.Write(s, beam.Create(s, batch(1, 0, 0, 0)), sink.Config{Schema: "{"})
}
