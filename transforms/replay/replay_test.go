package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function1x1[message.Message, string](msgID)
	register.Function1x1[message.DeadLetter, string](reason)
}

func msgID(m message.Message) string     { return m.ID + " " + string(m.Data) }
func reason(d message.DeadLetter) string { return d.Message.ID + ": " + d.Reason }

var published = time.Date(2026, 11, 20, 10, 15, 0, 0, time.UTC).UnixMilli()

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, line, reason string
		ok                 bool
	}{
		{"a message", `{"message_id": "m1", "publish_time": "2026-11-20T10:15:00Z", "attributes": {"k": "v"}, "data": "eA=="}`, "", true},
		{"not JSON", `{"message_id"`, "bad replay line: unexpected end of JSON input", false},
		{"no publish time", `{"message_id": "m1", "data": ""}`, `bad replay line: publish_time "" is not RFC3339`, false},
		{"data not base64", `{"message_id": "m1", "publish_time": "2026-11-20T10:15:00Z", "data": "??"}`, "bad replay line: data is not base64", true},
		{"no message id", `{"publish_time": "2026-11-20T10:15:00Z", "data": ""}`, "bad replay line: no message_id", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reason, ok := replay.Parse(tc.line)
			if reason != tc.reason || ok != tc.ok {
				t.Errorf("Parse = %q, %v; want %q, %v", reason, ok, tc.reason, tc.ok)
			}
			if ok && m.PublishTime != published {
				t.Errorf("publish time %d, want %d", m.PublishTime, published)
			}
		})
	}
}

func TestFormatRoundTrips(t *testing.T) {
	m := message.Message{ID: "m1", PublishTime: published + 123, Attributes: map[string]string{"event_id": "e"}, Data: []byte{0, 1, 0xff}}
	got, reason, ok := replay.Parse(string(replay.Format(m)))
	if !ok || reason != "" || !reflect.DeepEqual(got, m) {
		t.Errorf("Parse(Format(m)) = %+v, %q, %v; want %+v", got, reason, ok, m)
	}
}

// Read sorts lines into messages, dead letters and unreadable lines, which it keeps as
// objects of their own.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	unreadable := `not a message`
	lines := []string{
		string(replay.Format(message.Message{ID: "m1", PublishTime: published, Data: []byte("x")})),
		"",
		`{"publish_time": "2026-11-20T10:15:00Z", "data": ""}`,
		unreadable,
	}
	input := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := output.Target{Root: filepath.Join(dir, "out"), EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}
	p, s := beam.NewPipelineWithRoot()
	r := replay.Read(s, input, tg)
	beamtest.Equals(s, beam.ParDo(s, msgID, r.Messages), "m1 x")
	beamtest.Equals(s, beam.ParDo(s, reason, r.Dead), ": bad replay line: no message_id")
	beamtest.Run(t, p)

	st, err := objstore.Open(context.Background(), tg.Root)
	if err != nil {
		t.Fatal(err)
	}
	body, err := st.Read(context.Background(), tg.UnreadablePath(unreadable))
	if err != nil {
		t.Fatal(err)
	}
	var u output.Unreadable
	if err := json.Unmarshal(body, &u); err != nil || u.Line != unreadable || u.RunID != "r1" || !strings.HasPrefix(u.Reason, "bad replay line: ") {
		t.Errorf("unreadable line kept as %s (%v)", body, err)
	}
}

func init() {
	register.Function1x1[message.Entry, string](beatHour)
}

func beatHour(e message.Entry) string { return output.Format(e.Bucket) }

// writeLines writes one replay line per message, published at the given minutes after
// published, to dir/name.
func writeLines(t *testing.T, dir, name string, minutes ...int) string {
	t.Helper()
	var b strings.Builder
	for i, m := range minutes {
		b.Write(replay.Format(message.Message{ID: fmt.Sprintf("%s-%d", name, i), PublishTime: published + int64(m)*60_000, Data: []byte("x")}))
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Files are read in name order, each entry once, across checkpoints (one per entry here),
// and the heartbeats cover every hour from the first publish hour to the last, the empty
// one between them too.
func TestReadInOrder(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, dir, "b.jsonl", 120, 121, 130) // 12:15 onwards
	writeLines(t, dir, "a.jsonl", 0, 1, 0, 2)    // 10:15 onwards, one entry a minute back
	tg := output.Target{Root: filepath.Join(dir, "out"), EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}
	p, s := beam.NewPipelineWithRoot()
	r := replay.Read(s, filepath.Join(dir, "*.jsonl"), tg, replay.WithDisorder(time.Minute), replay.CheckpointEvery(1))
	beamtest.Equals(s, beam.ParDo(s, msgID, r.Messages), "a.jsonl-0 x", "a.jsonl-1 x", "a.jsonl-2 x", "a.jsonl-3 x", "b.jsonl-0 x", "b.jsonl-1 x", "b.jsonl-2 x")
	beamtest.Equals(s, beam.ParDo(s, beatHour, r.Beats), "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z")
	beamtest.Run(t, p)
}

// An entry further behind the latest publish time read than the disorder allowed fails the
// read, naming the file, the entry and what to do; with more disorder allowed, or in any
// order, the same input is read whole.
func TestReadOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, dir, "a.jsonl", 0, 60)
	writeLines(t, dir, "b.jsonl", 30, 90) // b's first entry is 30 minutes behind a's last
	glob := filepath.Join(dir, "*.jsonl")
	tg := output.Target{Root: filepath.Join(dir, "out"), EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}

	p, s := beam.NewPipelineWithRoot()
	replay.Read(s, glob, tg, replay.WithDisorder(time.Minute))
	err := ptest.Run(p)
	if err == nil {
		t.Fatal("a replay out of order succeeded")
	}
	for _, want := range []string{"b.jsonl record 1: published at 2026-11-20T10:45:00Z, 30m0s before 2026-11-20T11:15:00Z already read", "--input_disorder"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	for name, opt := range map[string]replay.Option{"disorder": replay.WithDisorder(time.Hour), "any order": replay.AnyOrder(), "bounded": replay.Bounded()} {
		t.Run(name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			beamtest.Equals(s, beam.ParDo(s, msgID, replay.Read(s, glob, tg, opt).Messages), "a.jsonl-0 x", "a.jsonl-1 x", "b.jsonl-0 x", "b.jsonl-1 x")
			beamtest.Run(t, p)
		})
	}
}

// A glob that matches nothing is an error, not an empty replay.
func TestReadNoFile(t *testing.T) {
	dir := t.TempDir()
	tg := output.Target{Root: dir, EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}
	p, s := beam.NewPipelineWithRoot()
	replay.Read(s, filepath.Join(dir, "*.jsonl"), tg)
	if err := ptest.Run(p); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("Run = %v, want no file matches", err)
	}
}
