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
// has closed it never writes; the batch goes to the next open bucket, counted as skewed.
package sink

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/dedupe"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
)

func init() {
	register.DoFn3x1[context.Context, dedupe.Batch, func(beam.EventTime, manifest.Entry), error](&writeFn{})
	register.Emitter2[beam.EventTime, manifest.Entry]()
}

var written = beam.NewCounter("eventdelivery", "records_written")

// Config is the sink's configuration.
type Config struct {
	Target bucket.Target
	Schema string // the event type's Avro schema
}

// Write writes PCollection<dedupe.Batch> to files and returns PCollection<manifest.Entry>,
// one per batch, stamped for the bucket the batch went to.
func Write(s beam.Scope, batches beam.PCollection, cfg Config) beam.PCollection {
	s = s.Scope("sink.Write")
	if _, err := goavro.NewCodec(cfg.Schema); err != nil {
		panic("sink.Write: schema: " + err.Error())
	}
	return beam.ParDo(s, &writeFn{Config: cfg}, batches)
}

// FileName returns the name of the file of a pane and shard written by run.
func FileName(run string, pane int64, shard int) string {
	return fmt.Sprintf("part-%s-%d-%d.avro", run, pane, shard)
}

type writeFn struct {
	Config Config
	store  *objstore.Store
	closes *bucket.Closes
}

func (f *writeFn) Setup(ctx context.Context) error {
	st, err := objstore.Open(ctx, f.Config.Target.Root)
	if err != nil {
		return err
	}
	f.store, f.closes = st, bucket.NewCloses(f.Config.Target, st)
	return nil
}

func (f *writeFn) StartBundle(context.Context, func(beam.EventTime, manifest.Entry)) {
	f.closes.ForgetOpen()
}

func (f *writeFn) Teardown() error {
	return f.store.Close()
}

func (f *writeFn) ProcessElement(ctx context.Context, b dedupe.Batch, emit func(beam.EventTime, manifest.Entry)) error {
	t := f.Config.Target
	to, moved, ok, err := f.closes.Resolve(ctx, b.Bucket)
	if err != nil {
		return fmt.Errorf("write bucket %s: %w", bucket.Format(b.Bucket), err)
	}
	if !ok {
		bucket.AlreadyDelivered.Inc(ctx, int64(len(b.Events)))
		return nil
	}
	entry := manifest.Entry{Bucket: to, Duplicates: b.Duplicates}
	if moved {
		bucket.MovedFromClosed.Inc(ctx, int64(len(b.Events)))
	}
	for _, e := range b.Events {
		if e.Skewed || moved {
			entry.Skewed++
		}
	}
	if len(b.Events) > 0 {
		// Records were validated by decode: their bytes go into the file as they are. The
		// counts go in its header, for a successor that closes the bucket.
		name := bucket.Join(t.Dir(to), FileName(t.RunID, b.Pane, b.Shard))
		w := avrofile.NewWriter(f.Config.Schema, name, manifest.FileMeta(entry)...)
		for _, e := range b.Events {
			w.Append(e.Record)
		}
		if err := f.store.Write(ctx, name, w.Bytes()); err != nil {
			return err
		}
		entry.Name, entry.Records = name, int64(w.Records())
		written.Inc(ctx, entry.Records)
	}
	emit(t.Layout.Stamp(to), entry)
	return nil
}
