package output

import (
	"encoding/binary"
	"maps"
	"slices"
)

// DeadLetterSchema is the Avro schema of dead-letter files.
const DeadLetterSchema = `{"type": "record", "name": "DeadLetter", "namespace": "eventdelivery",
 "fields": [
  {"name": "message_id", "type": "string"},
  {"name": "publish_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "attributes", "type": {"type": "map", "values": "string"}},
  {"name": "data", "type": "bytes"},
  {"name": "reason", "type": "string"}
 ]}`

// DeadLetter is one record of a dead-letter file: the message as it came, and why it could
// not be delivered.
type DeadLetter struct {
	MessageID   string
	PublishTime int64 // Unix ms
	Attributes  map[string]string
	Data        []byte
	Reason      string
}

// Append appends d to buf as a record of DeadLetterSchema in Avro binary. Attributes go in
// key order, so that the same dead letters always give the same file (goavro encodes a map
// in Go's random order).
func (d DeadLetter) Append(buf []byte) []byte {
	str := func(buf []byte, s string) []byte {
		return append(binary.AppendVarint(buf, int64(len(s))), s...)
	}
	buf = str(buf, d.MessageID)
	buf = binary.AppendVarint(buf, d.PublishTime)
	if n := len(d.Attributes); n > 0 {
		buf = binary.AppendVarint(buf, int64(n)) // one block of n entries
		for _, k := range slices.Sorted(maps.Keys(d.Attributes)) {
			buf = str(str(buf, k), d.Attributes[k])
		}
	}
	buf = binary.AppendVarint(buf, 0) // end of the map
	buf = append(binary.AppendVarint(buf, int64(len(d.Data))), d.Data...)
	return str(buf, d.Reason)
}
