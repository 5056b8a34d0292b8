// Package hourstest writes an event type's output for the tests of the hours commands,
// with the pipeline's own writers: data files by internal/avrofile, dead letters by
// output.DeadLetter, manifests by output.Manifest.Marshal.
package hourstest

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/linkedin/goavro/v2"
)

// EventSchema is the schema of the data files the tests write.
const EventSchema = `{"type": "record", "name": "E", "fields": [{"name": "event_id", "type": "string"}]}`

// Tree writes one event type's output; it fails its test on an error.
type Tree struct {
	t      testing.TB
	Store  *objstore.Store
	Target output.Target
}

// New opens the store of target's root; it is closed when the test ends.
func New(t testing.TB, target output.Target) *Tree {
	t.Helper()
	st, err := objstore.Open(context.Background(), target.Root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Tree{t: t, Store: st, Target: target}
}

// Write stores data at p.
func (tr *Tree) Write(p string, data []byte) {
	tr.t.Helper()
	if err := tr.Store.Write(context.Background(), p, data); err != nil {
		tr.t.Fatal(err)
	}
}

// Avro returns a data file called name holding n records.
func (tr *Tree) Avro(name string, n int) []byte {
	tr.t.Helper()
	codec, err := goavro.NewCodec(EventSchema)
	if err != nil {
		tr.t.Fatal(err)
	}
	w := avrofile.NewWriter(EventSchema, name)
	for i := range n {
		rec, err := codec.BinaryFromNative(nil, map[string]any{"event_id": name + "-" + string(rune('a'+i%26))})
		if err != nil {
			tr.t.Fatal(err)
		}
		w.Append(rec)
	}
	return w.Bytes()
}

// File writes a data file of n records into bucket start and returns its manifest entry,
// with its size and its schema's fingerprint as the pipeline lists them.
func (tr *Tree) File(start int64, name string, n int) output.File {
	tr.t.Helper()
	data := tr.Avro(name, n)
	tr.Write(output.Join(tr.Target.Dir(start), name), data)
	fp, err := codec.Fingerprint(EventSchema)
	if err != nil {
		tr.t.Fatal(err)
	}
	return output.File{Name: name, Records: int64(n), Bytes: int64(len(data)), SchemaFingerprint: fp}
}

// DeadLetters writes a dead-letter file of n dead letters into bucket start.
func (tr *Tree) DeadLetters(start int64, name string, n int) output.File {
	tr.t.Helper()
	w := avrofile.NewWriter(output.DeadLetterSchema, name)
	for i := range n {
		w.Append(output.DeadLetter{MessageID: name, PublishTime: start + int64(i), Reason: "undecodable"}.Append(nil))
	}
	tr.Write(output.Join(tr.Target.DeadLetterDir(start), name), w.Bytes())
	return output.File{Name: name, Records: int64(n), Bytes: int64(len(w.Bytes()))}
}

// Close writes the manifest of bucket start, written at closedAt, listing files and
// dead; its other counts come from counts, its records are the sum of the files'. Its run
// id is counts.RunID, or run-1.
func (tr *Tree) Close(start int64, closedAt time.Time, counts output.Manifest, files []output.File, dead []output.File) {
	tr.t.Helper()
	m := counts
	m.EventType, m.RunID, m.PipelineVersion = tr.Target.EventType, cmp.Or(counts.RunID, "run-1"), "v1.0.0"
	m.BucketStart, m.BucketEnd = output.Format(start), output.Format(tr.Target.Layout.Next(start))
	m.ClosedAt = closedAt.UTC().Format(time.RFC3339Nano)
	m.Files, m.DeadLetterFiles = files, dead
	m.Records = 0
	for _, f := range files {
		m.Records += f.Records
	}
	if m.Files == nil {
		m.Files = []output.File{}
	}
	if m.DeadLetterFiles == nil {
		m.DeadLetterFiles = []output.File{}
	}
	b, err := m.Marshal()
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.Write(tr.Target.ManifestPath(start), b)
}

// At returns the Unix ms of an RFC3339 time.
func At(s string) int64 { return When(s).UnixMilli() }

// When parses an RFC3339 time.
func When(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
