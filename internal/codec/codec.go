// Package codec decodes and validates the Avro payload of one Pub/Sub message of an event
// type and extracts its event id and bucket time. It links no Beam: the pipeline's decode
// transform is a thin DoFn over it, and its fuzz targets build in seconds.
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
// id or an unreadable bucket time, gets the reason (`field device.os: not valid UTF-8`);
// decoding never panics.
package codec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
)

// EncodingAttribute is the Pub/Sub attribute that names a message's schema encoding.
const EncodingAttribute = "googclient_schemaencoding"

// Config says how to read one event type's messages.
type Config struct {
	Schema     string // the Avro schema, JSON
	EventID    Source // attribute or field
	BucketTime Source // publish time, attribute or field
	// Revisions maps the ids of the schema revisions a message may name in its
	// googclient_schemarevisionid attribute to their schemas (JSON). Empty: the attribute
	// is ignored and every message is read with Schema.
	Revisions map[string]string
}

// Validate reports a configuration that cannot work: a bad schema, or a field source
// naming a field the schema does not have.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// Decoded is a valid message's event: its id, bucket time and record.
type Decoded struct {
	ID     string
	Time   int64  // bucket time, Unix milliseconds
	Record []byte // the record in Avro binary of the (reader) schema
	// Revision is the writer revision the message named, when Config.Revisions is set;
	// empty when it named none.
	Revision string
}

// Decoder decodes the messages of one event type. It is safe for one goroutine.
type Decoder struct {
	cfg     Config
	codec   *goavro.Codec
	strict  *node
	idPath  []step
	timePth []step
	writers map[string]*writer // by revision id; nil when revisions are not known
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
	if d.writers, err = writers(cfg.Schema, cfg.Revisions); err != nil {
		return nil, err
	}
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

// Decode decodes one message's payload, given its attributes and publish time (Unix
// milliseconds), or returns why it is invalid.
func (d *Decoder) Decode(data []byte, attrs map[string]string, publishTime int64) (Decoded, string) {
	var rev string
	if d.writers != nil {
		if rev = attrs[RevisionAttribute]; rev != "" {
			w, ok := d.writers[rev]
			if !ok {
				return Decoded{}, fmt.Sprintf("unknown schema revision %q (%s): not one of the %d revisions known", rev, RevisionAttribute, len(d.writers))
			}
			if !w.identity {
				if len(data) > MaxMessageBytes {
					return Decoded{}, fmt.Sprintf("too large: %d bytes, more than Pub/Sub's limit of %d", len(data), MaxMessageBytes)
				}
				json, reason := isJSON(attrs)
				if reason != "" {
					return Decoded{}, reason
				}
				if json && jsonDepth(data, 2*MaxDepth+1) > 2*MaxDepth+1 {
					return Decoded{}, fmt.Sprintf("nested deeper than %d levels", MaxDepth)
				}
				if data, reason = w.toReader(rev, data, json); reason != "" {
					return Decoded{}, reason
				}
				attrs = binaryOf(attrs)
			}
		}
	}
	native, record, reason := d.decodeRecord(data, attrs)
	if reason != "" {
		return Decoded{}, reason
	}
	id, reason := eventID(d.cfg.EventID, d.idPath, attrs, native)
	if reason != "" {
		return Decoded{}, reason
	}
	if len(id) > MaxEventIDBytes {
		return Decoded{}, fmt.Sprintf("event id too long: %d bytes, more than %d", len(id), MaxEventIDBytes)
	}
	t, reason := bucketTime(d.cfg.BucketTime, d.timePth, attrs, publishTime, native)
	if reason != "" {
		return Decoded{}, reason
	}
	return Decoded{ID: id, Time: t, Record: record, Revision: rev}, ""
}

// isJSON reports whether the message's encoding is JSON, or why the encoding is bad.
func isJSON(attrs map[string]string) (bool, string) {
	switch enc := attrs[EncodingAttribute]; strings.ToUpper(enc) {
	case "", "BINARY":
		return false, ""
	case "JSON":
		return true, ""
	default:
		return false, fmt.Sprintf("bad encoding: %s=%q, want JSON or BINARY", EncodingAttribute, enc)
	}
}

// binaryOf returns attrs saying the payload is now binary, leaving the message's own
// attributes as they are.
func binaryOf(attrs map[string]string) map[string]string {
	if _, ok := attrs[EncodingAttribute]; !ok {
		return attrs
	}
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		out[k] = v
	}
	out[EncodingAttribute] = "BINARY"
	return out
}

// decodeRecord checks the payload strictly and returns the record in Avro binary, and in
// goavro's native form when a field is read from it. Binary is checked before goavro
// decodes it, so goavro never sees a block count or a nesting it would allocate or recurse
// for without bound.
func (d *Decoder) decodeRecord(data []byte, attrs map[string]string) (native any, record []byte, reason string) {
	if len(data) > MaxMessageBytes {
		return nil, nil, fmt.Sprintf("too large: %d bytes, more than Pub/Sub's limit of %d", len(data), MaxMessageBytes)
	}
	var err error
	switch enc := attrs[EncodingAttribute]; strings.ToUpper(enc) {
	case "", "BINARY":
		if err := check(d.strict, data); err != nil {
			return nil, nil, err.Error()
		}
		record = data
		if d.idPath == nil && d.timePth == nil {
			return nil, record, "" // nothing to read from the record
		}
		if native, _, err = d.codec.NativeFromBinary(record); err != nil {
			return nil, nil, "undecodable: " + err.Error()
		}
		return native, record, ""
	case "JSON":
		if jsonDepth(data, 2*MaxDepth+1) > 2*MaxDepth+1 {
			return nil, nil, fmt.Sprintf("nested deeper than %d levels", MaxDepth)
		}
		native, rest, err := d.codec.NativeFromTextual(data)
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

func eventID(src Source, path []step, attrs map[string]string, native any) (string, string) {
	var v any
	switch src.Kind {
	case Attribute:
		if a, ok := attrs[src.Name]; ok {
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

func bucketTime(src Source, path []step, attrs map[string]string, publishTime int64, native any) (int64, string) {
	switch src.Kind {
	case PublishTime:
		return publishTime, ""
	case Attribute:
		a, ok := attrs[src.Name]
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
