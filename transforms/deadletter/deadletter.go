// Package deadletter writes the messages the pipeline could not deliver, with the reason,
// under <output>/<event type>/_deadletter/<bucket of their publish time>/, as Avro files of
// output.DeadLetterSchema. Nothing is dropped silently: every dead letter is also counted in the manifest of
// its bucket (invalid).
package deadletter

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn2x0[message.DeadLetter, func(int, message.DeadLetter)](&keyFn{})
	register.DoFn5x1[context.Context, beam.PaneInfo, int, func(*message.DeadLetter) bool, func(beam.EventTime, message.Entry), error](&writeFn{})
	register.Emitter2[int, message.DeadLetter]()
	register.Iter1[message.DeadLetter]()
}

// Config says where dead letters go.
type Config struct {
	Target output.Target
	Shards int // files per bucket and pane, 1 or more
	// Subscription is where the messages come from, acked once their dead letters are
	// written; empty when the source acks.
	Subscription string
}

// Write writes PCollection<message.DeadLetter> (placed by bucket.AssignDeadLetters) and
// returns PCollection<message.Entry>, one per file written. It spreads them over cfg.Shards
// files per pane and bucket; shards below 1 panic.
func Write(s beam.Scope, dead beam.PCollection, cfg Config) beam.PCollection {
	s = s.Scope("deadletter.Write")
	if cfg.Shards < 1 {
		panic(fmt.Sprintf("deadletter.Write: shards is %d, must be 1 or more", cfg.Shards))
	}
	keyed := beam.ParDo(s, &keyFn{Shards: cfg.Shards}, dead)
	return beam.ParDo(s, &writeFn{Target: cfg.Target, Subscription: cfg.Subscription}, beam.GroupByKey(s, keyed))
}

type keyFn struct{ Shards int }

func (f *keyFn) ProcessElement(d message.DeadLetter, emit func(int, message.DeadLetter)) {
	emit(output.Shard(d.Message.ID+d.Reason, f.Shards), d)
}

type writeFn struct {
	Target       output.Target
	Subscription string
	store        *objstore.Store
}

func (f *writeFn) Setup(ctx context.Context) (err error) {
	f.store, err = objstore.Open(ctx, f.Target.Root)
	return err
}

func (f *writeFn) Teardown() error {
	return f.store.Close()
}

func (f *writeFn) ProcessElement(ctx context.Context, pane beam.PaneInfo, shard int, iter func(*message.DeadLetter) bool, emit func(beam.EventTime, message.Entry)) error {
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
	name := f.Target.DeadLetterPath(start, pane.Index, shard)
	w := avrofile.NewWriter(output.DeadLetterSchema, name)
	var rec []byte
	for _, d := range all {
		rec = Record(d).Append(rec[:0])
		w.Append(rec)
	}
	data := w.Bytes()
	if err := f.store.Write(ctx, name, data); err != nil {
		return err
	}
	if f.Subscription != "" {
		var ids []string
		for _, d := range all {
			if d.Message.AckID != "" {
				ids = append(ids, d.Message.AckID)
			}
		}
		if _, _, err := acks.Ack(ctx, f.Subscription, ids); err != nil {
			return fmt.Errorf("ack dead letters of bucket %s: %w", output.Format(start), err)
		}
	}
	emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(start)), message.Entry{Bucket: start, Name: name, DeadLetter: true, Invalid: int64(len(all)), Bytes: int64(len(data))})
	return nil
}

// Record returns the dead-letter file record of d.
func Record(d message.DeadLetter) output.DeadLetter {
	m := d.Message
	return output.DeadLetter{MessageID: m.ID, PublishTime: m.PublishTime, Attributes: m.Attributes, Data: m.Data, Reason: d.Reason}
}
