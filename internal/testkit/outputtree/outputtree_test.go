package outputtree

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

const schema = `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}`

// fingerprint is codec.Fingerprint(schema).
var fingerprint = func() string {
	fp, err := codec.Fingerprint(schema)
	if err != nil {
		panic(err)
	}
	return fp
}()

// writeTree writes a closed bucket of two data files (2 and 1 records) and one dead letter,
// then lets change break it before the manifest is written.
func writeTree(t *testing.T, change func(tg output.Target, m *output.Manifest, write func(path string, data []byte))) *Tree {
	t.Helper()
	ctx := context.Background()
	tg := output.Target{Root: t.TempDir(), EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r"}
	st, err := objstore.Open(ctx, tg.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(path string, data []byte) {
		if err := st.Write(ctx, path, data); err != nil {
			t.Fatal(err)
		}
	}
	const h = 0
	var sizes []int64
	revs := []string{`{"_none":1,"r1":1}`, `{"r2":1}`}
	for shard, ids := range [][]string{{"a", "b"}, {"c"}} {
		name := tg.FilePath(h, 0, shard)
		w := avrofile.NewWriter(schema, name, avrofile.Meta{Key: output.MetaRevisions, Value: revs[shard]})
		for _, id := range ids {
			w.Append(append(binary.AppendVarint(nil, int64(len(id))), id...))
		}
		write(name, w.Bytes())
		sizes = append(sizes, int64(len(w.Bytes())))
	}
	dl := tg.DeadLetterPath(h, 0, 0)
	w := avrofile.NewWriter(output.DeadLetterSchema, dl)
	w.Append(output.DeadLetter{MessageID: "m", Reason: "bad"}.Append(nil))
	write(dl, w.Bytes())
	m := output.Manifest{
		ManifestVersion: output.ManifestVersion, Layout: output.DatePaths,
		EventType: tg.EventType, BucketStart: output.Format(h), BucketEnd: output.Format(tg.Layout.Next(h)), Records: 3, Invalid: 1,
		EarliestBucketTime: output.FormatTime(h + 5), LatestBucketTime: output.FormatTime(h + 7),
		SchemaFingerprint: fingerprint, RecordsByRevision: map[string]int64{output.NoRevision: 1, "r1": 1, "r2": 1},
		Files: []output.File{
			{Name: output.FileName("r", 0, 0), Records: 2, Bytes: sizes[0], SchemaFingerprint: fingerprint},
			{Name: output.FileName("r", 0, 1), Records: 1, Bytes: sizes[1], SchemaFingerprint: fingerprint},
		},
		DeadLetterFiles: []output.File{{Name: output.FileName("r", 0, 0), Records: 1, Bytes: int64(len(w.Bytes()))}},
		RunID:           "r", PipelineVersion: "test", ClosedAt: output.FormatTime(2 * time.Hour.Milliseconds()),
	}
	if change != nil {
		change(tg, &m, write)
	}
	body, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write(tg.ManifestPath(h), body)
	tree, err := Read(ctx, tg.Root, tg.EventType)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestReadAndCheckAGoodTree(t *testing.T) {
	tree := writeTree(t, nil)
	if got := tree.Dirs(); !slices.Equal(got, []string{"1970/01/01/00"}) {
		t.Fatalf("Dirs = %v", got)
	}
	b := tree.Buckets["1970/01/01/00"]
	if b.Manifest == nil || b.Records() != 3 || len(b.Files) != 2 || b.Schemas[output.FileName("r", 0, 0)] != schema {
		t.Errorf("bucket read as %+v", b)
	}
	if n := len(tree.DeadLetters["1970/01/01/00"]); n != 1 {
		t.Errorf("dead letters read: %d, want 1", n)
	}
	if p := tree.Check(); len(p) != 0 {
		t.Errorf("Check of a good tree: %v", p)
	}
}

// Check catches each way a manifest can disagree with its folder, and only that one.
func TestCheckCatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(tg output.Target, m *output.Manifest, write func(string, []byte))
		want   string
	}{
		{"records not the sum of the files", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.Records = 4 }, "manifest records 4, its files sum to 3"},
		{"a file the manifest does not list", func(tg output.Target, _ *output.Manifest, write func(string, []byte)) {
			write(tg.FilePath(0, 1, 0), avrofile.NewWriter(schema, "x").Bytes())
		}, "file part-r-1-0.avro not in the manifest"},
		{"a file's count wrong", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.Files[0].Records, m.Records = 1, 2
		}, "manifest says part-r-0-0.avro has 1 records, it has 2"},
		{"a listed file missing", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.Files = append(m.Files, output.File{Name: "part-r-0-9.avro"})
		}, "manifest lists part-r-0-9.avro, which does not exist"},
		{"invalid count off", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.Invalid = 2 }, "manifest counts 2 invalid in dead-letter files of 1 records; the dead-letter folder holds 1"},
		{"dead-letter files count off", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.DeadLetterFiles[0].Records, m.Invalid = 2, 2
		}, "manifest counts 2 invalid in dead-letter files of 2 records; the dead-letter folder holds 1"},
		{"a file's size wrong", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.Files[1].Bytes++ }, "part-r-0-1.avro has "},
		{"a dead-letter file's size wrong", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.DeadLetterFiles[0].Bytes = 1 }, "_deadletter/1970/01/01/00/part-r-0-0.avro has 1 bytes, it has "},
		{"in the folder of another layout", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.Layout = output.HivePaths }, "belongs in dt=1970-01-01/hour=00"},
		{"against the schema: an unknown layout", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.Layout = "" }, "value must be one of 'date', 'hive'"},
		{"against the schema: a time not in UTC", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.ClosedAt = "1970-01-01T02:00:00+01:00"
		}, "does not match pattern"},
		{"records_by_revision not summing to the records", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.RecordsByRevision["r2"] = 2
		}, "the bucket's files hold 3 records, its manifest's records_by_revision sum to 4"},
		{"records_by_revision not the files' counts", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.RecordsByRevision = map[string]int64{"r1": 2, "r2": 1}
		}, "manifest records_by_revision map[r1:2 r2:1], its files' headers count map[_none:1 r1:1 r2:1]"},
		{"a file's schema fingerprint not its header's", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.Files[1].SchemaFingerprint = strings.Repeat("0", 64)
		}, "manifest says part-r-0-1.avro has schema 0000000000000000000000000000000000000000000000000000000000000000, its header's is " + fingerprint},
		{"against the schema: a fingerprint not SHA-256 in hex", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) {
			m.SchemaFingerprint = "crc64:1234"
		}, "does not match pattern"},
		{"against the schema: only one bucket time", func(_ output.Target, m *output.Manifest, _ func(string, []byte)) { m.LatestBucketTime = "" }, "latest_bucket_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := writeTree(t, tc.change).Check()
			if len(problems) != 1 || !strings.Contains(problems[0], tc.want) || !strings.HasPrefix(problems[0], "1970/01/01/00: ") {
				t.Errorf("Check = %q, want one problem ending %q", problems, tc.want)
			}
		})
	}
}

// An open bucket (no manifest) is not checked, and an object the layout has no place for
// is an error.
func TestOpenBucketsAndStrayObjects(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, _ := objstore.Open(ctx, root)
	tg := output.Target{Root: root, EventType: "e", Layout: output.Layout{Width: time.Hour}, RunID: "r"}
	st.Write(ctx, tg.FilePath(0, 0, 0), avrofile.NewWriter(schema, "x").Bytes())
	tree, err := Read(ctx, root, "e")
	if err != nil || tree.Buckets["1970/01/01/00"].Manifest != nil || len(tree.Check()) != 0 {
		t.Errorf("open bucket: %v, %v", err, tree.Check())
	}
	st.Write(ctx, output.Join(tg.Dir(0), "notes.txt"), []byte("x"))
	if _, err := Read(ctx, root, "e"); err == nil || !strings.Contains(err.Error(), "unexpected object") {
		t.Errorf("Read with a stray object: %v, want an unexpected object error", err)
	}
}

// A manifest of version 1 (written before the version, sizes, bucket times and layout were
// recorded) still parses and validates; one of a version this reader does not know does not.
func TestOlderAndNewerManifests(t *testing.T) {
	v1 := []byte(`{"event_type": "play-track", "bucket_start": "2026-11-20T10:00:00Z", "bucket_end": "2026-11-20T11:00:00Z",
 "records": 2, "duplicates": 0, "skewed": 0, "invalid": 0, "files": [{"name": "part-r1-0-0.avro", "records": 2}],
 "dead_letter_files": [], "run_id": "r1", "pipeline_version": "v1.0.0", "closed_at": "2026-11-20T11:30:02.1Z"}`)
	m, err := output.ParseManifest(v1)
	if err != nil || m.ManifestVersion != 1 || m.Layout != output.DatePaths || m.Files[0].Records != 2 || m.Files[0].Bytes != 0 {
		t.Errorf("version 1: %+v, %v", m, err)
	}
	if err := ValidateManifest(v1); err != nil {
		t.Errorf("version 1 does not validate: %v", err)
	}
	v3 := []byte(strings.Replace(string(v1), "{", `{"manifest_version": 3, `, 1))
	if _, err := output.ParseManifest(v3); err == nil || !strings.Contains(err.Error(), "manifest_version 3") {
		t.Errorf("version 3 parsed: %v", err)
	}
	if err := ValidateManifest(v3); err == nil {
		t.Error("version 3 validates against the version 2 schema")
	}
	v2 := []byte(strings.Replace(string(v1), "{", `{"manifest_version": 2, "layout": "hive", `, 1))
	if err := ValidateManifest(v2); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("version 2 without file sizes: %v, want a missing bytes error", err)
	}
}
