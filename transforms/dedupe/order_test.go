package dedupe

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.Function1x2[message.Batch, int, message.Batch](byShard)
	register.Function1x1[message.Batch, string](kept)
}

func byShard(b message.Batch) (int, message.Batch) { return b.Shard, b }

// kept shows a batch as "pane: ids (duplicates)".
func kept(b message.Batch) string {
	var ids []string
	for _, e := range b.Events {
		ids = append(ids, e.ID)
	}
	return fmt.Sprintf("%d: %s (%d)", b.Pane, strings.Join(ids, " "), b.Duplicates)
}

func panes(ps ...message.Batch) []message.Batch { return ps }

func pane(index int64, last bool, ids ...string) message.Batch {
	b := message.Batch{Pane: index, Last: last}
	for _, id := range ids {
		b.Events = append(b.Events, message.Event{ID: id, MessageID: "m-" + id})
	}
	return b
}

// The panes of a window reach the stateful DoFn in whatever order their bundles finish:
// whichever comes first keeps an id, every later one counts it as a duplicate, the first
// pane and the last included.
func TestPanesInAnyOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		panes []message.Batch
		want  []any
	}{
		{"in order", panes(pane(0, false, "a", "b"), pane(1, false, "a", "c"), pane(2, true, "c", "d")),
			[]any{"0: a b (0)", "1: c (1)", "2: d (1)"}},
		{"the second pane before the first", panes(pane(1, false, "a", "c"), pane(0, false, "a", "b")),
			[]any{"1: a c (0)", "0: b (1)"}},
		{"the last pane before an early one", panes(pane(2, true, "a"), pane(0, false, "a", "b")),
			[]any{"2: a (0)", "0: b (1)"}},
		{"a window's only pane", panes(pane(0, true, "a", "a")),
			[]any{"0: a (1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			fn := &dedupeFn{Seen: state.MakeBagState[[]string]("seen"), Shards: 1}
			out := beam.ParDo(s, fn, beam.ParDo(s, byShard, beam.CreateList(s, tc.panes)))
			beamtest.Equals(s, beam.ParDo(s, kept, out), tc.want...)
			beamtest.Run(t, p)
		})
	}
}
