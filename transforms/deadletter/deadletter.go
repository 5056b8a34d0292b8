// Package deadletter writes the messages the pipeline could not deliver, with the reason,
// under <output>/<event type>/_deadletter/<bucket of their publish time>/, as Avro files of
// Schema. Nothing is dropped silently: every dead letter is also counted in the manifest of
// its bucket (invalid).
package deadletter

import (
	"cmp"
	"context"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/dedupe"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/sink"
)

func init() {
	register.DoFn2x0[message.DeadLetter, func(int, message.DeadLetter)](&keyFn{})
	register.DoFn5x1[context.Context, beam.PaneInfo, int, func(*message.DeadLetter) bool, func(beam.EventTime, manifest.Entry), error](&writeFn{})
	register.Emitter2[int, message.DeadLetter]()
	register.Iter1[message.DeadLetter]()
}

// Schema is the Avro schema of dead-letter files.
const Schema = `{"type": "record", "name": "DeadLetter", "namespace": "eventdelivery",
 "fields": [
  {"name": "message_id", "type": "string"},
  {"name": "publish_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "attributes", "type": {"type": "map", "values": "string"}},
  {"name": "data", "type": "bytes"},
  {"name": "reason", "type": "string"}
 ]}`

// Write writes PCollection<message.DeadLetter> (placed by bucket.AssignDeadLetters) and
// returns PCollection<manifest.Entry>, one per file written.
func Write(s beam.Scope, dead beam.PCollection, t bucket.Target, shards int) beam.PCollection {
	s = s.Scope("deadletter.Write")
	keyed := beam.ParDo(s, &keyFn{Shards: shards}, dead)
	return beam.ParDo(s, &writeFn{Target: t}, beam.GroupByKey(s, keyed))
}

type keyFn struct{ Shards int }

func (f *keyFn) ProcessElement(d message.DeadLetter, emit func(int, message.DeadLetter)) {
	emit(dedupe.Shard(d.Message.ID+d.Reason, f.Shards), d)
}

type writeFn struct {
	Target bucket.Target
	store  *objstore.Store
}

func (f *writeFn) Setup(ctx context.Context) (err error) {
	f.store, err = objstore.Open(ctx, f.Target.Root)
	return err
}

func (f *writeFn) Teardown() error {
	return f.store.Close()
}

func (f *writeFn) ProcessElement(ctx context.Context, pane beam.PaneInfo, shard int, iter func(*message.DeadLetter) bool, emit func(beam.EventTime, manifest.Entry)) error {
	var all []message.DeadLetter
	var d message.DeadLetter
	for iter(&d) {
		all = append(all, d)
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortFunc(all, func(a, b message.DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Message.PublishTime, b.Message.PublishTime), cmp.Compare(a.Message.ID, b.Message.ID), cmp.Compare(a.Reason, b.Reason))
	})
	start := all[0].Bucket
	name := bucket.Join(f.Target.DeadLetterDir(start), sink.FileName(f.Target.RunID, pane.Index, shard))
	w := avrofile.NewWriter(Schema, name)
	var rec []byte
	for _, d := range all {
		rec = Record(rec[:0], d)
		w.Append(rec)
	}
	data := w.Bytes()
	if err := f.store.Write(ctx, name, data); err != nil {
		return err
	}
	emit(f.Target.Layout.Stamp(start), manifest.Entry{Bucket: start, Name: name, DeadLetter: true, Invalid: int64(len(all))})
	return nil
}

// Record appends d to buf as a record of Schema in Avro binary. Attributes go in key order,
// so that the same dead letters always give the same file (goavro encodes a map in Go's
// random order).
func Record(buf []byte, d message.DeadLetter) []byte {
	str := func(buf []byte, s string) []byte {
		return append(binary.AppendVarint(buf, int64(len(s))), s...)
	}
	buf = str(buf, d.Message.ID)
	buf = binary.AppendVarint(buf, d.Message.PublishTime)
	if n := len(d.Message.Attributes); n > 0 {
		buf = binary.AppendVarint(buf, int64(n)) // one block of n entries
		for _, k := range slices.Sorted(maps.Keys(d.Message.Attributes)) {
			buf = str(str(buf, k), d.Message.Attributes[k])
		}
	}
	buf = binary.AppendVarint(buf, 0) // end of the map
	buf = append(binary.AppendVarint(buf, int64(len(d.Message.Data))), d.Message.Data...)
	return str(buf, d.Reason)
}
