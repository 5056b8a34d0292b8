package revisions

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	pubsub "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
	srv := pstest.NewServer()
	defer srv.Close()
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin, err := pubsub.NewSchemaClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	const name = "projects/p/schemas/play-event"
	ids := map[string]string{} // revision id → r1, r2, r3
	for i, r := range []string{"r1", "r2", "r3"} {
		var s *pubsubpb.Schema
		def := &pubsubpb.Schema{Type: pubsubpb.Schema_AVRO, Definition: readRevision(t, r)}
		if i == 0 {
			s, err = admin.CreateSchema(ctx, &pubsubpb.CreateSchemaRequest{Parent: "projects/p", SchemaId: "play-event", Schema: def})
		} else {
			def.Name = name
			s, err = admin.CommitSchema(ctx, &pubsubpb.CommitSchemaRequest{Name: name, Schema: def})
		}
		if err != nil {
			t.Fatal(err)
		}
		ids[s.RevisionId] = r
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
}
