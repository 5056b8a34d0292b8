package fleet_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// good is launchertest's fleet head with more defaults and two event types.
var good = strings.TrimSuffix(launchertest.FleetHead, "event_types:\n") + `  service_account: sa@my-project.iam.gserviceaccount.com
  machine_type: n2-standard-2
  max_workers: 10
  skew_tolerance: 30m
  labels: {team: data-platform}
  max_active_jobs_per_project: 25
event_types:
  - name: play-track
    subscription: projects/my-project/subscriptions/play-track
    schema: schemas/play_track.avsc
  - name: search
    subscription: projects/my-project/subscriptions/search
    schema: schemas/play_track.avsc
    region: us-central1
    max_workers: 3
    labels: {team: search}
    version: v1.5.0-rc.1
`

func writeFleet(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "play_track.avsc"), []byte(launchertest.PlayTrackSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "bad.avsc"), []byte(`{"type": "record", "name": "X", "fields": [{"name": "a", "type": "strang"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadFleet writes content as writeFleet does and loads it; it fails the test on an error.
func loadFleet(t *testing.T, content string) *fleet.Fleet {
	t.Helper()
	return launchertest.LoadFile(t, writeFleet(t, content))
}

func TestLoadEffectiveJobs(t *testing.T) {
	f := loadFleet(t, good)
	jobs := f.Jobs()
	if len(jobs) != 2 {
		t.Fatalf("got %d jobs, want 2", len(jobs))
	}
	pt, s := jobs[0], jobs[1]
	if pt.Name != "events-prod-play-track" || pt.Project != "my-project" || pt.Region != "europe-west1" {
		t.Errorf("play-track: %+v", pt)
	}
	if pt.Template != "gs://b/eventdelivery/v1.4.2/spec.json" {
		t.Errorf("template = %q", pt.Template)
	}
	wantLabels := map[string]string{"team": "data-platform", "managed-by": "eventdelivery", "fleet": "events-prod",
		"event-type": "play-track", "pipeline-version": "v1-4-2", "config-hash": pt.ConfigHash}
	for k, v := range wantLabels {
		if pt.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pt.Labels[k], v)
		}
	}
	if pt.Parameters[fleet.ParamSkewTolerance] != "30m" || !strings.Contains(pt.Parameters[fleet.ParamSchemaJSON], `"PlayTrack"`) ||
		pt.Parameters[fleet.ParamSubscription] != "projects/my-project/subscriptions/play-track" || pt.Parameters[fleet.ParamEventType] != "play-track" {
		t.Errorf("parameters: %v", pt.Parameters)
	}
	if s.Region != "us-central1" || s.Environment.MaxWorkers != 3 || s.Labels["team"] != "search" || s.Version != "v1.5.0-rc.1" ||
		s.Labels["pipeline-version"] != "v1-5-0-rc-1" || s.Template != "gs://b/eventdelivery/v1.5.0-rc.1/spec.json" {
		t.Errorf("search overrides not applied: %+v", s)
	}
	if len(pt.ConfigHash) != 10 || pt.ConfigHash == s.ConfigHash {
		t.Errorf("config hashes %q %q", pt.ConfigHash, s.ConfigHash)
	}
}

func TestEarlyPanesPerEventType(t *testing.T) {
	f := loadFleet(t, strings.Replace(good, "    version: v1.5.0-rc.1\n", "    version: v1.5.0-rc.1\n    early_panes: 5m\n", 1))
	pt, s := f.Jobs()[0], f.Jobs()[1]
	if _, set := pt.Parameters[fleet.ParamEarlyPanes]; set || s.Parameters[fleet.ParamEarlyPanes] != "5m" {
		t.Errorf("early_panes: play-track %v, search %q; want unset and 5m", pt.Parameters, s.Parameters[fleet.ParamEarlyPanes])
	}
}

func TestConfigHashIgnoresVersionButNotConfig(t *testing.T) {
	base := loadFleet(t, good)
	bumped := loadFleet(t, strings.Replace(good, "version: v1.4.2", "version: v1.4.3", 1))
	changed := loadFleet(t, strings.Replace(good, "machine_type: n2-standard-2", "machine_type: n2-standard-4", 1))
	resized := loadFleet(t, strings.Replace(good, "max_workers: 10", "max_workers: 11", 1))
	if base.Jobs()[0].ConfigHash != bumped.Jobs()[0].ConfigHash {
		t.Error("a version bump changed the config hash")
	}
	if base.Jobs()[0].ConfigHash == changed.Jobs()[0].ConfigHash {
		t.Error("machine_type change kept the config hash")
	}
	// Worker bounds change in place (plan.InPlace), not by an update.
	if base.Jobs()[0].ConfigHash != resized.Jobs()[0].ConfigHash || resized.Jobs()[0].Environment.MaxWorkers != 11 {
		t.Error("a max_workers change changed the config hash")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	bad := `fleet: Events_Prod
version: v1.4.2
template: gs://b/eventdelivery/latest/spec.json
colour: blue
defaults:
  project: my-project
  region: europe-west1
  output: gs://b/raw
  temp_location: gs://b/tmp
  skew_tolerance: 30 minutes
  max_workers: many
  labels: {managed-by: me, Team: x}
  regoin: europe-west4
event_types:
  - name: play-track
    subscription: projects/my-project/subscriptions/play-track
    schema: schemas/play_track.avsc
  - name: play-track
    subscription: projects/my-project/subscriptions/play-track
    schema: schemas/missing.avsc
  - name: Search_Query
    subscription: search
    schema: schemas/bad.avsc
    bucket_width: 0s
  - subscription: projects/my-project/subscriptions/x
    early_panes: often
`
	_, err := fleet.Load(writeFleet(t, bad))
	var verr *fleet.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	want := []string{
		`:1: fleet: "Events_Prod" must match`,
		`:3: template: "gs://b/eventdelivery/latest/spec.json" has no {version} placeholder`,
		`:4: colour: unknown key`,
		`:10: defaults.skew_tolerance: "30 minutes" is not a duration`,
		`:11: defaults.max_workers: expected a whole number`,
		`:12: defaults.labels.managed-by: label "managed-by" is set by the launcher itself`,
		`:12: defaults.labels.Team: label key must start with a lowercase letter`,
		`:13: defaults.regoin: unknown key (did you mean "region"?)`,
		`:18: event_types[1].name: duplicate event type "play-track" (first defined on line 15)`,
		`:20: event_types[1].schema: schema file`,
		`:21: event_types[2].name: "Search_Query" must match`,
		`:22: event_types[2].subscription: "search" is not projects/PROJECT/subscriptions/NAME`,
		`:23: event_types[2].schema: invalid Avro schema`,
		`:24: event_types[2].bucket_width: "0s" must be positive`,
		`:25: event_types[3].name: required`,
		`:25: event_types[3].schema: required`,
		`:26: event_types[3].early_panes: "often" is not a duration`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(verr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(verr.Problems), len(want), msg)
	}
	for _, p := range verr.Problems {
		if !strings.HasSuffix(p.File, "fleet.yaml") || p.Line == 0 || p.Field == "" {
			t.Errorf("incomplete problem %+v", p)
		}
	}
}

func TestValidateMissingTopLevelAndYAMLErrors(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"empty":        {"", ":1: (file): empty"},
		"not yaml":     {"fleet: [a\nversion: x\n", "(file): not valid YAML"},
		"no keys":      {"fleet: a\n", ":1: version: required"},
		"bad sources":  {strings.Replace(good, "  skew_tolerance: 30m\n", "  skew_tolerance: 30m\n  bucket_time: client_time\n  event_id: publish_time\n", 1), ":13: defaults.bucket_time: \"client_time\": want publish_time, attribute:NAME or field:NAME"},
		"bad event id": {strings.Replace(good, "  skew_tolerance: 30m\n", "  skew_tolerance: 30m\n  event_id: publish_time\n", 1), ":13: defaults.event_id: \"publish_time\": want attribute:NAME or field:NAME"},
		"bad layout":   {strings.Replace(good, "  skew_tolerance: 30m\n", "  skew_tolerance: 30m\n  layout: hive-style\n", 1), ":13: defaults.layout: \"hive-style\": want date or hive"},
		"bad topic":    {strings.Replace(good, "  skew_tolerance: 30m\n", "  skew_tolerance: 30m\n  notify_topic: hours-closed\n", 1), ":13: defaults.notify_topic: \"hours-closed\" is not projects/PROJECT/topics/NAME"},
		"missing req":  {"fleet: a\nversion: v1\ntemplate: gs://b/{version}/s.json\nevent_types:\n  - name: x\n    subscription: projects/my-project/subscriptions/x\n    schema: schemas/play_track.avsc\n", ":5: event_types[0].project: required"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fleet.Load(writeFleet(t, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// The layout and notify_topic keys go to the job as its parameters, per event type over the
// defaults, and changes the configuration hash; unset, no parameter is passed.
func TestLayoutKey(t *testing.T) {
	load := func(content string) fleet.Job {
		t.Helper()
		f := loadFleet(t, content)
		return f.Jobs()[0]
	}
	plain := load(good)
	hive := load(strings.Replace(good, "  skew_tolerance: 30m\n", "  skew_tolerance: 30m\n  layout: hive\n  notify_topic: projects/p/topics/closed\n", 1))
	override := load(strings.Replace(good, "    subscription: projects/my-project/subscriptions/play-track\n", "    subscription: projects/my-project/subscriptions/play-track\n    layout: hive\n", 1))
	if _, ok := plain.Parameters[fleet.ParamLayout]; ok {
		t.Errorf("layout unset: parameters %v pass one", plain.Parameters)
	}
	if hive.Parameters[fleet.ParamNotifyTopic] != "projects/p/topics/closed" {
		t.Errorf("notify_topic parameter %q", hive.Parameters[fleet.ParamNotifyTopic])
	}
	for name, j := range map[string]fleet.Job{"defaults": hive, "event type": override} {
		if j.Parameters[fleet.ParamLayout] != "hive" || j.ConfigHash == plain.ConfigHash {
			t.Errorf("%s: layout parameter %q, hash %s (unset: %s); want hive and another hash", name, j.Parameters[fleet.ParamLayout], j.ConfigHash, plain.ConfigHash)
		}
	}
}

func TestLabelSafe(t *testing.T) {
	for in, want := range map[string]string{"v1.4.2": "v1-4-2", "V2.0.0+build.7": "v2-0-0-build-7", "abc_d-e": "abc_d-e"} {
		if got := fleet.LabelSafe(in); got != want {
			t.Errorf("LabelSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGeneratedFleetLoads(t *testing.T) {
	path, err := launchertest.Write(t.TempDir(), launchertest.Spec{EventTypes: 30, PerProject: 25, MaxActive: 25})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Jobs()); got != 30 {
		t.Fatalf("%d jobs", got)
	}
}

// A fleet name starting with backfill would cover other fleets' backfill jobs
// (backfill-<fleet>-…) with its own prefix: refused.
func TestBackfillFleetNamesReserved(t *testing.T) {
	for _, name := range []string{"backfill", "backfill-prod"} {
		dir := t.TempDir()
		path, err := launchertest.Write(dir, launchertest.Spec{Fleet: name, EventTypes: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = fleet.Load(path)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`fleet.yaml:1: fleet: %q is reserved: backfill jobs are named backfill-<fleet>-…`, name)) {
			t.Errorf("fleet %q: %v, want refused as reserved", name, err)
		}
	}
	path, err := launchertest.Write(t.TempDir(), launchertest.Spec{Fleet: "backfills2", EventTypes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.Load(path); err != nil {
		t.Errorf("fleet backfills2: %v, want valid", err)
	}
}
