// Package decode turns Pub/Sub messages into events of one event type: it decodes and
// validates the Avro payload and extracts the event id and the bucket time.
//
// # Behavior
//
// The payload is Avro binary of the event type's schema, or Avro's JSON encoding when the
// attribute googclient_schemaencoding is JSON (Pub/Sub's schema convention). Records are
// carried on in binary. A message that cannot be decoded (bad bytes, trailing bytes, another
// schema), or has no event id or an unreadable bucket time, becomes a dead letter with the
// reason; decoding never fails the pipeline.
package decode

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn4x1[context.Context, message.Message, func(message.Event), func(message.DeadLetter), error](&decodeFn{})
	register.Emitter1[message.Event]()
	register.Emitter1[message.DeadLetter]()
}

var invalid = beam.NewCounter("eventdelivery", "invalid")

// EncodingAttribute is the Pub/Sub attribute that names a message's schema encoding.
const EncodingAttribute = "googclient_schemaencoding"

// Config says how to read one event type's messages.
type Config struct {
	Schema     string // the Avro schema, JSON
	EventID    Source // attribute or field
	BucketTime Source // publish time, attribute or field
}

// Validate reports a configuration that cannot work: a bad schema, or a field source
// naming a field the schema does not have.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// Decoder decodes the messages of one event type.
type Decoder struct {
	cfg     Config
	codec   *goavro.Codec
	idPath  []step
	timePth []step
}

// New returns a decoder for cfg.
func New(cfg Config) (*Decoder, error) {
	codec, err := goavro.NewCodec(cfg.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	d := &Decoder{cfg: cfg, codec: codec}
	switch cfg.EventID.Kind {
	case PublishTime:
		return nil, fmt.Errorf("event id: must be attribute:NAME or field:NAME")
	case Field:
		if d.idPath, err = fieldPath(cfg.Schema, cfg.EventID.Name); err != nil {
			return nil, fmt.Errorf("event id: %w", err)
		}
	}
	if cfg.BucketTime.Kind == Field {
		if d.timePth, err = fieldPath(cfg.Schema, cfg.BucketTime.Name); err != nil {
			return nil, fmt.Errorf("bucket time: %w", err)
		}
	}
	return d, nil
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
		emitDead(message.DeadLetter{Message: m, Reason: reason})
		return nil
	}
	emit(e)
	return nil
}

// Decode decodes one message, or returns why it is invalid.
func (d *Decoder) Decode(m message.Message) (message.Event, string) {
	native, record, reason := decodeRecord(d.codec, m)
	if reason != "" {
		return message.Event{}, reason
	}
	id, reason := eventID(d.cfg.EventID, d.idPath, m, native)
	if reason != "" {
		return message.Event{}, reason
	}
	t, reason := bucketTime(d.cfg.BucketTime, d.timePth, m, native)
	if reason != "" {
		return message.Event{}, reason
	}
	return message.Event{ID: id, MessageID: m.ID, PublishTime: m.PublishTime, Time: t, Record: record}, ""
}

func decodeRecord(codec *goavro.Codec, m message.Message) (native any, record []byte, reason string) {
	switch enc := m.Attributes[EncodingAttribute]; strings.ToUpper(enc) {
	case "", "BINARY":
		native, rest, err := codec.NativeFromBinary(m.Data)
		if err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		if len(rest) > 0 {
			return nil, nil, fmt.Sprintf("trailing bytes: %d after the record", len(rest))
		}
		return native, m.Data, ""
	case "JSON":
		native, rest, err := codec.NativeFromTextual(m.Data)
		if err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, nil, fmt.Sprintf("trailing bytes: %d after the record", len(bytes.TrimSpace(rest)))
		}
		bin, err := codec.BinaryFromNative(nil, native)
		if err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		return native, bin, ""
	default:
		return nil, nil, fmt.Sprintf("bad encoding: %s=%q, want JSON or BINARY", EncodingAttribute, enc)
	}
}

func eventID(src Source, path []step, m message.Message, native any) (string, string) {
	var v any
	switch src.Kind {
	case Attribute:
		if a, ok := m.Attributes[src.Name]; ok {
			v = a
		}
	case Field:
		v = lookup(native, path)
	}
	switch id := v.(type) {
	case nil:
		return "", "missing event id: " + src.String()
	case string:
		if id == "" {
			return "", "empty event id: " + src.String()
		}
		return id, ""
	case []byte:
		if len(id) == 0 {
			return "", "empty event id: " + src.String()
		}
		return string(id), ""
	default:
		return "", fmt.Sprintf("bad event id: %s is a %T, not a string", src, v)
	}
}

func bucketTime(src Source, path []step, m message.Message, native any) (int64, string) {
	switch src.Kind {
	case PublishTime:
		return m.PublishTime, ""
	case Attribute:
		a, ok := m.Attributes[src.Name]
		if !ok || a == "" {
			return 0, "missing bucket time: " + src.String()
		}
		if ms, err := strconv.ParseInt(a, 10, 64); err == nil {
			return ms, ""
		}
		t, err := time.Parse(time.RFC3339Nano, a)
		if err != nil {
			return 0, fmt.Sprintf("bad bucket time: %s is neither RFC3339 nor epoch milliseconds", src)
		}
		return t.UnixMilli(), ""
	default:
		switch v := lookup(native, path).(type) {
		case nil:
			return 0, "missing bucket time: " + src.String()
		case time.Time:
			return v.UnixMilli(), ""
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return 0, fmt.Sprintf("bad bucket time: %s is not RFC3339", src)
			}
			return t.UnixMilli(), ""
		default:
			return 0, fmt.Sprintf("bad bucket time: %s is a %T, not a timestamp-millis/micros long or an RFC3339 string", src, v)
		}
	}
}

// lookup returns the value at a field path in a decoded record, unwrapping unions.
func lookup(native any, path []step) any {
	v := native
	for _, st := range path {
		rec, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = rec[st.name]
		if st.union {
			v = unwrap(v)
		}
	}
	return v
}

// unwrap returns the value of a union, which goavro gives as a one-entry map keyed by the
// branch's type name, or nil for the null branch.
func unwrap(v any) any {
	if m, ok := v.(map[string]any); ok {
		for _, inner := range m {
			return inner
		}
	}
	return v
}
