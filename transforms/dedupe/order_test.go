package dedupe

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
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
// pane and the last included. The same holds with the ids kept in this process
// (InProcess), where a pane seen again (a retried bundle) keeps what it kept.
func TestPanesInAnyOrder(t *testing.T) {
	type tcase struct {
		name      string
		panes     []message.Batch
		want      []any
		inProcess bool
	}
	cases := []tcase{
		{name: "in order", panes: panes(pane(0, false, "a", "b"), pane(1, false, "a", "c"), pane(2, true, "c", "d")),
			want: []any{"0: a b (0)", "1: c (1)", "2: d (1)"}},
		{name: "the second pane before the first", panes: panes(pane(1, false, "a", "c"), pane(0, false, "a", "b")),
			want: []any{"1: a c (0)", "0: b (1)"}},
		{name: "the last pane before an early one", panes: panes(pane(2, true, "a"), pane(0, false, "a", "b")),
			want: []any{"2: a (0)", "0: b (1)"}},
		{name: "a window's only pane", panes: panes(pane(0, true, "a", "a")),
			want: []any{"0: a (1)"}},
	}
	for _, tc := range slices.Clone(cases) {
		tc.name, tc.inProcess = tc.name+", in process", true
		cases = append(cases, tc)
	}
	cases = append(cases, tcase{name: "in process, a pane seen again", inProcess: true,
		panes: panes(pane(0, false, "a", "b"), pane(1, false, "b", "c"), pane(1, false, "b", "c")),
		want:  []any{"0: a b (0)", "1: c (1)", "1: c (1)"}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			fn := &dedupeFn{Seen: state.MakeBagState[[]string]("seen"), Shards: 1}
			if tc.inProcess {
				g := inflight.New(0)
				defer g.Release()
				fn.Gate = g.Key()
			}
			out := beam.ParDo(s, fn, beam.ParDo(s, byShard, beam.CreateList(s, tc.panes)))
			beamtest.Equals(s, beam.ParDo(s, kept, out), tc.want...)
			beamtest.Run(t, p)
		})
	}
}
