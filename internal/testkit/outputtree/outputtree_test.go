package outputtree

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

const schema = `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}`

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
	for shard, ids := range [][]string{{"a", "b"}, {"c"}} {
		name := tg.FilePath(h, 0, shard)
		w := avrofile.NewWriter(schema, name)
		for _, id := range ids {
			w.Append(append(binary.AppendVarint(nil, int64(len(id))), id...))
		}
		write(name, w.Bytes())
	}
	dl := tg.DeadLetterPath(h, 0, 0)
	w := avrofile.NewWriter(output.DeadLetterSchema, dl)
	w.Append(output.DeadLetter{MessageID: "m", Reason: "bad"}.Append(nil))
	write(dl, w.Bytes())
	m := output.Manifest{
		EventType: tg.EventType, Records: 3, Invalid: 1,
		Files:           []output.File{{Name: output.FileName("r", 0, 0), Records: 2}, {Name: output.FileName("r", 0, 1), Records: 1}},
		DeadLetterFiles: []output.File{{Name: output.FileName("r", 0, 0), Records: 1}},
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := writeTree(t, tc.change).Check()
			if len(problems) != 1 || !strings.HasSuffix(problems[0], tc.want) || !strings.HasPrefix(problems[0], "1970/01/01/00: ") {
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
