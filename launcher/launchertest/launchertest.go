// Package launchertest writes fleet files and Avro schemas for tests and benchmarks, and
// starts the fakes of launcher/fakegcp with Google's clients connected to them.
package launchertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FleetHead is the head of a small fleet file, up to its event_types key: fleet
// events-prod at v1.4.2 in my-project, europe-west1. Tests append their event types, so
// that the lines their problems name stay where they were.
const FleetHead = `fleet: events-prod
version: v1.4.2
template: gs://b/eventdelivery/{version}/spec.json
defaults:
  project: my-project
  region: europe-west1
  output: gs://b/raw
  temp_location: gs://b/tmp
event_types:
`

// PlayTrackSchema is a small valid Avro record schema.
const PlayTrackSchema = `{
  "type": "record",
  "name": "PlayTrack",
  "namespace": "events",
  "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "user_id", "type": "string"},
    {"name": "track_id", "type": "string"},
    {"name": "ms_played", "type": "long"},
    {"name": "client_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}
  ]
}
`

// Spec describes a generated fleet.
type Spec struct {
	Fleet      string // default "events-test"
	Version    string // default "v1.0.0"
	EventTypes int    // number of event types
	// PerProject is how many event types go into each project (the projects are
	// "proj-000", "proj-001", …); 0 puts all in one project.
	PerProject int
	// MaxActive is max_active_jobs_per_project in defaults; 0 leaves it out.
	MaxActive int
	// Extra is appended verbatim under defaults (indented by the caller with 2 spaces).
	Extra string
}

// EventTypeName returns the name of the i-th generated event type.
func EventTypeName(i int) string { return fmt.Sprintf("type-%03d", i) }

// Project returns the project of the i-th event type in a spec.
func (s Spec) Project(i int) string {
	if s.PerProject == 0 {
		return "proj-000"
	}
	return fmt.Sprintf("proj-%03d", i/s.PerProject)
}

// Write writes fleet.yaml and one schema per event type into dir and returns the fleet
// file's path.
func Write(dir string, s Spec) (string, error) {
	if s.Fleet == "" {
		s.Fleet = "events-test"
	}
	if s.Version == "" {
		s.Version = "v1.0.0"
	}
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fleet: %s\nversion: %s\ntemplate: gs://bucket/eventdelivery/{version}/spec.json\n", s.Fleet, s.Version)
	b.WriteString("defaults:\n  region: europe-west1\n  output: gs://bucket/raw\n  temp_location: gs://bucket/tmp\n")
	b.WriteString("  service_account: sa-delivery@proj-000.iam.gserviceaccount.com\n  machine_type: n2-standard-2\n  max_workers: 10\n  skew_tolerance: 30m\n  labels: {team: data-platform}\n")
	if s.MaxActive > 0 {
		fmt.Fprintf(&b, "  max_active_jobs_per_project: %d\n", s.MaxActive)
	}
	b.WriteString(s.Extra)
	b.WriteString("event_types:\n")
	for i := 0; i < s.EventTypes; i++ {
		name := EventTypeName(i)
		schema := fmt.Sprintf("schemas/%s.avsc", strings.ReplaceAll(name, "-", "_"))
		content := strings.Replace(PlayTrackSchema, `"PlayTrack"`, fmt.Sprintf(`"Type%03d"`, i), 1)
		if err := os.WriteFile(filepath.Join(dir, schema), []byte(content), 0o644); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  - name: %s\n    project: %s\n    subscription: projects/%s/subscriptions/%s\n    schema: %s\n",
			name, s.Project(i), s.Project(i), name, schema)
	}
	path := filepath.Join(dir, "fleet.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
