package codec

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// revisions reads the example event type's three revisions: r2 adds the enum symbol WEB;
// r3, the reader, promotes ms_played from int to long, removes legacy_device and adds
// country and tags with defaults.
func revisions(t testing.TB) map[string]string {
	out := map[string]string{}
	for _, id := range []string{"r1", "r2", "r3"} {
		b, err := os.ReadFile("testdata/revisions/" + id + ".avsc")
		if err != nil {
			t.Fatal(err)
		}
		out[id] = string(b)
	}
	return out
}

func encodeWith(t testing.TB, schema string, json bool, rec map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if json {
		b, err = c.TextualFromNative(nil, rec)
	} else {
		b, err = c.BinaryFromNative(nil, rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResolveRevisions decodes messages of every revision, binary and JSON, and of an
// unknown one: every record accepted is in the reader schema with the right values and
// defaults, every other has its reason.
func TestResolveRevisions(t *testing.T) {
	revs := revisions(t)
	// r0 is a revision the reader cannot read: ms_played was a string.
	revs["r0"] = strings.Replace(revs["r1"], `"name": "ms_played", "type": "int"`, `"name": "ms_played", "type": "string"`, 1)
	d, err := New(Config{Schema: revs["r3"], EventID: mustSource("field:event_id"), BucketTime: mustSource("publish_time"), Revisions: revs})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := goavro.NewCodec(revs["r3"])
	if err != nil {
		t.Fatal(err)
	}
	v1 := map[string]any{"event_id": "a", "ms_played": int32(7), "platform": "ANDROID", "legacy_device": "nexus"}
	v2 := map[string]any{"event_id": "b", "ms_played": int32(-8), "platform": "WEB", "legacy_device": "x"}
	v3 := map[string]any{"event_id": "c", "ms_played": int64(1) << 40, "platform": "IOS", "country": "SE", "tags": goavro.Union("array", []any{"t"})}
	want1 := map[string]any{"event_id": "a", "ms_played": int64(7), "platform": "ANDROID", "country": "unknown", "tags": nil}
	want2 := map[string]any{"event_id": "b", "ms_played": int64(-8), "platform": "WEB", "country": "unknown", "tags": nil}
	want3 := map[string]any{"event_id": "c", "ms_played": int64(1) << 40, "platform": "IOS", "country": "SE", "tags": map[string]any{"array": []any{"t"}}}
	attrs := func(rev string, json bool) map[string]string {
		a := map[string]string{}
		if rev != "" {
			a[RevisionAttribute] = rev
		}
		if json {
			a[EncodingAttribute] = "JSON"
		}
		return a
	}
	for _, json := range []bool{false, true} {
		tests := []struct {
			name, rev string
			data      []byte
			want      map[string]any
			reason    string
		}{
			{"r1: promoted, removed, defaulted", "r1", encodeWith(t, revs["r1"], json, v1), want1, ""},
			{"r2: the added enum symbol", "r2", encodeWith(t, revs["r2"], json, v2), want2, ""},
			{"r3: the reader's own revision", "r3", encodeWith(t, revs["r3"], json, v3), want3, ""},
			{"no revision: the reader schema", "", encodeWith(t, revs["r3"], json, v3), want3, ""},
			{"unknown revision", "r9", encodeWith(t, revs["r1"], json, v1), nil, `unknown schema revision "r9"`},
			{"revision the reader cannot read", "r0", encodeWith(t, revs["r1"], json, v1), nil, `schema revision "r0" cannot be read as the reader schema: field ms_played`},
			{"bytes that do not decode with their revision", "r1", encodeWith(t, revs["r1"], json, v1)[:4], nil, `schema revision "r1": `},
			{"an r1 record named as r2, enum index out of its range", "r1", encodeWith(t, revs["r2"], json, v2), nil, `schema revision "r1": `},
		}
		for _, tc := range tests {
			e, reason := d.Decode(tc.data, attrs(tc.rev, json), 0)
			if tc.reason != "" {
				if !strings.HasPrefix(reason, tc.reason) {
					t.Errorf("json=%v %s: reason %q, want %q", json, tc.name, reason, tc.reason)
				}
				continue
			}
			if reason != "" {
				t.Errorf("json=%v %s: %s", json, tc.name, reason)
				continue
			}
			got, rest, err := reader.NativeFromBinary(e.Record)
			if err != nil || len(rest) > 0 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("json=%v %s: read back %v (%v, %d left), want %v", json, tc.name, got, err, len(rest), tc.want)
			}
			if e.Revision != tc.rev || e.ID != tc.want["event_id"] {
				t.Errorf("json=%v %s: revision %q id %q", json, tc.name, e.Revision, e.ID)
			}
		}
	}
}

// TestResolveKeepsStrictChecks checks that a writer revision's bytes get the strict checks
// of that revision, and the record in the reader schema those of the reader.
func TestResolveKeepsStrictChecks(t *testing.T) {
	revs := revisions(t)
	d, err := New(Config{Schema: revs["r3"], EventID: mustSource("field:event_id"), BucketTime: mustSource("publish_time"), Revisions: revs})
	if err != nil {
		t.Fatal(err)
	}
	bad := rec{}.str("ev-\xff").long(7).long(1).str("nexus")
	if _, reason := d.Decode(bad, map[string]string{RevisionAttribute: "r1"}, 0); reason != `schema revision "r1": field event_id: not valid UTF-8` {
		t.Errorf("reason %q", reason)
	}
	big := rec{}.str("a").long(1 << 32).long(1).str("nexus")
	if _, reason := d.Decode(big, map[string]string{RevisionAttribute: "r1"}, 0); !strings.Contains(reason, "field ms_played: int 4294967296 overflows 32 bits") {
		t.Errorf("reason %q", reason)
	}
}

// TestNoRevisionsIgnoresTheAttribute keeps today's behaviour when no revisions are known.
func TestNoRevisionsIgnoresTheAttribute(t *testing.T) {
	revs := revisions(t)
	d, err := New(Config{Schema: revs["r3"], EventID: mustSource("field:event_id"), BucketTime: mustSource("publish_time")})
	if err != nil {
		t.Fatal(err)
	}
	data := encodeWith(t, revs["r3"], false, map[string]any{"event_id": "c", "ms_played": int64(1), "platform": "IOS", "country": "SE", "tags": nil})
	e, reason := d.Decode(data, map[string]string{RevisionAttribute: "whatever"}, 0)
	if reason != "" || string(e.Record) != string(data) || e.Revision != "" {
		t.Fatalf("Decode = %+v, %q", e, reason)
	}
}

func TestCompatibleAndDiff(t *testing.T) {
	revs := revisions(t)
	for _, w := range []string{"r1", "r2", "r3"} {
		if err := Compatible(revs["r3"], revs[w]); err != nil {
			t.Errorf("r3 reads %s: %v", w, err)
		}
	}
	for _, tc := range []struct{ reader, writer, want string }{
		{"r1", "r3", "field ms_played: "},
		{"r1", "r2", "field platform: "},
		{strings.Replace(revs["r3"], `, "default": "unknown"`, "", 1), "r1", "field country: added without a default"},
	} {
		reader := revs[tc.reader]
		if reader == "" {
			reader = tc.reader
		}
		if err := Compatible(reader, revs[tc.writer]); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Compatible(%.20s, %s) = %v, want %q", tc.reader, tc.writer, err, tc.want)
		}
	}
	c, err := Diff(revs["r1"], revs["r3"])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "+country +tags -legacy_device ~ms_played int→long ~platform enum(2 symbols)→enum(3 symbols)"; got != want {
		t.Errorf("Diff = %q, want %q", got, want)
	}
	if c, _ := Diff(revs["r3"], revs["r3"]); !c.Empty() {
		t.Errorf("Diff of a schema with itself = %q", c)
	}
	fp, err := Fingerprint(revs["r3"])
	if err != nil || len(fp) != 64 {
		t.Errorf("Fingerprint = %q, %v", fp, err)
	}
}
