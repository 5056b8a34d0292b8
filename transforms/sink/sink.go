// Package sink writes deduplicated batches of events into their bucket's folder as Avro
// object container files with the event type's schema, compressed with snappy. Records were
// validated when they were decoded; their bytes are appended to the file as they are, not
// decoded and encoded again (internal/avrofile).
//
// # Behavior
//
// Each batch (one pane of one shard of one bucket) becomes one file,
// part-<run id>-<pane>-<shard>.avro: the name is deterministic, so a retried bundle rewrites
// the same object instead of adding one, and the run id keeps two jobs from overwriting each
// other. Before writing, the sink checks the bucket's manifest: into a bucket another job
// has closed it never writes; the batch goes to the next open bucket, counted as skewed,
// under a pane number of its own there (output.Layout.MovedPane), apart from that bucket's.
//
// A file's header lists the event ids it holds (output.MetaIDs), for a successor's dedupe,
// and counts its records per writer schema revision (output.MetaRevisions), for the
// manifest's records_by_revision: records of every revision go into the same file, in the
// reader schema.
// Once the file is written, the sink acks the Pub/Sub messages of the batch: those written and
// the duplicates dropped (Config.Subscription; see internal/acks).
package sink

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn3x1[context.Context, message.Batch, func(beam.EventTime, message.Entry), error](&writeFn{})
	register.Emitter2[beam.EventTime, message.Entry]()
}

var (
	written = beam.NewCounter("eventdelivery", "records_written")
	// The same counters as bucket.Assign's: a batch for a bucket closed since it was placed
	// moves on here.
	movedFromClosed  = beam.NewCounter("eventdelivery", "moved_from_closed_bucket")
	alreadyDelivered = beam.NewCounter("eventdelivery", "already_delivered")
	outsideRange     = beam.NewCounter("eventdelivery", "outside_replay_range")
)

// Config is the sink's configuration.
type Config struct {
	Target output.Target
	Schema string // the event type's Avro schema
	// Subscription is where the batches' messages come from, acked once written; empty
	// when the source acks (Dataflow's, or a replay).
	Subscription string
	// Gate is the key of the inflight.Gate of a replay on Prism: a batch's events leave it
	// once written (or dropped), so that what waits for the sink counts as in flight too.
	Gate string
}

// Write writes PCollection<message.Batch> to files and returns PCollection<message.Entry>,
// one per batch, stamped for the bucket the batch went to.
func Write(s beam.Scope, batches beam.PCollection, cfg Config) beam.PCollection {
	s = s.Scope("sink.Write")
	if _, err := goavro.NewCodec(cfg.Schema); err != nil {
		panic("sink.Write: schema: " + err.Error())
	}
	fp, err := codec.Fingerprint(cfg.Schema)
	if err != nil {
		panic("sink.Write: " + err.Error())
	}
	return beam.ParDo(s, &writeFn{Config: cfg, Fingerprint: fp}, batches)
}

type writeFn struct {
	Config      Config
	Fingerprint string // of Config.Schema, for the entries of the files written
	store       *objstore.Store
	closes      *output.Closes
	gate        *inflight.Gate
}

func (f *writeFn) Setup(ctx context.Context) error {
	f.gate = inflight.For(f.Config.Gate)
	st, err := objstore.Open(ctx, f.Config.Target.Root)
	if err != nil {
		return err
	}
	f.store, f.closes = st, output.NewCloses(f.Config.Target, st)
	return nil
}

func (f *writeFn) StartBundle(context.Context, func(beam.EventTime, message.Entry)) {
	f.closes.ForgetOpen()
}

func (f *writeFn) Teardown() error {
	return f.store.Close()
}

func (f *writeFn) ProcessElement(ctx context.Context, b message.Batch, emit func(beam.EventTime, message.Entry)) error {
	defer f.gate.Leave(int64(len(b.Events)) + b.Duplicates)
	t := f.Config.Target
	r, err := f.closes.Route(ctx, b.Bucket, b.Pane)
	if err != nil {
		return fmt.Errorf("write bucket %s: %w", output.Format(b.Bucket), err)
	}
	switch {
	case r.Already:
		alreadyDelivered.Inc(ctx, int64(len(b.Events)))
		return f.ack(ctx, b)
	case r.Outside:
		// A backfill's bucket closed since placement, the next open one outside its range.
		outsideRange.Inc(ctx, int64(len(b.Events)))
		return f.ack(ctx, b)
	}
	to, moved := r.Bucket, r.Moved
	entry := message.Entry{Bucket: to, Duplicates: b.Duplicates, SchemaFingerprint: f.Fingerprint}
	if moved {
		movedFromClosed.Inc(ctx, int64(len(b.Events)))
	}
	for _, e := range b.Events {
		if e.Skewed || moved {
			entry.Skewed++
		}
	}
	if len(b.Events) > 0 {
		// Records were validated by decode: their bytes go into the file as they are. The
		// counts go in its header, for a successor that closes the bucket.
		name := t.FilePath(to, r.Pane, b.Shard)
		ids := make([]string, len(b.Events))
		entry.MinTime, entry.MaxTime = b.Events[0].Time, b.Events[0].Time
		entry.Revisions = map[string]int64{}
		for i, e := range b.Events {
			ids[i] = e.ID
			entry.MinTime, entry.MaxTime = min(entry.MinTime, e.Time), max(entry.MaxTime, e.Time)
			entry.Revisions[revisionKey(e.Revision)]++
		}
		meta := append(fileMeta(entry), avrofile.Meta{Key: output.MetaIDs, Value: output.IDsMeta(ids)})
		w := avrofile.NewWriter(f.Config.Schema, name, meta...)
		for _, e := range b.Events {
			w.Append(e.Record)
		}
		data := w.Bytes()
		if err := f.store.Write(ctx, name, data); err != nil {
			return err
		}
		entry.Name, entry.Records, entry.Bytes = name, int64(w.Records()), int64(len(data))
		written.Inc(ctx, entry.Records)
	}
	if err := f.ack(ctx, b); err != nil {
		return err
	}
	emit(mtime.FromMilliseconds(t.Layout.Stamp(to)), entry)
	return nil
}

// ack acks the messages of b, now in a file (or already delivered), and of its duplicates.
func (f *writeFn) ack(ctx context.Context, b message.Batch) error {
	if f.Config.Subscription == "" {
		return nil
	}
	ids := slices.Clone(b.Acks)
	for _, e := range b.Events {
		if e.AckID != "" {
			ids = append(ids, e.AckID)
		}
	}
	if _, _, err := acks.Ack(ctx, f.Config.Subscription, ids); err != nil {
		return fmt.Errorf("ack batch of bucket %s: %w", output.Format(b.Bucket), err)
	}
	return nil
}

// fileMeta returns the header metadata of the data file of e: the counts and bucket times a
// successor that closes the bucket adds to its manifest.
func fileMeta(e message.Entry) []avrofile.Meta {
	return []avrofile.Meta{
		{Key: output.MetaDuplicates, Value: strconv.FormatInt(e.Duplicates, 10)},
		{Key: output.MetaSkewed, Value: strconv.FormatInt(e.Skewed, 10)},
		{Key: output.MetaMinTime, Value: strconv.FormatInt(e.MinTime, 10)},
		{Key: output.MetaMaxTime, Value: strconv.FormatInt(e.MaxTime, 10)},
		{Key: output.MetaRevisions, Value: output.RevisionsMeta(e.Revisions)},
	}
}

// revisionKey is the key an event of writer revision rev counts under in a file's
// revision counts.
func revisionKey(rev string) string {
	if rev == "" {
		return output.NoRevision
	}
	return rev
}
