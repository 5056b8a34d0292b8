package benchmark

import (
	"bytes"
	"maps"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// fileSize is how many records go into one file in the per-event benchmarks: the cost of a
// file's header and blocks is spread over them, as in the pipeline.
const fileSize = 1000

// sample returns valid play-track messages in Avro binary, as the replay benchmark has them.
func sample(b *testing.B) []message.Message {
	b.Helper()
	msgs, err := replaygen.Generate(replaygen.Spec{
		Start: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC), Span: time.Hour, Events: 2000,
		Skewed: 0.02, Future: 0.01, Seed: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]message.Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.Message)
	}
	return out
}

func codec(b *testing.B) *goavro.Codec {
	c, err := goavro.NewCodec(replaygen.Schema)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPerEvent measures the work the pipeline's DoFns do for each event, one event per
// op (ns/op and allocs/op are per event), and goavro's floor for the same events: decode to
// native form and append to an object container file. benchreport prints the ratios.
func BenchmarkPerEvent(b *testing.B) {
	msgs := sample(b)
	cfg := Config("", "")
	d, err := decode.New(cfg.Decode())
	if err != nil {
		b.Fatal(err)
	}
	events := make([]message.Event, len(msgs))
	for i, m := range msgs {
		e, reason := d.Decode(m)
		if reason != "" {
			b.Fatalf("message %s: %s", m.ID, reason)
		}
		events[i] = e
	}
	layout := cfg.Layout

	// The project's DoFns, one piece at a time.
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, reason := d.Decode(msgs[i%len(msgs)]); reason != "" {
				b.Fatal(reason)
			}
		}
	})
	b.Run("place", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		for i := 0; b.Loop(); i++ {
			e := &events[i%len(events)]
			start, _ := layout.Place(e.Time, e.PublishTime)
			sum += layout.Stamp(start)
		}
		_ = sum
	})
	b.Run("shard", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for i := 0; b.Loop(); i++ {
			sum += output.Shard(events[i%len(events)].ID, cfg.Shards)
		}
		_ = sum
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var w *avrofile.Writer
		for i := 0; b.Loop(); i++ {
			if i%fileSize == 0 {
				if w != nil {
					w.Bytes()
				}
				w = avrofile.NewWriter(cfg.Schema, "part-bench-0-0.avro")
			}
			w.Append(events[i%len(events)].Record)
		}
		w.Bytes()
	})
	// All of it: what one event costs in the project's DoFns.
	b.Run("path", func(b *testing.B) { eventPath(b, cfg, d, msgs) })
	// The path when schema revisions are known (issue 15): messages naming the reader's own
	// revision, then messages of an older revision that need resolution into the reader
	// schema (ms_played an int, no platform field).
	cur, old := resolvedSample(b, msgs)
	for _, tc := range []struct {
		name string
		msgs []message.Message
	}{{"path-current-revision", cur}, {"path-resolved", old}} {
		rcfg := cfg.Decode()
		rcfg.Revisions = map[string]string{"cur": replaygen.Schema, "old": oldPlayTrack}
		rd, err := decode.New(rcfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) { eventPath(b, cfg, rd, tc.msgs) })
	}
	// The same path with goavro's OCF writer, as the sink wrote before: every record is
	// decoded again and re-encoded.
	b.Run("path-goavro-writer", func(b *testing.B) {
		c := codec(b)
		b.ReportAllocs()
		var batch []any
		for i := 0; b.Loop(); i++ {
			e, reason := d.Decode(msgs[i%len(msgs)])
			if reason != "" {
				b.Fatal(reason)
			}
			layout.Place(e.Time, e.PublishTime)
			output.Shard(e.ID, cfg.Shards)
			n, _, err := c.NativeFromBinary(e.Record)
			if err != nil {
				b.Fatal(err)
			}
			if batch = append(batch, n); len(batch) == fileSize {
				goavroFile(b, c, goavro.CompressionSnappyLabel, batch)
				batch = batch[:0]
			}
		}
	})

	// goavro's floor: decode each message to native form, append it to a file.
	for _, compression := range []string{goavro.CompressionSnappyLabel, goavro.CompressionNullLabel, goavro.CompressionDeflateLabel} {
		b.Run("floor-"+compression, func(b *testing.B) {
			c := codec(b)
			b.ReportAllocs()
			var batch []any
			for i := 0; b.Loop(); i++ {
				n, rest, err := c.NativeFromBinary(msgs[i%len(msgs)].Data)
				if err != nil || len(rest) > 0 {
					b.Fatal(err)
				}
				if batch = append(batch, n); len(batch) == fileSize {
					goavroFile(b, c, compression, batch)
					batch = batch[:0]
				}
			}
		})
	}
	b.Run("goavro-decode", func(b *testing.B) {
		c := codec(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := c.NativeFromBinary(msgs[i%len(msgs)].Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// eventPath decodes each message with d, places, shards and appends it to a file of fileSize
// records: what one event costs in the project's DoFns.
func eventPath(b *testing.B, cfg delivery.Config, d *decode.Decoder, msgs []message.Message) {
	b.ReportAllocs()
	var w *avrofile.Writer
	sum := 0
	for i := 0; b.Loop(); i++ {
		if i%fileSize == 0 {
			if w != nil {
				w.Bytes()
			}
			w = avrofile.NewWriter(cfg.Schema, "part-bench-0-0.avro")
		}
		e, reason := d.Decode(msgs[i%len(msgs)])
		if reason != "" {
			b.Fatal(reason)
		}
		start, _ := cfg.Layout.Place(e.Time, e.PublishTime)
		sum += output.Shard(e.ID, cfg.Shards) + int(start&1)
		w.Append(e.Record)
	}
	w.Bytes()
	_ = sum
}

// oldPlayTrack is an older revision of play-track: ms_played an int, no platform.
const oldPlayTrack = `{"type": "record", "name": "PlayTrack", "namespace": "com.example.events", "fields": [
  {"name": "event_id", "type": "string"}, {"name": "user_id", "type": "string"}, {"name": "track_id", "type": "string"},
  {"name": "ms_played", "type": "int"},
  {"name": "client_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}`

// resolvedSample returns msgs naming the reader's revision "cur", and msgs re-encoded in
// the older revision "old".
func resolvedSample(b *testing.B, msgs []message.Message) (cur, old []message.Message) {
	c, o := codec(b), func() *goavro.Codec {
		c, err := goavro.NewCodec(oldPlayTrack)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}()
	for _, m := range msgs {
		n, _, err := c.NativeFromBinary(m.Data)
		if err != nil {
			b.Fatal(err)
		}
		rec := n.(map[string]any)
		delete(rec, "platform")
		rec["ms_played"] = int32(rec["ms_played"].(int64) % (1 << 31))
		data, err := o.BinaryFromNative(nil, rec)
		if err != nil {
			b.Fatal(err)
		}
		with := func(rev string, data []byte) message.Message {
			m := m
			m.Attributes = maps.Clone(m.Attributes)
			m.Attributes["googclient_schemarevisionid"] = rev
			m.Data = data
			return m
		}
		cur = append(cur, with("cur", m.Data))
		old = append(old, with("old", data))
	}
	return cur, old
}

func goavroFile(b *testing.B, c *goavro.Codec, compression string, natives []any) []byte {
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Codec: c, CompressionName: compression, SyncMarker: avrofile.SyncMarker("part-bench-0-0.avro")})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Append(natives); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
