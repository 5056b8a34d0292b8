package codec

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// playTrackSchema is the example event type's schema; the file is replaygen's, read from
// disk so that these fuzz targets link no Beam.
func playTrackSchema(t testing.TB) string {
	b, err := os.ReadFile("../testkit/replaygen/play_track.avsc")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fuzzDecoder decodes play-track events with the id and the time from the sources given.
func fuzzDecoder(t testing.TB, id, bt string) *Decoder {
	d, err := New(Config{Schema: playTrackSchema(t), EventID: mustSource(id), BucketTime: mustSource(bt)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func playTrack(t testing.TB, json bool) []byte {
	return encodeWith(t, playTrackSchema(t), json, map[string]any{"event_id": "e1", "user_id": "u", "track_id": "t", "ms_played": int64(5),
		"client_time": time.UnixMilli(1_790_000_000_000).UTC(), "platform": goavro.Union("string", "ios")})
}

// FuzzDecode feeds the decoder arbitrary payloads in both encodings. None may panic; a
// record it accepts passes the strict check again and goavro reads it back whole.
func FuzzDecode(f *testing.F) {
	f.Add(playTrack(f, false), false)
	f.Add(playTrack(f, true), true)
	d := fuzzDecoder(f, "field:event_id", "field:client_time")
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		var attrs map[string]string
		if json {
			attrs = map[string]string{EncodingAttribute: "JSON"}
		}
		checkAccepted(t, d, data, attrs, 0)
	})
}

// checkAccepted decodes data; a record the decoder accepts must pass its (the reader's)
// strict check again and be read back whole by goavro in the reader schema.
func checkAccepted(t *testing.T, d *Decoder, data []byte, attrs map[string]string, publishTime int64) {
	t.Helper()
	e, reason := d.Decode(data, attrs, publishTime)
	if reason != "" {
		return
	}
	if err := check(d.strict, e.Record); err != nil {
		t.Fatalf("accepted a record the reader's strict check refuses: %v", err)
	}
	if _, rest, err := d.codec.NativeFromBinary(e.Record); err != nil || len(rest) > 0 {
		t.Fatalf("accepted a record the reader schema cannot read back: %v, %d bytes left", err, len(rest))
	}
}

// FuzzAttributes feeds the attributes the decoder reads (event id, bucket time, encoding)
// arbitrary values. None may panic; an accepted event carries the id as given.
func FuzzAttributes(f *testing.F) {
	f.Add("e1", "1795172640000", "")
	f.Add("e2", "2026-11-20T11:04:00.5+01:00", "BINARY")
	f.Add("", "noon", "xml")
	d := fuzzDecoder(f, "attribute:eid", "attribute:ts")
	data := playTrack(f, false)
	f.Fuzz(func(t *testing.T, id, ts, enc string) {
		attrs := map[string]string{"eid": id, "ts": ts}
		if enc != "" {
			attrs[EncodingAttribute] = enc
		}
		e, reason := d.Decode(data, attrs, 0)
		if reason != "" {
			return
		}
		if e.ID != id || len(id) > MaxEventIDBytes || !strings.EqualFold(enc, "binary") && enc != "" {
			t.Fatalf("accepted id %q (encoding %q) as %q", id, enc, e.ID)
		}
	})
}

// FuzzDecodeRevisions feeds the decoder with schema revisions arbitrary payloads of any
// revision, known or not, in both encodings. None may panic; a record it accepts is in the
// reader schema (r3): it passes the reader's strict check and goavro reads it back whole.
func FuzzDecodeRevisions(f *testing.F) {
	revs := revisions(f)
	v1 := map[string]any{"event_id": "a", "ms_played": int32(7), "platform": "ANDROID", "legacy_device": "nexus"}
	f.Add(encodeWith(f, revs["r1"], false, v1), false, "r1")
	f.Add(encodeWith(f, revs["r1"], true, v1), true, "r1")
	f.Add([]byte{}, false, "r2")
	f.Add([]byte("{}"), true, "r9")
	d, err := New(Config{Schema: revs["r3"], EventID: mustSource("field:event_id"), BucketTime: mustSource("publish_time"), Revisions: revs})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, json bool, rev string) {
		attrs := map[string]string{RevisionAttribute: rev}
		if json {
			attrs[EncodingAttribute] = "JSON"
		}
		checkAccepted(t, d, data, attrs, 1)
	})
}
