package replay_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

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
	msgs, dead := replay.Read(s, input, tg)
	beamtest.Equals(s, beam.ParDo(s, msgID, msgs), "m1 x")
	beamtest.Equals(s, beam.ParDo(s, reason, dead), ": bad replay line: no message_id")
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
