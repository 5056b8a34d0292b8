package codec

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// strictSchema has a field of every kind the strict checks look at.
const strictSchema = `{"type": "record", "name": "Ev", "namespace": "t", "fields": [
  {"name": "id", "type": "string"},
  {"name": "device", "type": {"type": "record", "name": "Device", "fields": [
    {"name": "os", "type": ["null", "string"]}]}},
  {"name": "flag", "type": "boolean"},
  {"name": "n", "type": "int"},
  {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
  {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 2}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "attrs", "type": {"type": "map", "values": "long"}},
  {"name": "nulls", "type": {"type": "array", "items": "null"}},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
  {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}},
  {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
  {"name": "next", "type": ["null", "Ev"]}
]}`

// rec builds Avro binary piece by piece.
type rec []byte

func (r rec) long(v int64) rec  { return binary.AppendVarint(r, v) }
func (r rec) raw(b ...byte) rec { return append(r, b...) }
func (r rec) str(s string) rec  { return append(r.long(int64(len(s))), s...) }

// valid returns a valid record whose parts can be swapped: each part is the bytes of one
// field, in order.
func validParts() []rec {
	return []rec{
		rec{}.str("ev-1"),                       // id
		rec{}.long(1).str("android"),            // device.os
		rec{}.raw(1),                            // flag
		rec{}.long(7),                           // n
		rec{}.long(1),                           // kind
		rec{}.raw(0xab, 0xcd),                   // hash
		rec{}.long(2).str("a").str("b").long(0), // tags
		rec{}.long(-1).long(3).str("k").long(5).long(0),   // attrs: one block with its size
		rec{}.long(3).long(0),                             // nulls
		rec{}.long(20000),                                 // day
		rec{}.long(1_790_000_000_000),                     // at
		rec{}.long(3_600_000),                             // clock
		rec{}.long(2).raw(0x27, 0x0f),                     // price 99.99
		rec{}.str("0c2a8a0e-7f25-4c59-9a57-0d5a4c7e1b2f"), // uid
		rec{}.long(0),                                     // next: null
	}
}

func join(parts []rec) []byte {
	return bytes.Join(func() [][]byte {
		out := make([][]byte, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out
	}(), nil)
}

// deep returns a record nested n times through next.
func deep(n int) []byte {
	var inner []byte
	parts := validParts()
	body := join(parts[:len(parts)-1])
	inner = append(append([]byte{}, body...), 0) // innermost: next = null
	for range n {
		inner = append(append(append([]byte{}, body...), 2), inner...) // next = branch 1, then the record
	}
	return inner
}

func TestStrict(t *testing.T) {
	d, err := New(Config{Schema: strictSchema, EventID: mustSource("field:id"), BucketTime: mustSource("field:at")})
	if err != nil {
		t.Fatal(err)
	}
	with := func(i int, r rec) []byte {
		parts := validParts()
		parts[i] = r
		return join(parts)
	}
	tests := []struct {
		name string
		data []byte
		want string // "" for valid
	}{
		{"valid", join(validParts()), ""},
		{"nested within the bound", deep(MaxDepth - 2), ""},
		{"string not UTF-8", with(0, rec{}.str("ev-\xff")), "field id: not valid UTF-8"},
		{"nested string not UTF-8", with(1, rec{}.long(1).str("andr\xc3oid")), "field device.os: not valid UTF-8"},
		{"surrogate in UTF-8", with(1, rec{}.long(1).str("\xed\xa0\x80")), "field device.os: not valid UTF-8"},
		{"array item not UTF-8", with(6, rec{}.long(2).str("a").str("\xfe").long(0)), "field tags[1]: not valid UTF-8"},
		{"map key not UTF-8", with(7, rec{}.long(1).str("\xff").long(5).long(0)), "field attrs[0]: map key not valid UTF-8"},
		{"union index out of range", with(1, rec{}.long(2).str("x")), "field device.os: union index 2, the union has 2 branches"},
		{"negative union index", with(1, rec{}.long(-1)), "field device.os: union index -1"},
		{"boolean byte 2", with(2, rec{}.raw(2)), "field flag: boolean byte 2, want 0 or 1"},
		{"int over 32 bits", with(3, rec{}.raw(0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), "field n: int varint longer than 5 bytes"},
		{"int value over 32 bits in 5 bytes", with(3, rec{}.long(1<<32)), "field n: int 4294967296 overflows 32 bits"},
		{"long varint over 10 bytes", with(10, rec{}.raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), "field at: long overflows 64 bits"},
		{"enum index out of range", with(4, rec{}.long(2)), "field kind: enum index 2, the enum has 2 symbols"},
		{"negative enum index", with(4, rec{}.long(-1)), "field kind: enum index -1"},
		{"fixed cut short", join(append(validParts()[:5], rec{}.raw(0xab))), "field hash: truncated"},
		{"negative string length", with(0, rec{}.long(-3)), "field id: negative length -3"},
		{"string of a terabyte", with(0, rec{}.long(1<<40)), "field id: length 1099511627776 exceeds"},
		{"block count in the billions", with(6, rec{}.long(3_000_000_000).str("a")), "field tags: block count 3000000000 exceeds what the"},
		{"zero-size items without bound", with(8, rec{}.long(MaxItems+1).long(0)), "field nulls: more than 1048576 items that take no bytes"},
		{"block size that lies", with(7, rec{}.long(-1).long(9).str("k").long(5).long(0)), "field attrs: block size 9, its items take 3 bytes"},
		{"date after year 9999", with(9, rec{}.long(3_000_000)), "field day: date 3000000 days is outside years 1 to 9999"},
		{"timestamp after year 9999", with(10, rec{}.long(1<<60)), "field at: timestamp-millis 1152921504606846976 is outside years 1 to 9999"},
		{"time of day over 24h", with(11, rec{}.long(86_400_000)), "field clock: time-millis 86400000 is not within a day"},
		{"decimal over its precision", with(12, rec{}.long(2).raw(0x27, 0x10)), "field price: decimal of 5 digits, the precision is 4"},
		{"decimal of no bytes", with(12, rec{}.long(0)), "field price: decimal of no bytes"},
		{"uuid not RFC 4122", with(13, rec{}.str("not-a-uuid")), `field uid: uuid "not-a-uuid" is not 8-4-4-4-12 hex digits`},
		{"nested deeper than the bound", deep(MaxDepth - 1), "field next.next."},
		{"trailing bytes", append(join(validParts()), 0), "trailing bytes: 1 after the record"},
		{"too large", make([]byte, MaxMessageBytes+1), "too large: 10000001 bytes, more than Pub/Sub's limit of 10000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := d.Decode(tc.data, nil, 0)
			if tc.want == "" && reason != "" || !strings.HasPrefix(reason, tc.want) {
				t.Errorf("reason = %q, want %q", reason, tc.want)
			}
		})
	}
	if _, reason := d.Decode(deep(MaxDepth-1), nil, 0); !strings.HasSuffix(reason, "nested deeper than 64 levels") {
		t.Errorf("deep record: %q", reason)
	}
}

// TestStrictJSON checks that the JSON encoding gets the same checks: bytes that are not UTF-8
// are refused after goavro's JSON decoder lets them through, and deep nesting is refused before goavro recurses.
func TestStrictJSON(t *testing.T) {
	d, err := New(Config{Schema: nestedSchema, EventID: mustSource("field:meta.id"), BucketTime: mustSource("publish_time")})
	if err != nil {
		t.Fatal(err)
	}
	json := map[string]string{EncodingAttribute: "JSON"}
	for _, tc := range []struct{ data, want string }{
		{`{"meta": {"id": {"string": "a"}, "sent": null}, "when": "x", "count": 1}`, ""},
		{`{"meta": {"id": {"string": "a"}, "sent": null}, "when": "\ud800", "count": 1}`, "undecodable: "},
		{`{"meta": {"id": {"string": "a"}, "sent": null}, "when": "` + "\xff" + `", "count": 1}`, "field when: not valid UTF-8"},
		{strings.Repeat("[", 200) + strings.Repeat("]", 200), "nested deeper than 64 levels"},
	} {
		_, reason := d.Decode([]byte(tc.data), json, 0)
		if tc.want == "" && reason != "" || !strings.HasPrefix(reason, tc.want) {
			t.Errorf("%.60s: reason = %q, want %q", tc.data, reason, tc.want)
		}
	}
}

// BenchmarkCheck measures the strict check of one play-track-sized record next to goavro
// decoding it, in the same run.
func BenchmarkCheck(b *testing.B) {
	d, err := New(Config{Schema: strictSchema, EventID: mustSource("field:id"), BucketTime: mustSource("field:at")})
	if err != nil {
		b.Fatal(err)
	}
	data := join(validParts())
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := check(d.strict, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goavro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := d.codec.NativeFromBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
