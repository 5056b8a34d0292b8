// Package dedupe groups a bucket's events by shard and drops every copy of an event id
// after the first, within the bucket.
//
// # Behavior
//
// Events are keyed by a shard of their event id (output.Shard) and grouped; each pane of a
// shard becomes a message.Batch. A stateful DoFn keyed by the shard remembers the ids already
// written in earlier panes of the same window (bucket), so dedupe is exact by event id
// across panes, while the state is read at most once per pane instead of once per event.
// State is per window and is dropped when the bucket's window closes. Within a pane the
// first copy by publish time, then message id, is kept, so reruns pick the same copy.
package dedupe

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn2x0[message.Event, func(int, message.Event)](&keyFn{})
	register.DoFn4x0[beam.PaneInfo, int, func(*message.Event) bool, func(int, message.Batch)](&batchFn{})
	register.DoFn5x1[context.Context, state.Provider, int, message.Batch, func(message.Batch), error](&dedupeFn{})
	register.Emitter2[int, message.Event]()
	register.Emitter2[int, message.Batch]()
	register.Emitter1[message.Batch]()
	register.Iter1[message.Event]()
}

var duplicates = beam.NewCounter("eventdelivery", "duplicates")

// Dedupe groups PCollection<message.Event> (windowed by bucket.Assign) by shard of event id
// and returns PCollection<message.Batch> with every duplicate of an event id within a bucket removed.
func Dedupe(s beam.Scope, events beam.PCollection, shards int) beam.PCollection {
	s = s.Scope("dedupe.Dedupe")
	if shards < 1 {
		panic("dedupe.Dedupe: shards must be 1 or more")
	}
	keyed := beam.ParDo(s, &keyFn{Shards: shards}, events)
	batches := beam.ParDo(s, &batchFn{}, beam.GroupByKey(s, keyed))
	return beam.ParDo(s, &dedupeFn{Seen: state.MakeBagState[[]string]("seen")}, batches)
}

type keyFn struct{ Shards int }

func (f *keyFn) ProcessElement(e message.Event, emit func(int, message.Event)) {
	emit(output.Shard(e.ID, f.Shards), e)
}

type batchFn struct{}

func (f *batchFn) ProcessElement(pane beam.PaneInfo, shard int, iter func(*message.Event) bool, emit func(int, message.Batch)) {
	b := message.Batch{Shard: shard, Pane: pane.Index, Last: pane.IsLast}
	var e message.Event
	for iter(&e) {
		b.Events = append(b.Events, e)
	}
	if len(b.Events) > 0 {
		b.Bucket = b.Events[0].Bucket
	}
	emit(shard, b)
}

type dedupeFn struct {
	Seen state.Bag[[]string] // ids written by earlier panes of this shard and window
}

func (f *dedupeFn) ProcessElement(ctx context.Context, sp state.Provider, _ int, b message.Batch, emit func(message.Batch)) error {
	seen := map[string]bool{}
	if b.Pane > 0 {
		earlier, _, err := f.Seen.Read(sp)
		if err != nil {
			return err
		}
		for _, ids := range earlier {
			for _, id := range ids {
				seen[id] = true
			}
		}
	}
	slices.SortFunc(b.Events, func(a, c message.Event) int {
		if r := strings.Compare(a.ID, c.ID); r != 0 {
			return r
		}
		if r := cmp.Compare(a.PublishTime, c.PublishTime); r != 0 {
			return r
		}
		return strings.Compare(a.MessageID, c.MessageID)
	})
	kept := b.Events[:0]
	var fresh []string
	for _, e := range b.Events {
		if seen[e.ID] {
			b.Duplicates++
			continue
		}
		seen[e.ID] = true
		kept = append(kept, e)
		fresh = append(fresh, e.ID)
	}
	b.Events = kept
	if b.Duplicates > 0 {
		duplicates.Inc(ctx, b.Duplicates)
	}
	if !b.Last && len(fresh) > 0 {
		if err := f.Seen.Add(sp, fresh); err != nil {
			return err
		}
	}
	emit(b)
	return nil
}
