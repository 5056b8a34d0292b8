// Package deadletter writes the messages the pipeline could not deliver, with the reason,
// under <output>/<event type>/_deadletter/<bucket of their publish time>/, as Avro files of
// output.DeadLetterSchema. Nothing is dropped silently: every dead letter is also counted in
// the manifest of its bucket (invalid).
//
// A message is a dead letter once: each file's header lists the message ids it holds
// (output.MetaIDs), and a redelivery of a message already in a dead-letter file (of another
// run, say after a crash between the file and the ack, or of an earlier pane) is acked and
// counted (dead_letter_redeliveries), not written again.
//
// Like the sink, the writer asks again at write time whether the bucket is still open: a
// bucket another job closed since placement gets no file its manifest does not list; its
// dead letters go to the next open bucket under a pane of their own there
// (output.Layout.MovedPane).
package deadletter

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/inflight"
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

var (
	redeliveries = beam.NewCounter("eventdelivery", "dead_letter_redeliveries")
	// The same counters as bucket.AssignDeadLetters' and the sink's, for dead letters whose
	// bucket closed between placement and write.
	movedFromClosed  = beam.NewCounter("eventdelivery", "moved_from_closed_bucket")
	alreadyDelivered = beam.NewCounter("eventdelivery", "already_delivered")
	outsideRange     = beam.NewCounter("eventdelivery", "outside_replay_range")
)

// Config says where dead letters go.
type Config struct {
	Target output.Target
	Shards int // files per bucket and pane, 1 or more
	// Subscription is where the messages come from, acked once their dead letters are
	// written; empty when the source acks.
	Subscription string
	// Gate is the key of the inflight.Gate of a replay on Prism, which writes its dead
	// letters as they come: the gate keeps the message ids each pane of an open bucket wrote,
	// since the replay's own files are not read (a rerun replaces them).
	Gate string
	// Late numbers the panes under output.LatePane: for the late dead letters of buckets
	// whose on-time ones another Write writes (bucket.AssignDeadLettersEarly).
	Late bool
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
	return beam.ParDo(s, &writeFn{Target: cfg.Target, Subscription: cfg.Subscription, Gate: cfg.Gate, Late: cfg.Late}, beam.GroupByKey(s, keyed))
}

type keyFn struct{ Shards int }

func (f *keyFn) ProcessElement(d message.DeadLetter, emit func(int, message.DeadLetter)) {
	emit(output.Shard(d.Message.ID+d.Reason, f.Shards), d)
}

type writeFn struct {
	Target       output.Target
	Subscription string
	Gate         string
	Late         bool
	store        *objstore.Store
	closes       *output.Closes
	gate         *inflight.Gate
	ids          map[string][]string // message ids of the dead-letter files read, by path
}

// maxSpan bounds how many buckets a redelivered message's first copy is looked for in: from
// the bucket of its publish time to the one it is placed in now.
const maxSpan = 16

func (f *writeFn) Setup(ctx context.Context) (err error) {
	f.gate = inflight.For(f.Gate)
	if f.store, err = objstore.Open(ctx, f.Target.Root); err != nil {
		return err
	}
	f.closes = output.NewCloses(f.Target, f.store)
	return nil
}

func (f *writeFn) StartBundle(context.Context, func(beam.EventTime, message.Entry)) {
	f.closes.ForgetOpen()
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
	placed, index := all[0].Bucket, pane.Index
	if f.Late {
		index = output.LatePane(index)
	}
	r, err := f.closes.Route(ctx, placed, index)
	if err != nil {
		return fmt.Errorf("dead letters of bucket %s: %w", output.Format(placed), err)
	}
	switch {
	case r.Already: // this replay closed it already: its dead letters are there
		alreadyDelivered.Inc(ctx, int64(len(all)))
		return f.ack(ctx, all, placed)
	case r.Outside:
		outsideRange.Inc(ctx, int64(len(all)))
		return f.ack(ctx, all, placed)
	case r.Moved:
		movedFromClosed.Inc(ctx, int64(len(all)))
	}
	start, index := r.Bucket, r.Pane
	fresh, err := f.notWritten(ctx, all, start, index, f.gate.SeenDeadLetters(placed, shard))
	if err != nil {
		return err
	}
	if n := len(all) - len(fresh); n > 0 {
		redeliveries.Inc(ctx, int64(n))
	}
	var entry message.Entry
	if len(fresh) > 0 {
		name := f.Target.DeadLetterPath(start, index, shard)
		ids := make([]string, len(fresh))
		for i, d := range fresh {
			ids[i] = d.Message.ID
		}
		w := avrofile.NewWriter(output.DeadLetterSchema, name, avrofile.Meta{Key: output.MetaIDs, Value: output.IDsMeta(ids)})
		var rec []byte
		for _, d := range fresh {
			rec = Record(d).Append(rec[:0])
			w.Append(rec)
		}
		data := w.Bytes()
		if err := f.store.Write(ctx, name, data); err != nil {
			return err
		}
		entry = message.Entry{Bucket: start, Name: name, DeadLetter: true, Invalid: int64(len(fresh)), Bytes: int64(len(data))}
	}
	if err := f.ack(ctx, all, start); err != nil {
		return err
	}
	if entry.Name != "" {
		emit(mtime.FromMilliseconds(f.Target.Layout.Stamp(start)), entry)
	}
	return nil
}

// ack acks the messages of all, dead letters of bucket start, once written (or found
// written) where the pipeline acks its own messages.
func (f *writeFn) ack(ctx context.Context, all []message.DeadLetter, start int64) error {
	if f.Subscription == "" {
		return nil
	}
	var ids []string
	for _, d := range all {
		if d.Message.AckID != "" {
			ids = append(ids, d.Message.AckID)
		}
	}
	if _, _, err := acks.Ack(ctx, f.Subscription, ids); err != nil {
		return fmt.Errorf("ack dead letters of bucket %s: %w", output.Format(start), err)
	}
	return nil
}

// notWritten returns the dead letters of all (sorted, for bucket start and pane) whose
// message is in no dead-letter file yet: of another run, in any bucket from its publish
// time's to start; of this run, in an earlier pane of start or in an earlier bucket (a
// replay run again, Target.Rerun, rewrites its own files and skips them: mem, when kept in
// this process, has the ids its other panes of start wrote). Copies within all are dropped
// too. Messages without an id are kept.
func (f *writeFn) notWritten(ctx context.Context, all []message.DeadLetter, start, pane int64, mem *inflight.IDs) ([]message.DeadLetter, error) {
	l := f.Target.Layout
	from := start
	for _, d := range all {
		from = min(from, l.Start(d.Message.PublishTime))
	}
	written := map[string]bool{}
	for b, n := from, 0; b <= start && n < maxSpan; b, n = l.Next(b), n+1 {
		names, err := f.store.List(ctx, output.Join(f.Target.DeadLetterDir(b), output.DataFiles))
		if err != nil {
			return nil, fmt.Errorf("dead letters of bucket %s: %w", output.Format(b), err)
		}
		for _, name := range names {
			run, p, _, ok := output.ParseFileName(path.Base(name))
			own := ok && run == f.Target.RunID
			if own && (f.Target.Rerun || (b == start && p >= pane)) {
				continue
			}
			ids, err := f.fileIDs(ctx, name)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				written[id] = true
			}
		}
	}
	fresh := make([]message.DeadLetter, 0, len(all))
	for _, d := range all {
		if id := d.Message.ID; id != "" {
			if written[id] || !mem.Claim(id, pane) {
				continue
			}
			written[id] = true
		}
		fresh = append(fresh, d)
	}
	return fresh, nil
}

// fileIDs returns the message ids the header of dead-letter file name lists; files do not
// change once written, so each is read once.
func (f *writeFn) fileIDs(ctx context.Context, name string) ([]string, error) {
	if ids, ok := f.ids[name]; ok {
		return ids, nil
	}
	ids, err := output.FileIDs(ctx, f.store, name)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	if f.ids == nil || len(f.ids) >= 4096 {
		f.ids = map[string][]string{}
	}
	f.ids[name] = ids
	return ids, nil
}

// Record returns the dead-letter file record of d.
func Record(d message.DeadLetter) output.DeadLetter {
	m := d.Message
	return output.DeadLetter{MessageID: m.ID, PublishTime: m.PublishTime, Attributes: m.Attributes, Data: m.Data, Reason: d.Reason}
}
