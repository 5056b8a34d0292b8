package decode

import (
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func mustSource(s string) Source {
	src, err := ParseSource(s)
	if err != nil {
		panic(err)
	}
	return src
}

// fuzzDecoder decodes play-track events with the id and the time from the sources given.
func fuzzDecoder(t testing.TB, id, bt string) *Decoder {
	d, err := New(Config{Schema: replaygen.Schema, EventID: mustSource(id), BucketTime: mustSource(bt)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecodeCarriesTheMessage checks that an event keeps its message's id, publish time and
// ack id, and that a refused message gets the codec's reason (internal/codec tests the rest).
func TestDecodeCarriesTheMessage(t *testing.T) {
	msgs, err := replaygen.Generate(replaygen.Spec{Start: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC), Span: time.Minute, Events: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0].Message
	m.AckID = "ack-1"
	d := fuzzDecoder(t, "attribute:event_id", "field:client_time")
	e, reason := d.Decode(m)
	if reason != "" || e.ID != m.Attributes["event_id"] || e.MessageID != m.ID || e.PublishTime != m.PublishTime || e.AckID != "ack-1" || string(e.Record) != string(m.Data) {
		t.Fatalf("Decode = %+v, %q; from %+v", e, reason, m)
	}
	if _, reason := d.Decode(message.Message{ID: "m", Data: m.Data[:3]}); reason == "" {
		t.Fatal("a truncated record was accepted")
	}
}
