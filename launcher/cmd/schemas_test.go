package cmd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/eventdelivery/eventdelivery/internal/testkit/schemaservice"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// TestValidateSchemas runs `validate --schemas` against pstest's schema service, with the
// example revisions r1 (int ms_played, enum IOS|ANDROID), r2 (enum symbol WEB added) and r3
// (ms_played long, legacy_device removed, country added with a default) of one Pub/Sub
// schema: r1 reads none of the others, r3 reads all of them.
func TestValidateSchemas(t *testing.T) {
	srv := schemaservice.Start(t)
	const schema = "projects/my-project/schemas/play-event"
	defs := launchertest.Revisions(t)
	ids := schemaservice.Commit(t, srv, schema, defs["r1"], defs["r2"], defs["r3"])
	r1, r2, r3 := ids[0], ids[1], ids[2]
	// name: the topic's schema settings (nil: none).
	topics := []struct {
		name string
		ss   *pubsubpb.SchemaSettings
	}{
		{"all", &pubsubpb.SchemaSettings{Schema: schema, Encoding: pubsubpb.Encoding_BINARY}},
		{"first-two", &pubsubpb.SchemaSettings{Schema: schema, Encoding: pubsubpb.Encoding_BINARY, FirstRevisionId: r1, LastRevisionId: r2}},
		{"only-r1", &pubsubpb.SchemaSettings{Schema: schema, Encoding: pubsubpb.Encoding_JSON, FirstRevisionId: r1, LastRevisionId: r1}},
		{"from-r2", &pubsubpb.SchemaSettings{Schema: schema, Encoding: pubsubpb.Encoding_BINARY, FirstRevisionId: r2}},
		{"none", nil},
	}
	for _, tp := range topics {
		createTopicAndSubscription(t, srv, tp.name, tp.ss)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	for r, d := range defs {
		if err := os.WriteFile(filepath.Join(dir, "schemas", r+".avsc"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	head := launchertest.FleetHead
	entry := func(name, topic, schema string) string {
		return fmt.Sprintf("  - name: %s\n    subscription: projects/my-project/subscriptions/%s\n    schema: %s\n", name, topic, schema)
	}
	write := func(t *testing.T, name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vars := map[string]string{"PUBSUB_EMULATOR_HOST": srv.Addr}
	validate := func(args ...string) run {
		return execute(context.Background(), cmd.Env{}, vars, append([]string{"validate"}, args...)...)
	}

	// Compatible: r3 reads every revision of the topic "all" and r2..r3 of "from-r2"; r1
	// reads the one revision of "only-r1" (r2 and r3, outside the range, are ignored). A
	// Pub/Sub schema without @ is read by its newest revision, r3, which reads every
	// revision when the topic has no schema settings.
	// A schema file reading other revisions needs schema_revisions (the job learns them
	// there); r1 reading r1 alone does not.
	revs := "    schema_revisions: gs://b/schemas/play-event/\n"
	good := write(t, "good.yaml", head+
		entry("a", "all", "schemas/r3.avsc")+revs+
		entry("b", "only-r1", "schemas/r1.avsc")+
		entry("c", "from-r2", "schemas/r3.avsc")+revs+
		entry("d", "none", schema)+
		entry("e", "all", schema+"@"+r3)+
		entry("f", "none", "schemas/r1.avsc")) // a topic without schema: nothing to check
	t.Run("without --schemas it warns the PubSub schema was not checked", func(t *testing.T) {
		if r := validate("-f", good); r.code != 0 || !strings.Contains(r.stdout, "valid") {
			t.Errorf("validate without --schemas: %+v", r)
		} else if !strings.Contains(r.stderr, "event_types[3].schema") || !strings.Contains(r.stderr, "validate --schemas") {
			t.Errorf("validate without --schemas says nothing of the Pub/Sub schema it did not check: %q", r.stderr)
		}
	})
	t.Run("--schemas passes compatible revisions", func(t *testing.T) {
		if r := validate("-f", good, "--schemas"); r.code != 0 || !strings.Contains(r.stdout, "6 event types in 1 project/regions: valid") {
			t.Errorf("validate --schemas, compatible: %+v", r)
		}
	})

	// Incompatible: r3 reads all of "all", but without schema_revisions the job would
	// decode r1 and r2 as r3; r1 cannot read r2 in "first-two" (r3 is outside it, so not
	// named; and r2 is refused for what it is, not as unknown); the Pub/Sub schema pinned
	// at r1 cannot read r2 nor r3, every revision being a writer when the topic has none;
	// a topic of another schema is refused.
	t.Run("--schemas names every incompatible revision", func(t *testing.T) {
		other := "projects/my-project/schemas/other"
		schemaservice.Commit(t, srv, other, defs["r3"])
		createTopicAndSubscription(t, srv, "other", &pubsubpb.SchemaSettings{Schema: other, Encoding: pubsubpb.Encoding_BINARY})
		bad := write(t, "bad.yaml", head+
			entry("a", "all", "schemas/r3.avsc")+ // lines 10-12, its schema on 12
			entry("b", "first-two", "schemas/r1.avsc")+ // schema on line 15
			entry("c", "none", schema+"@"+r1)+ // 18
			entry("d", "other", schema)+ // 21
			entry("e", "all", schema+"@nope")+ // 24
			entry("f", "missing", schema)+ // subscription on 26
			entry("g", "none", "projects/my-project/schemas/nothing")) // 30
		r := validate("-f", bad, "--schemas")
		if r.code != cmd.ExitFailure {
			t.Errorf("validate --schemas, incompatible: exit %d: %+v", r.code, r)
		}
		want := []string{
			bad + ":12: event_types[0].schema: the topic projects/my-project/topics/all accepts revisions of " + schema + " other than schema schemas/r3.avsc (" + r1 + ", " + r2 + "), and without schema_revisions the job ignores a message's revision and decodes it with schemas/r3.avsc",
			bad + ":15: event_types[1].schema: schema schemas/r1.avsc cannot read revision " + r2 + " of " + schema + ", which the topic projects/my-project/topics/first-two accepts: field platform: ",
			bad + ":18: event_types[2].schema: schema " + schema + "@" + r1 + " cannot read revision " + r2 + " of " + schema + ", a writer the job knows (the topic projects/my-project/topics/none has no schema settings): field platform: ",
			bad + ":18: event_types[2].schema: schema " + schema + "@" + r1 + " cannot read revision " + r3 + " of " + schema + ", a writer the job knows",
			bad + ":21: event_types[3].schema: the topic projects/my-project/topics/other of projects/my-project/subscriptions/other has the schema " + other + ", not " + schema,
			bad + ":24: event_types[4].schema: Pub/Sub schema " + schema + ": no revision nope among its 3",
			bad + ":26: event_types[5].subscription: subscription projects/my-project/subscriptions/missing: get subscription: not found (rpc error: code = NotFound",
			bad + ":30: event_types[6].schema: Pub/Sub schema projects/my-project/schemas/nothing: no revisions",
			"8 problems.",
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("missing %q in:\n%s", w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "revision "+r3+" of "+schema+", which the topic projects/my-project/topics/first-two") {
			t.Errorf("a revision outside the topic's range was checked:\n%s", r.stdout)
		}
	})

	t.Run("--schemas refuses a range naming a revision the schema does not have", func(t *testing.T) {
		createTopicAndSubscription(t, srv, "stale", &pubsubpb.SchemaSettings{Schema: schema, Encoding: pubsubpb.Encoding_BINARY, FirstRevisionId: "gone"})
		stale := write(t, "stale.yaml", head+entry("a", "stale", "schemas/r3.avsc"))
		if r := validate("-f", stale, "--schemas"); r.code != cmd.ExitFailure ||
			!strings.Contains(r.stdout, stale+":12: event_types[0].schema: the topic projects/my-project/topics/stale's first_revision_id gone is not a revision of "+schema) {
			t.Errorf("validate --schemas, stale range: %+v", r)
		}
	})

	// Unreachable: an error naming what was not checked, never a pass.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	vars["PUBSUB_EMULATOR_HOST"] = closed
	t.Run("--schemas with the emulator unreachable fails naming what was not checked", func(t *testing.T) {
		r := validate("-f", good, "--schemas", "--timeout", "2s")
		if r.code != cmd.ExitFailure || r.stdout != "" ||
			!strings.Contains(r.stderr, "validate --schemas: ") ||
			!strings.Contains(r.stderr, "is the Pub/Sub emulator at "+closed+" reachable? the schemas were not checked") {
			t.Errorf("validate --schemas, unreachable: %+v", r)
		}
	})
	t.Run("--timeout 0s is refused", func(t *testing.T) {
		if r := validate("-f", good, "--schemas", "--timeout", "0s"); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "want a positive duration") {
			t.Errorf("validate --timeout 0s: %+v", r)
		}
	})
}

// createTopicAndSubscription creates projects/my-project/topics/NAME with the schema
// settings ss (none when nil) and the subscription of the same name on it.
func createTopicAndSubscription(t *testing.T, srv *pstest.Server, name string, ss *pubsubpb.SchemaSettings) {
	t.Helper()
	schemaservice.Topic(t, srv, "projects/my-project/topics/"+name, "projects/my-project/subscriptions/"+name, ss)
}
