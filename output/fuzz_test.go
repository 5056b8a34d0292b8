package output

import (
	"reflect"
	"testing"
)

// FuzzParseManifest feeds the manifest reader arbitrary objects, as a downstream reader or
// a successor job meets them in a bucket: none may panic, and a manifest it accepts
// marshals back into one that parses to the same manifest.
func FuzzParseManifest(f *testing.F) {
	m := Manifest{EventType: "play-track", BucketStart: "2026-11-20T07:00:00Z", BucketEnd: "2026-11-20T08:00:00Z",
		Records: 3, Duplicates: 1, Skewed: 1, Invalid: 1, RunID: "r1", PipelineVersion: "v1", ClosedAt: "2026-11-20T08:30:01Z",
		Files: []File{{Name: FileName("r1", 0, 0), Records: 3}}, DeadLetterFiles: []File{{Name: FileName("r1", 0, 0), Records: 1}}}
	b, err := m.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"records": 1e400}`))
	f.Add([]byte(`{"files": [{"name": "part-r-0-0.avro", "records": -1}], "files": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", m, err)
		}
		again, err := ParseManifest(b)
		if err != nil {
			t.Fatalf("a marshalled manifest does not parse: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip: %+v became %+v", m, again)
		}
	})
}
