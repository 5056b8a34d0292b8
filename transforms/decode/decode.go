// Package decode turns Pub/Sub messages into events of one event type: it decodes and
// validates the Avro payload and extracts the event id and the bucket time.
//
// # Behavior
//
// The payload is Avro binary of the event type's schema, or Avro's JSON encoding when the
// attribute googclient_schemaencoding is JSON (Pub/Sub's schema convention). Records are
// carried on in binary, and the files append those bytes as they are, so the bytes are
// checked as strictly as Apache Avro's readers read them (strict.go): strings and map keys
// in UTF-8, enum and union indexes in range, no negative lengths, block counts the bytes
// can hold, ints in 32 bits, booleans 0 or 1, dates and timestamps within years 1-9999,
// times within a day, decimals within their precision, uuids in RFC 4122 form. A message
// that breaks any of these, cannot be decoded (bad bytes, trailing bytes, another schema),
// is over a limit (MaxMessageBytes, MaxDepth, MaxItems, MaxEventIDBytes), or has no event
// id or an unreadable bucket time, becomes a dead letter with the reason (`field
// device.os: not valid UTF-8`); decoding never fails the pipeline.
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
	strict  *node
	idPath  []step
	timePth []step
}

// New returns a decoder for cfg.
func New(cfg Config) (*Decoder, error) {
	codec, err := goavro.NewCodec(cfg.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	strict, err := compile(cfg.Schema)
	if err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, codec: codec, strict: strict}
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
		// The reason is a string in the dead-letter file: keep it UTF-8 whatever a
		// library's error quoted of the payload.
		emitDead(message.DeadLetter{Message: m, Reason: strings.ToValidUTF8(reason, "\uFFFD")})
		return nil
	}
	emit(e)
	return nil
}

// Decode decodes one message, or returns why it is invalid.
func (d *Decoder) Decode(m message.Message) (message.Event, string) {
	native, record, reason := d.decodeRecord(m)
	if reason != "" {
		return message.Event{}, reason
	}
	id, reason := eventID(d.cfg.EventID, d.idPath, m, native)
	if reason != "" {
		return message.Event{}, reason
	}
	if len(id) > MaxEventIDBytes {
		return message.Event{}, fmt.Sprintf("event id too long: %d bytes, more than %d", len(id), MaxEventIDBytes)
	}
	t, reason := bucketTime(d.cfg.BucketTime, d.timePth, m, native)
	if reason != "" {
		return message.Event{}, reason
	}
	return message.Event{ID: id, MessageID: m.ID, PublishTime: m.PublishTime, Time: t, Record: record, AckID: m.AckID}, ""
}

// decodeRecord checks the payload strictly and returns the record in Avro binary, and in
// goavro's native form when a field is read from it. Binary is checked before goavro
// decodes it, so goavro never sees a block count or a nesting it would allocate or recurse
// for without bound.
func (d *Decoder) decodeRecord(m message.Message) (native any, record []byte, reason string) {
	if len(m.Data) > MaxMessageBytes {
		return nil, nil, fmt.Sprintf("too large: %d bytes, more than Pub/Sub's limit of %d", len(m.Data), MaxMessageBytes)
	}
	var err error
	switch enc := m.Attributes[EncodingAttribute]; strings.ToUpper(enc) {
	case "", "BINARY":
		if err := check(d.strict, m.Data); err != nil {
			return nil, nil, err.Error()
		}
		record = m.Data
		if d.idPath == nil && d.timePth == nil {
			return nil, record, "" // nothing to read from the record
		}
		if native, _, err = d.codec.NativeFromBinary(record); err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		return native, record, ""
	case "JSON":
		if jsonDepth(m.Data, 2*MaxDepth+1) > 2*MaxDepth+1 {
			return nil, nil, fmt.Sprintf("nested deeper than %d levels", MaxDepth)
		}
		native, rest, err := d.codec.NativeFromTextual(m.Data)
		if err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, nil, fmt.Sprintf("trailing bytes: %d after the record", len(bytes.TrimSpace(rest)))
		}
		if record, err = d.codec.BinaryFromNative(nil, native); err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		if err := check(d.strict, record); err != nil {
			return nil, nil, err.Error()
		}
		return native, record, ""
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
