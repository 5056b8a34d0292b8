package message_test

import (
	"os"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func TestPublished(t *testing.T) {
	m := message.Message{PublishTime: 1795172640123}
	if got, want := m.Published(), time.Date(2026, 11, 20, 11, 4, 0, 123e6, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Published = %v, want %v in UTC", got, want)
	}
}

// Every element crosses a Reshuffle (the runner encodes and decodes it) unchanged.
func TestElementsEncodeUnchanged(t *testing.T) {
	ev := message.Event{ID: "e", MessageID: "m", PublishTime: 1, Time: 2, Bucket: 3, Skewed: true, Record: []byte{0, 1}}
	msg := message.Message{ID: "m", PublishTime: 5, Attributes: map[string]string{"a": "1"}, Data: []byte("x")}
	for name, elems := range map[string][]any{
		"Message":    {msg, message.Message{}},
		"Event":      {ev},
		"DeadLetter": {message.DeadLetter{Message: msg, Reason: "r", Bucket: 7}},
		"Batch":      {message.Batch{Shard: 1, Bucket: 2, Pane: 3, Last: true, Events: []message.Event{ev, ev}, Duplicates: 4}},
		"Entry":      {message.Entry{Bucket: 1, Name: "n", DeadLetter: true, Records: 2, Duplicates: 3, Skewed: 4, Invalid: 5}},
	} {
		t.Run(name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			col := beam.Create(s, elems...)
			beamtest.Equals(s, beam.Reshuffle(s, col), elems...)
			beamtest.Run(t, p)
		})
	}
}
