// Package replay reads archived Pub/Sub messages from JSON lines, one message a line:
//
//	{"message_id": "...", "publish_time": "RFC3339", "attributes": {"k": "v"}, "data": "base64"}
//
// and from the Avro files of Pub/Sub Cloud Storage subscriptions and this project's
// dead-letter files (avro.go), each told apart by its content (InputFormat).
// It is how backfills replay a subscription's history, and how tests stay deterministic.
// A line that is not such a message becomes a dead letter with the reason; when its publish
// time cannot be read either, there is no bucket to count it in, so it is written on its
// own under _deadletter/unreadable/ instead.
package replay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn2x1[context.Context, string, error](&unreadableFn{})
	register.Emitter2[beam.EventTime, message.Message]()
	register.Emitter1[string]()
}

var unreadable = beam.NewCounter("eventdelivery", "unreadable_replay_lines")

// Line is one message of a replay file, as written by Format.
type Line struct {
	MessageID   string            `json:"message_id"`
	PublishTime string            `json:"publish_time"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Data        string            `json:"data"`
}

// Format returns m as a replay line (without the newline).
func Format(m message.Message) []byte {
	b, _ := json.Marshal(Line{
		MessageID:   m.ID,
		PublishTime: m.Published().Format(time.RFC3339Nano),
		Attributes:  m.Attributes,
		Data:        base64.StdEncoding.EncodeToString(m.Data),
	})
	return b
}

// MaxLineBytes is the longest replay line Parse reads: a message at Pub/Sub's limit of
// 10 MB of data is 13.4 MB in base64, plus its attributes. A longer line cannot be a
// Pub/Sub message; it is kept unread under _deadletter/unreadable/.
const MaxLineBytes = 16 << 20

// Parse reads one replay line. A message whose data is not base64 is returned with the
// reason; ok is false when the line holds no publish time to place it by.
func Parse(line string) (m message.Message, reason string, ok bool) {
	if len(line) > MaxLineBytes {
		return message.Message{}, fmt.Sprintf("bad replay line: %d bytes, more than %d", len(line), MaxLineBytes), false
	}
	var l Line
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		return message.Message{}, "bad replay line: " + err.Error(), false
	}
	p, err := time.Parse(time.RFC3339Nano, l.PublishTime)
	if err != nil {
		return message.Message{}, fmt.Sprintf("bad replay line: publish_time %q is not RFC3339", l.PublishTime), false
	}
	m = message.Message{ID: l.MessageID, PublishTime: p.UnixMilli(), Attributes: l.Attributes}
	if m.Data, err = base64.StdEncoding.DecodeString(l.Data); err != nil {
		m.Data = []byte(l.Data)
		return m, "bad replay line: data is not base64", true
	}
	if l.MessageID == "" {
		return m, "bad replay line: no message_id", true
	}
	return m, "", true
}

// unreadableFn writes each line that has no publish time as its own object
// (output.Target.UnreadablePath).
type unreadableFn struct {
	Target output.Target
	store  *objstore.Store
}

func (f *unreadableFn) Setup(ctx context.Context) (err error) {
	f.store, err = objstore.Open(ctx, f.Target.Root)
	return err
}

func (f *unreadableFn) Teardown() error {
	return f.store.Close()
}

func (f *unreadableFn) ProcessElement(ctx context.Context, line string) error {
	_, reason, _ := Parse(line)
	body, err := json.Marshal(output.Unreadable{Line: line, Reason: reason, RunID: f.Target.RunID})
	if err != nil {
		return fmt.Errorf("unreadable replay line: %w", err)
	}
	return f.store.Write(ctx, f.Target.UnreadablePath(line), append(body, '\n'))
}
