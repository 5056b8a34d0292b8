package plan_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/view"
)

const (
	schemaV1 = `{"type": "record", "name": "PlayTrack", "namespace": "events", "fields": [
  {"name": "event_id", "type": "string"}, {"name": "ms_played", "type": "int"},
  {"name": "legacy", "type": "string"}]}`
	schemaV2 = `{"type": "record", "name": "PlayTrack", "namespace": "events", "fields": [
  {"name": "event_id", "type": "string"}, {"name": "ms_played", "type": "long"},
  {"name": "country", "type": "string", "default": ""}]}`
)

// A schema change plans an update whose line says what changed, field by field, against
// the schema the running job was launched with (its schema_json pipeline option, as GetJob
// reports the launch parameters); a job whose options do not hold its schema says so.
func TestPlanShowsTheSchemaChange(t *testing.T) {
	ctx := context.Background()
	_, c := launchertest.Dataflow(t)
	dir := t.TempDir()
	spec := launchertest.Spec{EventTypes: 3}
	load := func(schema string) *fleet.Fleet {
		t.Helper()
		launchertest.File(t, dir, spec)
		for _, name := range []string{"type_000", "type_001"} {
			if err := os.WriteFile(filepath.Join(dir, "schemas", name+".avsc"), []byte(schema), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, err := fleet.Load(filepath.Join(dir, "fleet.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	v1 := load(schemaV1)
	for i, d := range v1.Jobs() {
		if i == 1 {
			// Launched without its parameters: its schema is not on record.
			d.Parameters = nil
		}
		launchAs(t, c, d, false)
	}
	v2 := load(schemaV2)
	obs, err := plan.Observe(ctx, c, v2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range obs.Jobs {
		obs.Jobs[i].State = dataflow.StateRunning // started: an update applies to running jobs
	}
	p := plan.Compute(v2, obs, plan.Options{})
	var out bytes.Buffer
	if err := view.Plan(&out, view.Table, p); err != nil {
		t.Fatal(err)
	}
	hash := func(f *fleet.Fleet, i int) string { return f.Jobs()[i].ConfigHash }
	want := "  ~ events-test-type-000  proj-000/europe-west1  update  config " + hash(v1, 0) + " → " + hash(v2, 0) + ", schema +country -legacy ~ms_played int→long\n" +
		"  ~ events-test-type-001  proj-000/europe-west1  update  config " + hash(v1, 1) + " → " + hash(v2, 1) + ", schema: the running job's is unknown (not in its pipeline options)\n" +
		"\nStarts in proj-000/europe-west1: 2 launches at 10/min: up to 2 launcher VMs (2 vCPUs) at once; workers up to 40 vCPUs\n" +
		"\nPlan: 0 to create, 2 to update, 0 to recreate, 0 blocked.\n"
	if got := out.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if c := p.Counts(); c.Update != 2 || c.Unchanged != 1 {
		t.Errorf("counts %+v, want 2 updates and 1 unchanged", c)
	}
}
