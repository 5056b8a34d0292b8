package delivery

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn1x2[int64, beam.EventTime, int64](&stampFn{})
}

func TestMain(m *testing.M) {
	// Prism leaves a file in TMPDIR on every run.
	dir, err := os.MkdirTemp("", "delivery-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", dir)
	code := ptest.MainRetWithDefault(m, "prism")
	pubsubemu.CloseShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ts parses an RFC3339 time in UTC.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// testConfig is the play-track event type with hour buckets, bucket time from the record's
// client_time, L = 30m and a wall clock far ahead, writing to a fresh folder.
func testConfig(t *testing.T) Config {
	return Config{
		EventType:  "play-track",
		Schema:     replaygen.Schema,
		Output:     t.TempDir(),
		BucketTime: decode.Source{Kind: decode.Field, Name: "client_time"},
		EventID:    decode.Source{Kind: decode.Attribute, Name: "event_id"},
		Layout:     output.Layout{Width: time.Hour, Skew: 30 * time.Minute, MaxFuture: 10 * time.Minute},
		Shards:     2,
		RunID:      "r1",
		Version:    "test",
		NowMs:      ts("2030-01-01T00:00:00Z").UnixMilli(),

		InputDisorder: time.Minute, // the flag's default: generated copies come up to 20s late
	}
}

var codec = func() *goavro.Codec {
	c, err := goavro.NewCodec(replaygen.Schema)
	if err != nil {
		panic(err)
	}
	return c
}()

// event returns a play-track message with the given event id, published at p, with client
// time t, in Avro binary.
func event(msgID, eventID, p, t string) message.Message {
	data, err := codec.BinaryFromNative(nil, map[string]any{
		"event_id": eventID, "user_id": "u1", "track_id": "t1", "ms_played": int64(1000),
		"client_time": ts(t), "platform": nil,
	})
	if err != nil {
		panic(err)
	}
	return message.Message{ID: msgID, PublishTime: ts(p).UnixMilli(), Attributes: map[string]string{"event_id": eventID}, Data: data}
}

// stream builds a TestStream: each batch is added at the publish time of its first message
// and followed by a watermark step to just before the next batch (stateful stages run only
// when the watermark moves); the watermark ends at infinity.
func stream(batches ...[]message.Message) teststream.Config {
	c := teststream.NewConfig()
	for _, b := range batches {
		var elems []any
		for _, m := range b {
			elems = append(elems, m)
		}
		if err := c.AddElements(b[0].PublishTime, elems...); err != nil {
			panic(err)
		}
		last := b[0].PublishTime
		for _, m := range b {
			last = max(last, m.PublishTime)
		}
		if err := c.AdvanceWatermark(last); err != nil {
			panic(err)
		}
	}
	if err := c.AdvanceWatermarkToInfinity(); err != nil {
		panic(err)
	}
	return c
}

// runStream runs the pipeline for cfg on the stream and returns what it wrote. It runs it
// twice, from the same output as it was: as a replay, whose gap filler closes every bucket
// at the end of input, and as a live job on Pub/Sub, whose clock sends a heartbeat for every
// bucket so that each closes once the watermark passes it, while the stream goes on. Both
// must write the same objects, byte for byte: streaming semantics do not depend on which
// graph runs them.
//
// A live job never reuses a run id: when the output already holds files of cfg.RunID (a
// replay run again), only the replay graph runs.
func runStream(t *testing.T, cfg Config, c teststream.Config) *outputtree.Tree {
	t.Helper()
	live := cfg
	live.Subscription = "projects/test/subscriptions/" + cfg.EventType
	live.Output = t.TempDir()
	if err := os.CopyFS(live.Output, os.DirFS(cfg.Output)); err != nil {
		t.Fatal(err)
	}
	rerun := false
	filepath.WalkDir(cfg.Output, func(path string, d fs.DirEntry, err error) error {
		rerun = rerun || strings.HasPrefix(d.Name(), "part-"+cfg.RunID+"-")
		return err
	})

	p, s := beam.NewPipelineWithRoot()
	Deliver(s, cfg, teststream.Create(s, c), beam.PCollection{})
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg)
	if rerun {
		return tree
	}

	// The clock beats for the buckets the replay's gap filler closed: its first to its last.
	var starts []int64
	if dirs := tree.Dirs(); len(dirs) > 0 {
		first, last := dirStart(t, cfg, dirs[0]), dirStart(t, cfg, dirs[len(dirs)-1])
		for b := first; b <= last; b = cfg.Layout.Next(b) {
			starts = append(starts, b)
		}
	}
	p, s = beam.NewPipelineWithRoot()
	msgs := teststream.Create(s, c)
	clock := heartbeat.Beats(s, beam.ParDo(s, &stampFn{Layout: cfg.Layout}, beam.CreateList(s, starts)))
	Deliver(s, live, msgs, beam.PCollection{}, clock)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("live pipeline failed: %v", err)
	}
	liveTree := readTree(t, live)
	for _, name := range slices.Sorted(maps.Keys(tree.Objects)) {
		// An Avro file's sync marker derives from its full path, which differs.
		want, got := tree.Objects[name], liveTree.Objects[name]
		if path.Ext(name) == ".avro" {
			got = bytes.ReplaceAll(got, syncOf(live, name), syncOf(cfg, name))
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s: the live graph wrote %q, the replay graph %q", name, got, want)
		}
	}
	for name := range liveTree.Objects {
		if _, ok := tree.Objects[name]; !ok {
			t.Errorf("%s: only the live graph wrote it", name)
		}
	}
	return tree
}

// syncOf returns the sync marker of the Avro file at name, relative to the event type's
// folder of cfg's output.
func syncOf(cfg Config, name string) []byte {
	m := avrofile.SyncMarker(output.Join(output.Join(cfg.Output, cfg.EventType), name))
	return m[:]
}

// forLayouts runs test once per folder layout, with testConfig in that layout: the tree's
// semantics do not depend on how its folders are named.
func forLayouts(t *testing.T, test func(*testing.T, Config)) {
	for _, paths := range []output.Paths{output.DatePaths, output.HivePaths} {
		t.Run(string(paths), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Layout.Paths = paths
			test(t, cfg)
		})
	}
}

// dirAt returns the folder of the bucket starting at start (RFC3339), relative to the event
// type's folder.
func dirAt(cfg Config, start string) string { return cfg.Layout.RelDir(ts(start).UnixMilli()) }

// dirStart returns the start of the bucket in dir, relative to the event type's folder.
func dirStart(t *testing.T, cfg Config, dir string) int64 {
	t.Helper()
	start, err := cfg.Layout.ParseDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return start
}

// stampFn stamps a bucket start for its bucket, as heartbeat.Clock stamps its heartbeats.
type stampFn struct {
	Layout output.Layout
}

func (f *stampFn) ProcessElement(start int64) (beam.EventTime, int64) {
	return mtime.FromMilliseconds(f.Layout.Stamp(start)), start
}

func readTree(t *testing.T, cfg Config) *outputtree.Tree {
	t.Helper()
	tree, err := outputtree.Read(context.Background(), cfg.Output, cfg.EventType)
	if err != nil {
		t.Fatalf("reading the output: %v", err)
	}
	if problems := tree.Check(); len(problems) > 0 {
		t.Errorf("output breaks the contract:\n%v", problems)
	}
	return tree
}

// ids returns the sorted event ids in a bucket's files.
func ids(b *outputtree.Bucket) []string {
	var out []string
	for _, recs := range b.Files {
		for _, r := range recs {
			out = append(out, r["event_id"].(string))
		}
	}
	sort.Strings(out)
	return out
}
