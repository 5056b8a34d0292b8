package revisions

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/internal/testkit/schemaservice"
)

func readRevision(t *testing.T, id string) string {
	b, err := os.ReadFile("../codec/testdata/revisions/" + id + ".avsc")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFromPubSub commits three revisions to pstest's schema service and reads them back
// through PUBSUB_EMULATOR_HOST, as the pipeline does at start.
func TestFromPubSub(t *testing.T) {
	ctx := context.Background()
	srv := schemaservice.Start(t)
	const name = "projects/p/schemas/play-event"
	ids := map[string]string{} // revision id → r1, r2, r3
	for i, id := range schemaservice.Commit(t, srv, name, readRevision(t, "r1"), readRevision(t, "r2"), readRevision(t, "r3")) {
		ids[id] = []string{"r1", "r2", "r3"}[i]
	}
	set, err := FromPubSub(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ids[set.ReaderRevision] != "r3" || set.Reader != readRevision(t, "r3") || len(set.Revisions) != 3 {
		t.Fatalf("reader %s (%s), %d revisions", set.ReaderRevision, ids[set.ReaderRevision], len(set.Revisions))
	}
	for id, r := range ids {
		if set.Revisions[id] != readRevision(t, r) {
			t.Errorf("revision %s is not %s", id, r)
		}
	}
	var r1 string
	for id, r := range ids {
		if r == "r1" {
			r1 = id
		}
	}
	pinned, err := FromPubSub(ctx, name+"@"+r1)
	if err != nil || pinned.ReaderRevision != r1 || pinned.Reader != readRevision(t, "r1") || len(pinned.Revisions) != 3 {
		t.Fatalf("pinned to r1: %+v, %v", pinned.ReaderRevision, err)
	}
	for _, tc := range []struct{ name, want string }{
		{name + "@nope", "no revision nope among its 3"},
		{"projects/p/schemas/absent", "no revisions"},
		{"projects/p/topics/t", "want projects/P/schemas/S"},
	} {
		if _, err := FromPubSub(ctx, tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromPubSub(%s) = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestFromDir(t *testing.T) {
	got, err := FromDir(context.Background(), "../codec/testdata/revisions")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"r1": readRevision(t, "r1"), "r2": readRevision(t, "r2"), "r3": readRevision(t, "r3")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FromDir = %d revisions, want r1 r2 r3", len(got))
	}
	if _, err := FromDir(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no <revision_id>.avsc files") {
		t.Fatalf("empty folder: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/_none.avsc", []byte(readRevision(t, "r1")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromDir(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "_none.avsc: a revision id must not start with '_'") {
		t.Fatalf("a revision named _none: %v", err)
	}
}
