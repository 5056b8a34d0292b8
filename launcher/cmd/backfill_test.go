package cmd_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/output"
)

// `launcher backfill` against the Dataflow fake (its template declaring the backfill
// parameters) and fake-gcs, next to a deployed fleet: --dry-run launches nothing; --wait
// follows the batch job to DONE and reports the span's hours from the output (JSON and
// table, exit 2 for an hour without a manifest); while a backfill runs, plan has no
// changes, deploy --prune and drain --all leave it alone and status lists it apart; a
// backfill that fails exits 1 with the job's error; the live jobs never change.
func TestBackfillCommand(t *testing.T) {
	gcsfake.Start(t, "bucket", "rebuild")
	const template = "gs://bucket/eventdelivery/v1.0.0/spec.json"
	srv := launchertest.DataflowServer(t, fakedataflow.WithBatchParameter(fleet.ParamInput),
		fakedataflow.WithTemplate(template, append(slices.Clone(fleet.PipelineParameters), fleet.BackfillParameters...)...))
	path := launchertest.File(t, t.TempDir(), launchertest.Spec{EventTypes: 2})
	f := launchertest.LoadFile(t, path)
	fast := []string{"--poll-interval", "10ms"}
	if r := launcher(t, srv.Addr, append([]string{"deploy", "-f", path, "--rate", "1000"}, fast...)...); r.code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	live := map[string]fakedataflow.JobSnapshot{}
	for _, s := range srv.Jobs() {
		live[s.Job.Id] = s
	}
	untouched := func(t *testing.T, when string) {
		t.Helper()
		for _, s := range srv.Jobs() {
			l, ok := live[s.Job.Id]
			switch {
			case ok && (s.Job.CurrentState != dataflowpb.JobState_JOB_STATE_RUNNING || !maps.Equal(s.Parameters, l.Parameters) || !maps.Equal(s.Job.Labels, l.Job.Labels)):
				t.Errorf("%s: live job %s changed: %s %v", when, s.Job.Name, s.Job.CurrentState, s.Job.Labels)
			case !ok && !strings.HasPrefix(s.Job.Name, "backfill-events-test-"):
				t.Errorf("%s: job %s launched", when, s.Job.Name)
			}
		}
	}

	hour := time.Now().UTC().Truncate(time.Hour)
	h := func(n int) int64 { return hour.Add(time.Duration(-n) * time.Hour).UnixMilli() }
	from, to := output.Format(h(3)), output.Format(h(1))
	args := func(runID string, more ...string) []string {
		return append([]string{"backfill", "-f", path, "--event-type", "type-000", "--input", "gs://archive/type-000/*.json",
			"--output", "gs://rebuild/raw", "--run-id", runID}, append(more, fast...)...)
	}

	t.Run("dry-run prints the launch and launches nothing", func(t *testing.T) {
		r := launcher(t, srv.Addr, args("r1-dry", "--from", from, "--to", to, "--dry-run")...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Would launch backfill-events-test-type-000-"+hour.Add(-3*time.Hour).Format("20060102t1504")+"-dry in proj-000/europe-west1") ||
			!strings.Contains(r.stdout, "  parameter  input             gs://archive/type-000/*.json\n") || !strings.Contains(r.stdout, "  label      backfill          r1-dry\n") || len(srv.Jobs()) != 2 {
			t.Errorf("--dry-run: %+v, %d jobs", r, len(srv.Jobs()))
		}
	})

	t.Run("dry-run -o json names the job and the live job", func(t *testing.T) {
		r := launcher(t, srv.Addr, args("r1-dry", "--dry-run", "-o", "json")...)
		var dry struct {
			DryRun  bool   `json:"dry_run"`
			JobName string `json:"job_name"`
			LiveJob string `json:"live_job"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil || r.code != 0 || !dry.DryRun ||
			dry.JobName != "backfill-events-test-type-000-all-dry" || dry.LiveJob != "events-test-type-000" || len(srv.Jobs()) != 2 {
			t.Errorf("--dry-run -o json: %v %+v", err, r)
		}
	})

	// The output as the pipeline leaves it: h-3 closed by another run before, h-2 by the
	// backfill.
	b := f.Jobs()[0]
	b.Parameters = maps.Clone(b.Parameters)
	b.Parameters[fleet.ParamOutput] = "gs://rebuild/raw"
	tr := hourstest.New(t, b.OutputTarget())
	tr.Close(h(3), time.Now(), output.Manifest{}, []output.File{tr.File(h(3), "part-run-1-0-0.avro", 2)}, nil)
	tr.Close(h(2), time.Now(), output.Manifest{RunID: "r2-json"}, []output.File{tr.File(h(2), "part-r2-json-0-0.avro", 4)}, nil)

	t.Run("wait -o json follows the batch job to DONE and reports the hours", func(t *testing.T) {
		r := launcher(t, srv.Addr, args("r2-json", "--from", from, "--to", to, "--wait", "-o", "json")...)
		var res struct {
			JobName    string            `json:"job_name"`
			JobID      string            `json:"job_id"`
			ConsoleURL string            `json:"console_url"`
			State      string            `json:"state"`
			Labels     map[string]string `json:"labels"`
			Parameters map[string]string `json:"parameters"`
			Hours      []struct {
				Start, State string
				Records      int64
			} `json:"hours"`
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
			t.Fatalf("backfill --wait -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		if res.State != "DONE" || res.Labels["backfill"] != "r2-json" || res.Parameters["replay_from"] != from || res.Parameters["replay_to"] != to ||
			res.Parameters["subscription"] != "" || !strings.HasSuffix(res.ConsoleURL, "/europe-west1/"+res.JobID+"?project=proj-000") ||
			len(res.Hours) != 2 || res.Hours[0].State != "already-closed" || res.Hours[1].State != "closed" || res.Hours[1].Records != 4 ||
			!strings.HasSuffix(res.Summary, ": DONE; 1 hours closed (4 records), 1 already closed, 0 not closed.") {
			t.Errorf("backfill --wait -o json: %+v", res)
		}
		for _, s := range srv.Jobs() {
			if s.Job.Id == res.JobID && (s.Job.Type != dataflowpb.JobType_JOB_TYPE_BATCH || !maps.Equal(s.Parameters, res.Parameters) || !maps.Equal(s.Job.Labels, res.Labels)) {
				t.Errorf("the backfill as Dataflow has it: %s %v %v", s.Job.Type, s.Parameters, s.Job.Labels)
			}
		}
		untouched(t, "after a backfill")
	})

	t.Run("wait with an hour left open prints the table and exits 2", func(t *testing.T) {
		r := launcher(t, srv.Addr, args("r3-table", "--from", from, "--to", output.Format(h(0)), "--wait")...)
		if r.code != cmd.ExitChanges || !strings.HasPrefix(r.stdout, "Launched backfill-events-test-type-000-") ||
			!strings.Contains(r.stdout, "\n  https://console.cloud.google.com/dataflow/jobs/europe-west1/") ||
			!strings.Contains(r.stdout, "HOUR                  STATE           RECORDS  DUPLICATES  SKEWED  DEAD LETTERS  RUN\n") ||
			!strings.Contains(r.stdout, "\n"+output.Format(h(1))+"  not-closed      0 ") ||
			!strings.Contains(r.stdout, ": DONE; 0 hours closed (0 records), 2 already closed, 1 not closed.\n") ||
			!strings.Contains(r.stderr, "DONE, but 1 hours of ["+from+", "+output.Format(h(0))+") have no manifest") {
			t.Errorf("backfill --wait with an hour left open: %+v", r)
		}
	})

	// A backfill that runs: plan, prune, drain --all and status.
	t.Run("while a backfill runs", func(t *testing.T) {
		srv.SetBatchRunTime(time.Hour)
		r := launcher(t, srv.Addr, args("r4-running")...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Launched backfill-events-test-type-000-all-running in proj-000/europe-west1: job ") {
			t.Fatalf("backfill without --wait: %+v", r)
		}
		t.Run("plan --prune has no changes", func(t *testing.T) {
			if r := launcher(t, srv.Addr, "plan", "-f", path, "--prune", "--detailed-exitcode"); r.code != 0 || r.stdout != "No changes.\n" {
				t.Errorf("plan --prune with a backfill running: %+v", r)
			}
		})
		t.Run("deploy --prune leaves it alone", func(t *testing.T) {
			if r := launcher(t, srv.Addr, append([]string{"deploy", "-f", path, "--prune", "--rate", "1000"}, fast...)...); r.code != 0 || strings.Contains(r.stdout, "backfill") {
				t.Errorf("deploy --prune with a backfill running: %+v", r)
			}
		})
		t.Run("drain --all leaves it alone", func(t *testing.T) {
			if r := launcher(t, srv.Addr, "drain", "-f", path, "--all", "--yes"); r.code != 0 || strings.Contains(r.stdout, "backfill") {
				t.Errorf("drain --all: %+v", r)
			}
		})
		t.Run("the backfill is still running", func(t *testing.T) {
			running := 0
			for _, s := range srv.Jobs() {
				if strings.HasSuffix(s.Job.Name, "-all-running") && s.Job.CurrentState == dataflowpb.JobState_JOB_STATE_RUNNING {
					running++
				}
			}
			if running != 1 {
				t.Errorf("the running backfill was stopped")
			}
		})
		t.Run("status lists it apart", func(t *testing.T) {
			r := launcher(t, srv.Addr, "status", "-f", path)
			if !strings.Contains(r.stdout, "type-000    backfill-events-test-type-000-all-running  RUNNING  v1-0-0 ") ||
				!strings.Contains(r.stdout, "backfill r4-running\n") || !strings.HasSuffix(r.stdout, "; 1 backfills running\n") {
				t.Errorf("status with a backfill running:\n%s%s", r.stdout, r.stderr)
			}
		})
	})

	t.Run("a failed backfill exits 1 with the job's error", func(t *testing.T) {
		// Its input matches nothing.
		srv.SetStartFailure(template, "Workflow failed. Causes: no files match gs://archive/type-000/*.json")
		r := launcher(t, srv.Addr, args("r5-failed", "--event-type", "type-001", "--wait")...)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "is FAILED: Workflow failed. Causes: no files match gs://archive/type-000/*.json") ||
			!strings.Contains(r.stdout, ": FAILED: job ") {
			t.Errorf("a failed backfill: %+v", r)
		}
	})

	t.Run("an unknown event type is refused", func(t *testing.T) {
		if r := launcher(t, srv.Addr, args("r6", "--event-type", "nope")...); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, `--event-type "nope": not an event type of `+path) {
			t.Errorf("unknown event type: %+v", r)
		}
	})

	t.Run("a bad run id is refused", func(t *testing.T) {
		if r := launcher(t, srv.Addr, args("R7")...); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, `--run-id "R7"`) {
			t.Errorf("bad run id: %+v", r)
		}
	})

	t.Run("the live jobs' parameters never changed", func(t *testing.T) {
		// The drain above drained the live jobs; nothing else touched them.
		for _, s := range srv.Jobs() {
			if _, ok := live[s.Job.Id]; ok && !maps.Equal(s.Parameters, live[s.Job.Id].Parameters) {
				t.Errorf("live job %s's parameters changed", s.Job.Name)
			}
		}
	})
}
