// Package replaygen generates realistic streams of play-track messages, with client
// retries, Pub/Sub redeliveries, skewed clocks and invalid messages, for the demo, the
// benchmarks and the end-to-end tests.
package replaygen

import (
	_ "embed"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// Schema is the example event type's Avro schema (examples/play-track/play_track.avsc).
//
//go:embed play_track.avsc
var Schema string

// Spec describes a stream to generate.
type Spec struct {
	Start      time.Time     // publish time of the first message
	Span       time.Duration // publish times spread evenly over [Start, Start+Span)
	Events     int           // distinct events
	Retries    float64       // share of events a client sends twice (same event id, new message id)
	Redelivers float64       // share of messages Pub/Sub delivers twice (same message id)
	Skewed     float64       // share of events whose client time is 2h behind publish time
	Future     float64       // share of events whose client time is 1h ahead of publish time
	Invalid    float64       // share of extra messages that are invalid (garbage, trailing bytes, no id)
	JSON       float64       // share of valid messages in Avro's JSON encoding
	Seed       uint64
}

var platforms = []string{"android", "ios", "web", "desktop"}

// Record returns a play-track record (goavro's native form) with random fields.
func Record(r *rand.Rand, eventID string, client time.Time) map[string]any {
	return map[string]any{
		"event_id": eventID, "user_id": fmt.Sprintf("user-%d", r.IntN(5000)), "track_id": fmt.Sprintf("track-%d", r.IntN(100000)),
		"ms_played": int64(r.IntN(300_000)), "client_time": client,
		"platform": goavro.Union("string", platforms[r.IntN(len(platforms))]),
	}
}

// Message is a generated message and what the pipeline should make of it.
type Message struct {
	message.Message
	EventID    string
	ClientTime time.Time
	Valid      bool
	Copy       bool // a retry or redelivery of an earlier message
}

// Generate returns the messages of spec in publish order.
func Generate(spec Spec) ([]Message, error) {
	codec, err := goavro.NewCodec(Schema)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	var out []Message
	step := spec.Span / time.Duration(max(spec.Events, 1))
	for i := 0; i < spec.Events; i++ {
		p := spec.Start.Add(time.Duration(i) * step).Truncate(time.Millisecond).UTC()
		client := p.Add(-time.Duration(r.IntN(120_000)) * time.Millisecond)
		switch x := r.Float64(); {
		case x < spec.Skewed:
			client = p.Add(-2 * time.Hour)
		case x < spec.Skewed+spec.Future:
			client = p.Add(time.Hour)
		}
		id := fmt.Sprintf("ev-%d-%06d", spec.Seed, i)
		rec := Record(r, id, client)
		m := Message{EventID: id, ClientTime: client, Valid: true}
		m.ID = fmt.Sprintf("m-%d-%06d", spec.Seed, i)
		m.PublishTime = p.UnixMilli()
		m.Attributes = map[string]string{"event_id": id}
		if r.Float64() < spec.JSON {
			m.Attributes["googclient_schemaencoding"] = "JSON"
			m.Data, err = codec.TextualFromNative(nil, rec)
		} else {
			m.Data, err = codec.BinaryFromNative(nil, rec)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		if r.Float64() < spec.Retries {
			c := m
			c.Copy = true
			c.ID += "-retry"
			c.PublishTime += int64(r.IntN(20_000))
			c.Attributes = maps.Clone(m.Attributes)
			out = append(out, c)
		}
		if r.Float64() < spec.Redelivers {
			c := m
			c.Copy = true
			c.PublishTime += int64(r.IntN(20_000))
			out = append(out, c)
		}
		if r.Float64() < spec.Invalid {
			bad := Message{}
			bad.ID = fmt.Sprintf("bad-%d-%06d", spec.Seed, i)
			bad.PublishTime = p.UnixMilli()
			switch i % 3 {
			case 0:
				bad.Data, bad.Attributes = []byte("not avro at all"), map[string]string{"event_id": "x" + bad.ID}
			case 1:
				bad.Data, bad.Attributes = append(append([]byte{}, m.Data...), 0x01, 0x02), map[string]string{"event_id": "x" + bad.ID}
			default:
				bad.Data, bad.Attributes = m.Data, map[string]string{}
			}
			if m.Attributes["googclient_schemaencoding"] == "JSON" {
				bad.Attributes["googclient_schemaencoding"] = "JSON"
			}
			out = append(out, bad)
		}
	}
	return out, nil
}
