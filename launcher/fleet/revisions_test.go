package fleet_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// TestSchemaRevisions checks the keys of schema evolution: previous_schemas must all be
// readable by the event type's schema (the problem names the line and the field at fault),
// schema_revisions is a gs:// folder passed to the job.
func TestSchemaRevisions(t *testing.T) {
	const content = launchertest.FleetHead + `  - name: play-event
    subscription: projects/my-project/subscriptions/play-event
    schema: schemas/r3.avsc
    schema_revisions: gs://b/schemas/play-event/
    previous_schemas:
      - schemas/r1.avsc
      - schemas/r2.avsc
  - name: play-event-old
    subscription: projects/my-project/subscriptions/play-event-old
    schema: schemas/r1.avsc
    schema_revisions: schemas/
    previous_schemas:
      - schemas/r2.avsc
      - schemas/r3.avsc
`
	path := writeFleet(t, content)
	for r, def := range launchertest.Revisions(t) {
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), "schemas", r+".avsc"), []byte(def), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := fleet.Load(path)
	var verr *fleet.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	want := []string{
		`:20: event_types[1].schema_revisions: "schemas/": want a gs:// folder`,
		`:22: event_types[1].previous_schemas[0]: schema schemas/r1.avsc cannot read schemas/r2.avsc: field platform: `,
		`:23: event_types[1].previous_schemas[1]: schema schemas/r1.avsc cannot read schemas/r3.avsc: field ms_played: `,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(verr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(verr.Problems), len(want), err)
	}

	good := content[:strings.Index(content, "  - name: play-event-old")]
	f, err := fleet.Load(writeFleetBeside(t, path, good))
	if err != nil {
		t.Fatal(err)
	}
	job := f.Jobs()[0]
	if job.Parameters[fleet.ParamSchemaRevisions] != "gs://b/schemas/play-event/" {
		t.Errorf("parameters %v", job.Parameters)
	}
}

// writeFleetBeside writes content as another fleet file in the folder of path.
func writeFleetBeside(t *testing.T, path, content string) string {
	p := filepath.Join(filepath.Dir(path), "good.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPubSubSchema checks an event type whose schema is a Pub/Sub schema: Load makes no
// call (validate --schemas checks its revisions), the job gets it as the schema parameter
// instead of schema_json, previous_schemas is refused beside it, and a malformed name is a
// problem.
func TestPubSubSchema(t *testing.T) {
	const head = launchertest.FleetHead + `  - name: play-event
    subscription: projects/my-project/subscriptions/play-event
    schema: projects/my-project/schemas/play-event@1a2b3c4d
`
	f := loadFleet(t, head)
	et, job := f.EventTypes[0], f.Jobs()[0]
	if et.SchemaLine != 12 || et.SchemaJSON != "" {
		t.Errorf("event type %+v", et)
	}
	if job.Parameters[fleet.ParamSchema] != "projects/my-project/schemas/play-event@1a2b3c4d" {
		t.Errorf("parameters %v", job.Parameters)
	}
	if _, ok := job.Parameters[fleet.ParamSchemaJSON]; ok {
		t.Errorf("schema_json passed beside a Pub/Sub schema: %v", job.Parameters)
	}

	bad := head + `    previous_schemas: [schemas/r1.avsc]
  - name: other
    subscription: projects/my-project/subscriptions/other
    schema: projects/my-project/schemas/a/b
`
	_, err := fleet.Load(writeFleet(t, bad))
	var verr *fleet.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	for _, w := range []string{
		`:13: event_types[0].previous_schemas: not with a Pub/Sub schema`,
		`:16: event_types[1].schema: "projects/my-project/schemas/a/b": want a schema file, projects/P/schemas/S or projects/P/schemas/S@REVISION`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing problem %q in:\n%s", w, err)
		}
	}
}
