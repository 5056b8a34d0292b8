package hours_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/linkedin/goavro/v2"
)

// eventSchema is the schema of the data files the tests write.
const eventSchema = `{"type": "record", "name": "E", "fields": [{"name": "event_id", "type": "string"}]}`

// tree writes an event type's output with the pipeline's own writers: Avro files by
// internal/avrofile, manifests by output.Manifest.Marshal.
type tree struct {
	t      *testing.T
	st     *objstore.Store
	target output.Target
}

// newTree opens the store of root for the event type's target t.
func newTree(t *testing.T, target output.Target) *tree {
	t.Helper()
	st, err := objstore.Open(context.Background(), target.Root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &tree{t: t, st: st, target: target}
}

// write stores data at p.
func (tr *tree) write(p string, data []byte) {
	tr.t.Helper()
	if err := tr.st.Write(context.Background(), p, data); err != nil {
		tr.t.Fatal(err)
	}
}

// avro returns a data file called name holding n records.
func (tr *tree) avro(name string, n int) []byte {
	tr.t.Helper()
	codec, err := goavro.NewCodec(eventSchema)
	if err != nil {
		tr.t.Fatal(err)
	}
	w := avrofile.NewWriter(eventSchema, name)
	for i := range n {
		rec, err := codec.BinaryFromNative(nil, map[string]any{"event_id": name + "-" + string(rune('a'+i%26))})
		if err != nil {
			tr.t.Fatal(err)
		}
		w.Append(rec)
	}
	return w.Bytes()
}

// file writes a data file of n records into bucket start and returns its manifest entry.
func (tr *tree) file(start int64, name string, n int) output.File {
	tr.write(output.Join(tr.target.Dir(start), name), tr.avro(name, n))
	return output.File{Name: name, Records: int64(n)}
}

// deadLetters writes a dead-letter file of n dead letters into bucket start.
func (tr *tree) deadLetters(start int64, name string, n int) output.File {
	tr.t.Helper()
	w := avrofile.NewWriter(output.DeadLetterSchema, name)
	for i := range n {
		w.Append(output.DeadLetter{MessageID: name, PublishTime: start + int64(i), Reason: "undecodable"}.Append(nil))
	}
	tr.write(output.Join(tr.target.DeadLetterDir(start), name), w.Bytes())
	return output.File{Name: name, Records: int64(n)}
}

// close writes the manifest of bucket start, written at closedAt, listing files and dead.
func (tr *tree) close(start int64, closedAt time.Time, counts output.Manifest, files []output.File, dead []output.File) {
	tr.t.Helper()
	m := counts
	m.EventType, m.RunID, m.PipelineVersion = tr.target.EventType, "run-1", "v1.0.0"
	m.BucketStart, m.BucketEnd = output.Format(start), output.Format(tr.target.Layout.Next(start))
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
	tr.write(tr.target.ManifestPath(start), b)
}

// at returns the Unix ms of an RFC3339 time.
func at(s string) int64 { return when(s).UnixMilli() }

func when(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
