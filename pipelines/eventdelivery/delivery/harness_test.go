package delivery

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/replaygen"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

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
		Layout:     bucket.Layout{Width: time.Hour, Skew: 30 * time.Minute, MaxFuture: 10 * time.Minute},
		Shards:     2,
		RunID:      "r1",
		Version:    "test",
		NowMs:      ts("2030-01-01T00:00:00Z").UnixMilli(),
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

// runStream runs the pipeline for cfg on the stream and returns what it wrote.
func runStream(t *testing.T, cfg Config, c teststream.Config) *outputtree.Tree {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	Deliver(s, cfg, teststream.Create(s, c), beam.PCollection{})
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	return readTree(t, cfg)
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
