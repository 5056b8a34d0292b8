package codec

import (
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

const nestedSchema = `{"type": "record", "name": "Ev", "namespace": "t", "fields": [
  {"name": "meta", "type": {"type": "record", "name": "Meta", "fields": [
    {"name": "id", "type": ["null", "string"]},
    {"name": "sent", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]}
  ]}},
  {"name": "when", "type": "string"},
  {"name": "count", "type": "long"}
]}`

func encode(t *testing.T, native map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(nestedSchema)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testMessage is what the codec reads of a Pub/Sub message.
type testMessage struct {
	PublishTime int64
	Data        []byte
	Attributes  map[string]string
}

func mustSource(s string) Source {
	src, err := ParseSource(s)
	if err != nil {
		panic(err)
	}
	return src
}

func TestDecode(t *testing.T) {
	sent := time.Date(2026, 11, 20, 10, 4, 5, 123000000, time.UTC)
	rec := map[string]any{
		"meta":  map[string]any{"id": goavro.Union("string", "ev-1"), "sent": goavro.Union("long.timestamp-micros", sent)},
		"when":  "2026-11-20T09:00:00Z",
		"count": int64(3),
	}
	noID := map[string]any{"meta": map[string]any{"id": nil, "sent": nil}, "when": "yesterday", "count": int64(1)}
	p := time.Date(2026, 11, 20, 10, 5, 0, 0, time.UTC).UnixMilli()
	msg := func(data []byte, attrs map[string]string) testMessage {
		return testMessage{PublishTime: p, Data: data, Attributes: attrs}
	}
	tests := []struct {
		name, id, bt string
		m            testMessage
		wantID       string
		wantTime     int64
		wantReason   string
	}{
		{"nested union id, micros field", "field:meta.id", "field:meta.sent", msg(encode(t, rec), nil), "ev-1", sent.UnixMilli(), ""},
		{"RFC3339 string field", "field:meta.id", "field:when", msg(encode(t, rec), nil), "ev-1", time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC).UnixMilli(), ""},
		{"attribute epoch ms", "attribute:eid", "attribute:ts", msg(encode(t, rec), map[string]string{"eid": "a", "ts": "1795172640000"}), "a", 1795172640000, ""},
		{"attribute RFC3339", "attribute:eid", "attribute:ts", msg(encode(t, rec), map[string]string{"eid": "a", "ts": "2026-11-20T11:04:00.5+01:00"}), "a", time.Date(2026, 11, 20, 10, 4, 0, 500000000, time.UTC).UnixMilli(), ""},
		{"publish time", "attribute:eid", "publish_time", msg(encode(t, rec), map[string]string{"eid": "a"}), "a", p, ""},
		{"null id field", "field:meta.id", "publish_time", msg(encode(t, noID), nil), "", 0, "missing event id"},
		{"bad RFC3339 field", "field:meta.id", "field:when", msg(encode(t, map[string]any{"meta": rec["meta"], "when": "yesterday", "count": int64(1)}), nil), "", 0, "bad bucket time"},
		{"null time field", "field:meta.id", "field:meta.sent", msg(encode(t, map[string]any{"meta": map[string]any{"id": goavro.Union("string", "x"), "sent": nil}, "when": "", "count": int64(1)}), nil), "", 0, "missing bucket time"},
		{"bad attribute time", "attribute:eid", "attribute:ts", msg(encode(t, rec), map[string]string{"eid": "a", "ts": "noon"}), "", 0, "bad bucket time"},
		{"missing attribute time", "attribute:eid", "attribute:ts", msg(encode(t, rec), map[string]string{"eid": "a"}), "", 0, "missing bucket time"},
		{"not a string id", "field:count", "publish_time", msg(encode(t, rec), nil), "", 0, "bad event id"},
		{"truncated", "field:meta.id", "publish_time", msg(encode(t, rec)[:5], nil), "", 0, "field meta.id: length 4 exceeds the 3 bytes left"},
		{"empty payload", "field:meta.id", "publish_time", msg(nil, nil), "", 0, "field meta.id: truncated"},
		{"unknown encoding", "field:meta.id", "publish_time", msg(encode(t, rec), map[string]string{"googclient_schemaencoding": "XML"}), "", 0, "bad encoding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{Schema: nestedSchema, EventID: mustSource(tc.id), BucketTime: mustSource(tc.bt)})
			if err != nil {
				t.Fatal(err)
			}
			e, reason := d.Decode(tc.m.Data, tc.m.Attributes, tc.m.PublishTime)
			if tc.wantReason != "" {
				if !strings.HasPrefix(reason, tc.wantReason) {
					t.Errorf("reason = %q, want prefix %q", reason, tc.wantReason)
				}
				return
			}
			if reason != "" || e.ID != tc.wantID || e.Time != tc.wantTime {
				t.Errorf("Decode = %+v, %q; want id %q time %d", e, reason, tc.wantID, tc.wantTime)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Schema: `{"type": "nope"}`, EventID: mustSource("attribute:x")}, "schema"},
		{Config{Schema: nestedSchema, EventID: Source{Kind: PublishTime}}, "event id"},
		{Config{Schema: nestedSchema, EventID: mustSource("field:meta.nope")}, "no field"},
		{Config{Schema: nestedSchema, EventID: mustSource("field:when.x")}, "not a record"},
		{Config{Schema: nestedSchema, EventID: mustSource("attribute:x"), BucketTime: mustSource("field:absent")}, "bucket time"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want an error about %q", tc.cfg.EventID, err, tc.want)
		}
	}
	for _, bad := range []string{"", "attribute:", "header:x", "publish"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) = nil error", bad)
		}
	}
}
