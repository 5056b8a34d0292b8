package replay

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// Avro inputs: Pub/Sub Cloud Storage subscription archives and dead-letter files.
//
// A Cloud Storage subscription with Avro output writes object container files whose
// records hold the message's data (bytes) and, with write_metadata on, its
// subscription_name (string), message_id (string), publish_time and attributes
// (map<string, string>; every other property of the message but data, an ordering key for
// one, goes there too), as documented at
// https://cloud.google.com/pubsub/docs/cloudstorage#file_format and in the API reference
// of CloudStorageConfig.AvroConfig.write_metadata. publish_time is read as an Avro
// timestamp-micros or timestamp-millis long, or as an RFC 3339 string; any field may also
// be a union with null. A file written without metadata has no publish time, which a
// replay needs to place and order each message: it is refused, naming the file.
//
// A dead-letter file (output.DeadLetterSchema) holds the message as it came (message_id,
// publish_time, attributes, data) and the reason it was not delivered: replaying it decodes
// the message again, so that after a fix of the schema or the parser it is delivered, and
// one still invalid becomes a dead letter again, with its new reason.

// ArchiveSchema is the schema of the files a Cloud Storage subscription writes with Avro
// output and write_metadata on, as documented (above): what tests write to stand for an
// archive. Without metadata the records hold data only.
const ArchiveSchema = `{"type": "record", "name": "PubsubMessage", "namespace": "com.google.pubsub.v1",
 "fields": [
  {"name": "subscription_name", "type": "string"},
  {"name": "message_id", "type": "string"},
  {"name": "publish_time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "attributes", "type": {"type": "map", "values": "string"}},
  {"name": "data", "type": "bytes"}
 ]}`

// avroRecords reads one Avro object container file.
type avroRecords struct {
	ocf   *goavro.OCFReader
	c     io.Closer
	union map[string]bool // fields whose type is a union: goavro wraps their values
}

// openAvro reads the header of the Avro file in r and checks that its schema is that of
// format (Auto: either, told apart by its fields).
func openAvro(r *bufio.Reader, c io.Closer, format InputFormat) (records, error) {
	ocf, err := goavro.NewOCFReader(r)
	if err != nil {
		return nil, fmt.Errorf("not an Avro object container file: %w", err)
	}
	var schema struct {
		Type   string `json:"type"`
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(ocf.Codec().Schema()), &schema); err != nil || schema.Type != "record" {
		return nil, errors.New("the Avro file's schema is not a record")
	}
	a := &avroRecords{ocf: ocf, c: c, union: map[string]bool{}}
	has := map[string]bool{}
	for _, f := range schema.Fields {
		has[f.Name] = true
		a.union[f.Name] = len(f.Type) > 0 && f.Type[0] == '['
	}
	kind := PubSubAvro
	if has["reason"] {
		kind = DeadLetter
	}
	switch {
	case format != Auto && format != kind:
		return nil, fmt.Errorf("--input_format=%s, but the file's schema is that of %s (fields %v)", format, kind, fieldNames(has))
	case !has["data"]:
		return nil, fmt.Errorf("an Avro file with no data field (fields %v): neither a Pub/Sub Cloud Storage subscription archive nor a dead-letter file", fieldNames(has))
	case !has["publish_time"]:
		return nil, errors.New("a Pub/Sub archive written without metadata (no publish_time field): a replay needs each message's publish time; " +
			"archive with write_metadata on (gcloud pubsub subscriptions create --cloud-storage-write-metadata)")
	}
	return a, nil
}

func fieldNames(has map[string]bool) []string {
	var out []string
	for _, n := range []string{"subscription_name", "message_id", "publish_time", "attributes", "data", "reason"} {
		if has[n] {
			out = append(out, n)
		}
	}
	return out
}

func (a *avroRecords) Next() (record, error) {
	if !a.ocf.Scan() {
		if err := a.ocf.Err(); err != nil {
			return record{}, err
		}
		return record{}, io.EOF
	}
	v, err := a.ocf.Read()
	if err != nil {
		return record{}, err
	}
	fields, ok := v.(map[string]any)
	if !ok {
		return record{}, fmt.Errorf("record is a %T, not a record", v)
	}
	get := func(name string) any {
		x := fields[name]
		if w, ok := x.(map[string]any); ok && a.union[name] {
			for _, inner := range w { // a union's value: {"type": value}
				return inner
			}
		}
		return x
	}
	var m message.Message
	m.ID, _ = get("message_id").(string)
	switch d := get("data").(type) {
	case []byte:
		m.Data = d
	case string:
		m.Data = []byte(d)
	}
	if attrs, ok := get("attributes").(map[string]any); ok && len(attrs) > 0 {
		m.Attributes = make(map[string]string, len(attrs))
		for k, x := range attrs {
			m.Attributes[k], _ = x.(string)
		}
	}
	pt, reason := publishTime(get("publish_time"))
	if reason != "" {
		// No publish time to place it by: kept whole, as a replay line whose Parse says why.
		b, _ := json.Marshal(Line{MessageID: m.ID, PublishTime: reason, Attributes: m.Attributes, Data: base64.StdEncoding.EncodeToString(m.Data)})
		return record{raw: string(b)}, nil
	}
	m.PublishTime = pt
	rec := record{msg: m, ok: true}
	if m.ID == "" {
		rec.reason = "bad archive record: no message_id"
	}
	return rec, nil
}

// publishTime reads a publish_time value as goavro gives it; a reason when it has none.
func publishTime(v any) (int64, string) {
	switch t := v.(type) {
	case time.Time:
		return t.UnixMilli(), ""
	case string:
		p, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return 0, t
		}
		return p.UnixMilli(), ""
	case nil:
		return 0, "null"
	}
	return 0, fmt.Sprint(v) // a long without a timestamp logical type: no unit to read it in
}

func (a *avroRecords) Close() error { return a.c.Close() }
