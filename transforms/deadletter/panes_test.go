package deadletter

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// A replay on Prism writes its dead letters as they come, several panes a bucket, and does
// not read its own files (a rerun replaces them): a copy of a message that an earlier pane
// wrote is found in the gate, not written twice; a retried pane writes its own again.
func TestReplayPanesWriteADeadLetterOnce(t *testing.T) {
	ctx := context.Background()
	h0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	dl := func(id string) message.DeadLetter {
		return message.DeadLetter{Bucket: h0, Message: message.Message{ID: id, PublishTime: h0 + 1000}, Reason: "not Avro"}
	}
	ids := func(ds []message.DeadLetter) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Message.ID)
		}
		return out
	}
	g := inflight.New(0)
	defer g.Release()
	f := &writeFn{Target: output.Target{Root: t.TempDir(), EventType: "play-track", RunID: "replay", Rerun: true,
		Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute}}}
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Teardown()
	mem := g.SeenDeadLetters(h0, 0)
	for _, step := range []struct {
		name string
		pane int64
		in   []string
		want []string
	}{
		{"first pane", 0, []string{"m1", "m2"}, []string{"m1", "m2"}},
		{"a later pane with a copy of m1", 1, []string{"m1", "m3"}, []string{"m3"}},
		{"that pane retried", 1, []string{"m1", "m3"}, []string{"m3"}},
		{"an earlier pane, late, with a copy of m3", 0, []string{"m3", "m4"}, []string{"m4"}},
	} {
		var in []message.DeadLetter
		for _, id := range step.in {
			in = append(in, dl(id))
		}
		got, err := f.notWritten(ctx, in, h0, step.pane, mem)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), step.want) {
			t.Errorf("%s: writes %v, want %v", step.name, ids(got), step.want)
		}
	}
}
