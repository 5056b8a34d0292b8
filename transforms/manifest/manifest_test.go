package manifest_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

func init() {
	register.Function1x1[output.Manifest, string](describe)
}

// describe shows a manifest as "start: records/duplicates/skewed/invalid files | dead files
// run revisions", a file as name=records, with @ and the first 8 digits of its schema
// fingerprint when it has one; revisions are records_by_revision, - when absent.
func describe(m output.Manifest) string {
	list := func(fs []output.File) string {
		var out []string
		for _, f := range fs {
			s := fmt.Sprintf("%s=%d", f.Name, f.Records)
			if f.SchemaFingerprint != "" {
				s += "@" + f.SchemaFingerprint[:8]
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	revs := "-"
	if len(m.RecordsByRevision) > 0 {
		revs = output.RevisionsMeta(m.RecordsByRevision)
	}
	return fmt.Sprintf("%s: %d/%d/%d/%d %s | %s %s %s", m.BucketStart[11:16], m.Records, m.Duplicates, m.Skewed, m.Invalid, list(m.Files), list(m.DeadLetterFiles), m.RunID, revs)
}

// schema is the schema of the test's data files; fp8 the first 8 digits of its fingerprint.
const schema = `"string"`

var fp8 = func() string {
	fp, err := codec.Fingerprint(schema)
	if err != nil {
		panic(err)
	}
	return fp[:8]
}()

// predecessor writes a one-record data file of run r1 into bucket h0, with the given header
// metadata.
func predecessor(t *testing.T, tg output.Target, st *objstore.Store, meta ...avrofile.Meta) {
	name := output.Join(tg.Dir(h0), output.FileName("r1", 0, 0))
	w := avrofile.NewWriter(schema, name, meta...)
	w.Append(append(binary.AppendVarint(nil, 1), 'x'))
	if err := st.Write(context.Background(), name, w.Bytes()); err != nil {
		t.Fatal(err)
	}
}

var (
	h0   = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	hour = time.Hour.Milliseconds()
)

func TestClose(t *testing.T) {
	layout := output.Layout{Width: time.Hour, Skew: 30 * time.Minute}
	after := h0 + 3*hour // past the close of 10:00 and 11:00, not of 12:00 (13:30)
	for _, tc := range []struct {
		name    string
		now     int64
		entries func(tg output.Target) []message.Entry
		before  func(t *testing.T, tg output.Target, st *objstore.Store)
		want    []any
	}{
		{"a bucket's files, dead letters and counts", after, func(tg output.Target) []message.Entry {
			return []message.Entry{
				{Bucket: h0, Name: tg.FilePath(h0, 0, 1), Records: 2, Duplicates: 1, Skewed: 1, Revisions: map[string]int64{"a1": 2}, SchemaFingerprint: "0123456789"},
				{Bucket: h0, Name: tg.FilePath(h0, 0, 0), Records: 3, Revisions: map[string]int64{"a1": 1, output.NoRevision: 2}, SchemaFingerprint: "abcdefabcd"},
				{Bucket: h0, Name: tg.DeadLetterPath(h0, 0, 0), DeadLetter: true, Invalid: 2},
				{Bucket: h0},
			}
		}, nil, []any{`10:00: 5/1/1/2 part-r2-0-0.avro=3@abcdefab,part-r2-0-1.avro=2@01234567 | part-r2-0-0.avro=2 r2 {"_none":2,"a1":3}`}},
		{"a heartbeat alone closes an empty bucket", after, func(output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0 + hour}}
		}, nil, []any{"11:00: 0/0/0/0  |  r2 -"}},
		{"a bucket not over on the wall clock stays open", after, func(output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0 + 2*hour}}
		}, nil, nil},
		{"a closed bucket is never written again", after, func(output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0, Records: 9}}
		}, func(t *testing.T, tg output.Target, st *objstore.Store) {
			m, _ := output.Manifest{RunID: "r1"}.Marshal()
			st.Write(context.Background(), tg.ManifestPath(h0), m)
		}, nil},
		{"a predecessor's file counts, with the counts in its header", after, func(output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0}}
		}, func(t *testing.T, tg output.Target, st *objstore.Store) {
			predecessor(t, tg, st, avrofile.Meta{Key: output.MetaDuplicates, Value: "4"}, avrofile.Meta{Key: output.MetaSkewed, Value: "1"},
				avrofile.Meta{Key: output.MetaRevisions, Value: `{"a1":1}`})
		}, []any{`10:00: 1/4/1/0 part-r1-0-0.avro=1@` + fp8 + ` |  r2 {"a1":1}`}},
		{"a predecessor's revision counts add to this run's", after, func(tg output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0, Name: tg.FilePath(h0, 0, 0), Records: 2, Revisions: map[string]int64{"a1": 1, "b2": 1}, SchemaFingerprint: "abcdefabcd"}}
		}, func(t *testing.T, tg output.Target, st *objstore.Store) {
			predecessor(t, tg, st, avrofile.Meta{Key: output.MetaRevisions, Value: `{"a1":1}`})
		}, []any{`10:00: 3/0/0/0 part-r1-0-0.avro=1@` + fp8 + `,part-r2-0-0.avro=2@abcdefab |  r2 {"a1":2,"b2":1}`}},
		{"a predecessor's file without revision counts: none rather than short", after, func(tg output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0, Name: tg.FilePath(h0, 0, 0), Records: 2, Revisions: map[string]int64{"a1": 2}, SchemaFingerprint: "abcdefabcd"}}
		}, func(t *testing.T, tg output.Target, st *objstore.Store) {
			predecessor(t, tg, st)
		}, []any{`10:00: 3/0/0/0 part-r1-0-0.avro=1@` + fp8 + `,part-r2-0-0.avro=2@abcdefab |  r2 -`}},
		{"a predecessor's unreadable revision counts: none, and the bucket still closes", after, func(output.Target) []message.Entry {
			return []message.Entry{{Bucket: h0}}
		}, func(t *testing.T, tg output.Target, st *objstore.Store) {
			predecessor(t, tg, st, avrofile.Meta{Key: output.MetaRevisions, Value: `{"a1":-1}`})
		}, []any{`10:00: 1/0/0/0 part-r1-0-0.avro=1@` + fp8 + ` |  r2 -`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := output.Target{Root: t.TempDir(), EventType: "e", Layout: layout, RunID: "r2"}
			st, err := objstore.Open(ctx, tg.Root)
			if err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				tc.before(t, tg, st)
			}
			p, s := beam.NewPipelineWithRoot()
			closed := manifest.Close(s, manifest.Config{Target: tg, Version: "v1", Schema: schema, NowMs: tc.now}, beam.CreateList(s, tc.entries(tg)))
			beamtest.Equals(s, beam.ParDo(s, describe, closed), tc.want...)
			beamtest.Run(t, p)

			// What was emitted is what was written.
			for _, start := range []int64{h0, h0 + hour, h0 + 2*hour} {
				m, err := tg.ReadManifest(ctx, st, start)
				if err != nil {
					t.Fatal(err)
				}
				if m == nil || m.RunID != "r2" {
					continue
				}
				if m.PipelineVersion != "v1" || m.SchemaFingerprint[:8] != fp8 || m.ClosedAt != time.UnixMilli(tc.now).UTC().Format(time.RFC3339Nano) || m.EventType != "e" {
					t.Errorf("manifest of %s: %+v", output.Format(start), m)
				}
				if got := describe(*m); len(tc.want) != 1 || got != tc.want[0] {
					t.Errorf("written %q, want %v", got, tc.want)
				}
			}
		})
	}
}
