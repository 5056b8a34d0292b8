// Package benchmark measures the event-type pipeline: the per-event work of its DoFns next
// to goavro's floor, and the whole pipeline on Prism next to a passthrough baseline built
// from the same pieces, in the same run (`make bench`, docs/performance.md).
//
// The baseline lives here, not in the production graph: it reads the same replay, decodes
// and validates every message, keys it by shard of event id, groups by shard and writes
// each group as one Avro file. It has no buckets, no dedupe, no dead-letter files and no
// manifests: it is what Prism costs for moving the events at all.
package benchmark

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

func init() {
	register.DoFn2x0[message.Event, func(int, message.Event)](&shardFn{})
	register.DoFn4x1[context.Context, int, func(*message.Event) bool, func(int64), error](&writeFn{})
	register.Emitter1[int64]()
}

// Config returns the configuration both pipelines run with: the play-track event type,
// hour buckets by client time, L = 30m, 4 shards, input up to a minute out of order, a wall clock far ahead so that every hour
// closes, reading input and writing under output.
func Config(input, out string) delivery.Config {
	return delivery.Config{
		EventType: "play-track",
		Schema:    replaygen.Schema,
		Input:     input,
		// Generated copies are published up to 20s after the original.
		InputDisorder: time.Minute,
		Output:        out,
		BucketTime:    decode.Source{Kind: decode.Field, Name: "client_time"},
		EventID:       decode.Source{Kind: decode.Attribute, Name: "event_id"},
		Layout:        output.Layout{Width: time.Hour, Skew: 30 * time.Minute, MaxFuture: 10 * time.Minute},
		Shards:        4,
		FileRecords:   10000, // the flag's default
		RunID:         "bench",
		Version:       "bench",
		NowMs:         time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	}
}

// Baseline adds the passthrough pipeline for cfg to s: replay read → decode → shard →
// GroupByKey → one Avro file per group, under <output>/<event type>/baseline/. It returns
// PCollection<int64>, the records of each file written.
func Baseline(s beam.Scope, cfg delivery.Config) beam.PCollection {
	s = s.Scope("benchmark.Baseline")
	events, _ := decode.Decode(s, replay.Read(s, cfg.Input, cfg.Target(), replay.WithDisorder(cfg.InputDisorder)).Messages, cfg.Decode())
	keyed := beam.ParDo(s, &shardFn{Shards: cfg.Shards}, events)
	return beam.ParDo(s, &writeFn{Root: cfg.Output, Dir: output.Join(cfg.Output, cfg.EventType+"/baseline"), Schema: cfg.Schema}, beam.GroupByKey(s, keyed))
}

type shardFn struct{ Shards int }

func (f *shardFn) ProcessElement(e message.Event, emit func(int, message.Event)) {
	emit(output.Shard(e.ID, f.Shards), e)
}

type writeFn struct {
	Root, Dir, Schema string
	store             *objstore.Store
}

func (f *writeFn) Setup(ctx context.Context) (err error) {
	f.store, err = objstore.Open(ctx, f.Root)
	return err
}

func (f *writeFn) Teardown() error {
	if f.store != nil {
		return f.store.Close()
	}
	return nil
}

func (f *writeFn) ProcessElement(ctx context.Context, shard int, iter func(*message.Event) bool, emit func(int64)) error {
	name := output.Join(f.Dir, fmt.Sprintf("part-%d.avro", shard))
	w := avrofile.NewWriter(f.Schema, name)
	var e message.Event
	for iter(&e) {
		w.Append(e.Record)
	}
	if err := f.store.Write(ctx, name, w.Bytes()); err != nil {
		return err
	}
	emit(int64(w.Records()))
	return nil
}

// Replay describes a generated replay file.
type Replay struct {
	Messages   int
	Valid      int // messages that decode: what the baseline writes
	Unique     int // distinct (bucket, event id) among them: what the full pipeline writes
	Duplicates int // Valid − Unique: what dedupe drops
	Invalid    int
}

// Add counts msgs into r, placing them with layout; seen holds the (bucket, event id) pairs
// counted so far.
func (r *Replay) Add(msgs []replaygen.Message, layout output.Layout, seen map[string]bool) {
	for _, m := range msgs {
		r.Messages++
		if !m.Valid {
			r.Invalid++
			continue
		}
		r.Valid++
		b, _ := layout.Place(m.ClientTime.UnixMilli(), m.PublishTime)
		key := fmt.Sprint(b, "/", m.EventID)
		if !seen[key] {
			seen[key] = true
			r.Unique++
		}
	}
	r.Duplicates = r.Valid - r.Unique
}

// WriteReplay writes n play-track messages to path: about 5% duplicates (client retries and
// Pub/Sub redeliveries), 3% skewed clocks, 2% invalid messages, all in Avro binary, published
// over span from start. They are generated in chunks of at most 100,000 so that a large
// replay does not sit in memory; layout places them, for the expected counts.
func WriteReplay(path string, n int, start time.Time, span time.Duration, layout output.Layout) (Replay, error) {
	f, err := os.Create(path)
	if err != nil {
		return Replay{}, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var r Replay
	seen := map[string]bool{}
	const chunk = 100_000
	chunks := (n + chunk - 1) / chunk
	for c := range chunks {
		want := min(chunk, n-c*chunk)
		spec := replaygen.Spec{
			Start: start.Add(span * time.Duration(c) / time.Duration(chunks)), Span: span / time.Duration(chunks),
			Events:  want*100/107 + want/50 + 100, // about 7% more messages than events (copies, invalid ones), and a margin
			Retries: 0.03, Redelivers: 0.02, Skewed: 0.02, Future: 0.01, Invalid: 0.02, Seed: uint64(c + 1),
		}
		msgs, err := replaygen.Generate(spec)
		if err != nil {
			return Replay{}, err
		}
		if len(msgs) < want {
			return Replay{}, fmt.Errorf("replay: generated %d messages, want %d", len(msgs), want)
		}
		for _, m := range msgs[:want] {
			w.Write(replay.Format(m.Message))
			w.WriteByte('\n')
		}
		r.Add(msgs[:want], layout, seen)
	}
	if err := w.Flush(); err != nil {
		return Replay{}, err
	}
	return r, f.Close()
}
