// Package decode turns Pub/Sub messages into events of one event type: a thin DoFn over
// internal/codec, which decodes and validates the Avro payload and extracts the event id
// and the bucket time (its package comment says how strictly).
//
// # Behavior
//
// A message the codec refuses becomes a dead letter with the codec's reason (`field
// device.os: not valid UTF-8`) and counts in the eventdelivery/invalid counter; decoding
// never fails the pipeline. Each element keeps its timestamp.
package decode

import (
	"context"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn4x1[context.Context, message.Message, func(message.Event), func(message.DeadLetter), error](&decodeFn{})
	register.Emitter1[message.Event]()
	register.Emitter1[message.DeadLetter]()
}

var invalid = beam.NewCounter("eventdelivery", "invalid")

// Config says how to read one event type's messages (codec.Config).
type Config = codec.Config

// Source names where the event id or the bucket time comes from (codec.Source).
type Source = codec.Source

// Where a value of an event comes from (codec.Kind).
const (
	PublishTime = codec.PublishTime
	Attribute   = codec.Attribute
	Field       = codec.Field
)

// EncodingAttribute is the Pub/Sub attribute that names a message's schema encoding.
const EncodingAttribute = codec.EncodingAttribute

// ParseSource parses publish_time, attribute:NAME or field:NAME.
func ParseSource(s string) (Source, error) { return codec.ParseSource(s) }

// Decoder decodes messages into events with a codec.Decoder.
type Decoder struct{ c *codec.Decoder }

// New returns a decoder for cfg.
func New(cfg Config) (*Decoder, error) {
	c, err := codec.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Decoder{c: c}, nil
}

// Decode decodes one message, or returns why it is invalid.
func (d *Decoder) Decode(m message.Message) (message.Event, string) {
	e, reason := d.c.Decode(m.Data, m.Attributes, m.PublishTime)
	if reason != "" {
		return message.Event{}, reason
	}
	return message.Event{ID: e.ID, MessageID: m.ID, PublishTime: m.PublishTime, Time: e.Time, Record: e.Record, AckID: m.AckID, Revision: e.Revision}, ""
}

// Decode decodes PCollection<message.Message> into PCollection<message.Event> and
// PCollection<message.DeadLetter>, keeping each element's timestamp.
func Decode(s beam.Scope, msgs beam.PCollection, cfg Config) (events, dead beam.PCollection) {
	s = s.Scope("decode.Decode")
	if err := cfg.Validate(); err != nil {
		panic("decode.Decode: " + err.Error())
	}
	return beam.ParDo2(s, &decodeFn{Config: cfg}, msgs)
}

type decodeFn struct {
	Config Config
	d      *Decoder
}

func (f *decodeFn) Setup() (err error) {
	f.d, err = New(f.Config)
	return err
}

func (f *decodeFn) ProcessElement(ctx context.Context, m message.Message, emit func(message.Event), emitDead func(message.DeadLetter)) error {
	e, reason := f.d.Decode(m)
	if reason != "" {
		invalid.Inc(ctx, 1)
		// The reason is a string in the dead-letter file: keep it UTF-8 whatever a
		// library's error quoted of the payload.
		emitDead(message.DeadLetter{Message: m, Reason: strings.ToValidUTF8(reason, "\uFFFD")})
		return nil
	}
	emit(e)
	return nil
}
