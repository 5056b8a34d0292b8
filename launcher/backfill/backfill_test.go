package backfill_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/backfill"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/deploy/deploytest"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
	"github.com/eventdelivery/eventdelivery/output"
)

const (
	template = "gs://bucket/eventdelivery/v1.0.0/spec.json"
	runID    = "r20261202t050000-ab12"
)

var t0 = time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)

func testFleet(t *testing.T, extra string) *fleet.Fleet {
	t.Helper()
	return launchertest.Load(t, t.TempDir(), launchertest.Spec{EventTypes: 2, Extra: extra})
}

func TestPrepareRefuses(t *testing.T) {
	f := testFleet(t, "")
	ok := backfill.Request{EventType: "type-000", Input: "gs://archive/type-000/*.json", Output: "gs://rebuild/raw",
		From: "2026-12-01T10", To: "2026-12-01T12"}
	for _, c := range []struct {
		name string
		mod  func(*backfill.Request)
		want string
	}{
		{"unknown event type", func(r *backfill.Request) { r.EventType = "type-9" },
			`--event-type "type-9": not an event type of ` + f.Path + ` (it has type-000, type-001)`},
		{"no input", func(r *backfill.Request) { r.Input = "" }, "--input is required"},
		{"local input", func(r *backfill.Request) { r.Input = "/archive/*.json" }, `--input "/archive/*.json": must be a gs:// path or glob`},
		{"no output", func(r *backfill.Request) { r.Output = "" }, "--output is required"},
		{"local output", func(r *backfill.Request) { r.Output = "/tmp/out" }, `--output "/tmp/out": must be a gs:// folder`},
		{"live output", func(r *backfill.Request) { r.Output = "gs://bucket/raw/" },
			"--output gs://bucket/raw/ is the live output of type-000 (job events-test-type-000): give --into-live-output"},
		{"into live output elsewhere", func(r *backfill.Request) { r.IntoLiveOutput = true },
			"--into-live-output: --output gs://rebuild/raw is not the live output of type-000 (gs://bucket/raw)"},
		{"from without to", func(r *backfill.Request) { r.To = "" }, "--from and --to go together"},
		{"not an hour", func(r *backfill.Request) { r.From = "2026-12-01T10:30:00Z" },
			`--from: hour "2026-12-01T10:30:00Z": not the start of a 1h0m0s bucket (2026-12-01T10:00:00Z is)`},
		{"bad time", func(r *backfill.Request) { r.To = "tomorrow" }, `--to: hour "tomorrow": want RFC3339`},
		{"empty span", func(r *backfill.Request) { r.To = r.From }, "--from 2026-12-01T10:00:00Z is not before --to 2026-12-01T10:00:00Z"},
		{"not over", func(r *backfill.Request) { r.To = "2026-12-02T06" },
			"--to 2026-12-02T06:00:00Z: the hours from 2026-12-02T05:00:00Z on are not over yet (it is 2026-12-02T05:00:00Z)"},
		{"too long", func(r *backfill.Request) { r.From = "2024-12-01T00" }, "--from 2024-12-01T00:00:00Z --to 2026-12-01T12:00:00Z: 17532 buckets, more than 9600"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			c.mod(&r)
			if _, err := backfill.Prepare(f, r, runID, t0); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	if _, err := backfill.Prepare(f, ok, runID, t0); err != nil {
		t.Errorf("the valid request: %v", err)
	}
	r := ok
	r.Output, r.IntoLiveOutput = "gs://bucket/raw", true
	if _, err := backfill.Prepare(f, r, runID, t0); err != nil {
		t.Errorf("into the live output, asked for: %v", err)
	}
}

// The backfill's launch is the live job's, but for the subscription (input instead), the
// output, the span, its run id, the batch job and its labels; the notify topic is dropped
// for a new output and kept for the live one.
func TestPrepareLaunch(t *testing.T) {
	f := testFleet(t, "  notify_topic: projects/proj-000/topics/closed\n  layout: hive\n")
	live := f.Jobs()[0]
	b, err := backfill.Prepare(f, backfill.Request{EventType: "type-000", Input: "gs://archive/type-000/*.json", Output: "gs://rebuild/raw",
		From: "2026-12-01T10:00:00+01:00", To: "2026-12-01T12"}, runID, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(live.Parameters)
	delete(want, fleet.ParamSubscription)
	delete(want, fleet.ParamNotifyTopic)
	maps.Copy(want, map[string]string{"input": "gs://archive/type-000/*.json", "output": "gs://rebuild/raw", "run_id": runID,
		"replay_from": "2026-12-01T09:00:00Z", "replay_to": "2026-12-01T12:00:00Z"})
	req := b.LaunchRequest()
	if !maps.Equal(req.Parameters, want) {
		t.Errorf("parameters:\n got %v\nwant %v", req.Parameters, want)
	}
	wantLabels := map[string]string{"managed-by": "eventdelivery", "fleet": "events-test", "event-type": "type-000", "team": "data-platform",
		"pipeline-version": "v1-0-0", "template-version": "v1_0_0", "backfill": runID, "backfill-from": "20261201t0900", "backfill-to": "20261201t1200"}
	if !maps.Equal(req.Labels, wantLabels) {
		t.Errorf("labels:\n got %v\nwant %v", req.Labels, wantLabels)
	}
	if req.JobName != "backfill-events-test-type-000-20261201t0900-ab12" || !req.Batch || req.Update || req.Template != live.Template ||
		req.Project != live.Project || req.Region != live.Region || req.Environment.TempLocation != live.Environment.TempLocation || req.Environment.MaxWorkers != 10 {
		t.Errorf("launch: %+v", req)
	}
	if tg := b.Target(); tg.Root != "gs://rebuild/raw" || tg.Layout.Paths != output.HivePaths || tg.EventType != "type-000" {
		t.Errorf("target: %+v", tg)
	}

	b, err = backfill.Prepare(f, backfill.Request{EventType: "type-001", Input: "gs://archive/type-001/*", Output: "gs://bucket/raw", IntoLiveOutput: true}, runID, t0)
	if err != nil {
		t.Fatal(err)
	}
	req = b.LaunchRequest()
	if req.Parameters["notify_topic"] != "projects/proj-000/topics/closed" || req.Parameters["output"] != "gs://bucket/raw" ||
		req.Parameters["subscription"] != "" || req.Parameters["replay_from"] != "" || req.Labels["backfill-from"] != "" ||
		req.JobName != "backfill-events-test-type-001-all-ab12" {
		t.Errorf("into the live output, whole input: %s %v %v", req.JobName, req.Parameters, req.Labels)
	}
}

type env struct {
	srv  *fakedataflow.Server
	api  *dataflow.Client
	clk  *deploytest.Clock
	f    *fleet.Fleet
	live []dataflow.Job
}

// start deploys the fleet's live jobs on the fake, whose template declares the backfill
// parameters too (its metadata, as the released template has it).
func start(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	clk := deploytest.NewClock(t0)
	params := append(slices.Clone(fleet.PipelineParameters), fleet.BackfillParameters...)
	srv, api := launchertest.Dataflow(t, fakedataflow.WithClock(clk.Now), fakedataflow.WithStartDelay(time.Minute),
		fakedataflow.WithBatchParameter(fleet.ParamInput), fakedataflow.WithBatchRunTime(time.Hour),
		fakedataflow.WithTemplate(template, params...))
	f := testFleet(t, "")
	obs, err := plan.Observe(ctx, api, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	res, err := deploy.Apply(ctx, api, plan.Compute(f, obs, plan.Options{}), deploy.Options{Clock: clk, Wait: true, PollInterval: 10 * time.Second})
	if err != nil || !res.OK() {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	e := &env{srv: srv, api: api, clk: clk, f: f}
	for _, s := range srv.Jobs() {
		j, err := api.Get(ctx, s.Job.ProjectId, s.Job.Location, s.Job.Id)
		if err != nil {
			t.Fatal(err)
		}
		e.live = append(e.live, j)
	}
	return e
}

// untouched checks that the live jobs are as they were: same ids, states, labels and
// parameters, and nothing launched but the backfills.
func (e *env) untouched(t *testing.T) {
	t.Helper()
	byID := map[string]fakedataflow.JobSnapshot{}
	for _, s := range e.srv.Jobs() {
		byID[s.Job.Id] = s
	}
	for _, l := range e.live {
		s, ok := byID[l.ID]
		if !ok || s.Job.CurrentState.String() != "JOB_STATE_RUNNING" || !maps.Equal(s.Job.Labels, l.Labels) ||
			s.Parameters["subscription"] == "" || s.Job.Name != l.Name {
			t.Errorf("live job %s changed: %+v", l.Name, s.Job)
		}
	}
}

// A backfill launched next to the running fleet runs as a batch job with exactly its
// parameters and labels, is followed to DONE on the injected clock, and reports per hour
// of its span whether it closed it, another run had, or none did; the live jobs are
// untouched, and plan, prune and status see it for what it is.
func TestBackfillRuns(t *testing.T) {
	gcsfake.Start(t, "bucket", "rebuild")
	ctx := context.Background()
	e := start(t)
	b, err := backfill.Prepare(e.f, backfill.Request{EventType: "type-000", Input: "gs://archive/type-000/*.json", Output: "gs://rebuild/raw",
		From: "2026-12-02T01", To: "2026-12-02T05"}, runID, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The steps after the launch need its job.
	var res *backfill.Result
	if !t.Run("launch runs a batch job with exactly its parameters and labels", func(t *testing.T) {
		var err error
		res, err = backfill.Launch(ctx, e.api, b, dataflow.RetryPolicy{Attempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.JobID == "" || res.ConsoleURL != "https://console.cloud.google.com/dataflow/jobs/europe-west1/"+res.JobID+"?project=proj-000" {
			t.Errorf("launch result: %+v", res)
		}
		var snap fakedataflow.JobSnapshot
		for _, s := range e.srv.Jobs() {
			if s.Job.Id == res.JobID {
				snap = s
			}
		}
		if snap.Job == nil || snap.Job.Type.String() != "JOB_TYPE_BATCH" || snap.Template != template ||
			!maps.Equal(snap.Parameters, b.Parameters) || !maps.Equal(snap.Job.Labels, b.Labels) || snap.Environment.GetEnableStreamingEngine() {
			t.Fatalf("the backfill job as Dataflow has it: %+v", snap)
		}
		e.untouched(t)
	}) {
		return
	}

	// While it runs: plan sees no change, --prune drains nothing, status lists it apart.
	e.clk.Advance(2 * time.Minute)
	obs, err := plan.Observe(ctx, e.api, e.f, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("while it runs plan --prune sees no change", func(t *testing.T) {
		p := plan.Compute(e.f, obs, plan.Options{Prune: true})
		if p.HasChanges() || len(p.Orphans) != 0 || p.Summary() != "No changes." {
			t.Errorf("plan --prune with a backfill running: %s, orphans %+v", p.Summary(), p.Orphans)
		}
	})
	t.Run("while it runs status lists it apart", func(t *testing.T) {
		rep := status.Build(e.f, obs)
		if !rep.Converged() || len(rep.Backfills) != 1 || rep.Backfills[0].ID != res.JobID || len(rep.Orphans) != 0 ||
			rep.Summary() != "2 jobs: 2 running v1.0.0; 1 backfills running" {
			t.Errorf("status with a backfill running: %s, backfills %+v", rep.Summary(), rep.Backfills)
		}
	})
	t.Run("while it runs drain --all selects only the live jobs", func(t *testing.T) {
		targets, err := stopjobs.Select(e.f, obs, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			if tg.JobID == res.JobID {
				t.Errorf("drain --all would stop the backfill: %+v", tg)
			}
		}
		if len(targets) != 2 {
			t.Errorf("drain --all targets: %+v, want the 2 live jobs", targets)
		}
	})
	t.Run("while it runs rollback has no changes", func(t *testing.T) {
		rb, err := rollout.Rollback(ctx, e.api, e.f, "", "", rollout.Options{Clock: e.clk})
		if err != nil || rb.Outcome != "no changes" {
			t.Errorf("rollback with a backfill running: %v %+v", err, rb)
		}
	})

	// What the pipeline writes: hour 01 was closed by another run before, 02 and 03 by
	// this backfill, 04 stays without a manifest.
	tr := hourstest.New(t, b.Target())
	h := func(s string) int64 { return hourstest.At(s) }
	tr.Close(h("2026-12-02T01:00:00Z"), t0.Add(-3*time.Hour), output.Manifest{}, []output.File{tr.File(h("2026-12-02T01:00:00Z"), "part-run-1-0-0.avro", 3)}, nil)
	for _, s := range []string{"2026-12-02T02:00:00Z", "2026-12-02T03:00:00Z"} {
		tr.Close(h(s), t0.Add(time.Hour), output.Manifest{RunID: runID, Duplicates: 1}, []output.File{tr.File(h(s), "part-"+runID+"-0-0.avro", 5)}, nil)
	}

	t.Run("followed to DONE on the clock", func(t *testing.T) {
		var seen []dataflow.State
		opts := deploy.Options{Clock: e.clk, PollInterval: 5 * time.Minute, WaitTimeout: 3 * time.Hour}
		if err := backfill.Follow(ctx, e.api, res, opts, func(j dataflow.Job) { seen = append(seen, j.State) }); err != nil {
			t.Fatal(err)
		}
		if res.State != dataflow.StateDone || !slices.Equal(seen, []dataflow.State{dataflow.StateRunning, dataflow.StateDone}) {
			t.Errorf("followed: %s through %v, want RUNNING then DONE", res.State, seen)
		}
		st, err := objstore.Open(ctx, "gs://rebuild/raw")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := backfill.Hours(ctx, st, res, 4); err != nil {
			t.Fatal(err)
		}
		t.Run("each hour of the span: closed by it, already closed or not closed", func(t *testing.T) {
			var got []string
			for _, hr := range res.Hours {
				got = append(got, hr.Start+" "+string(hr.State)+" "+hr.RunID)
			}
			want := []string{"2026-12-02T01:00:00Z already-closed run-1", "2026-12-02T02:00:00Z closed " + runID,
				"2026-12-02T03:00:00Z closed " + runID, "2026-12-02T04:00:00Z not-closed "}
			if !slices.Equal(got, want) {
				t.Errorf("hours:\n got %q\nwant %q", got, want)
			}
		})
		t.Run("counts and summary", func(t *testing.T) {
			if c := res.Count(); c != (backfill.Counts{Closed: 2, AlreadyClosed: 1, NotClosed: 1, Records: 10}) {
				t.Errorf("counts %+v", c)
			}
			if s := res.Summary(); s != "Backfill backfill-events-test-type-000-20261202t0100-ab12 ("+res.JobID+"): DONE; 2 hours closed (10 records), 1 already closed, 1 not closed." {
				t.Errorf("summary %q", s)
			}
		})
	})

	t.Run("the live jobs are untouched", func(t *testing.T) {
		e.untouched(t)
	})
}

// A backfill that fails while it runs ends Follow with its job's error; the live jobs
// run on.
func TestBackfillFails(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	b, err := backfill.Prepare(e.f, backfill.Request{EventType: "type-001", Input: "gs://archive/x/*", Output: "gs://rebuild/raw"}, runID, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := backfill.Launch(ctx, e.api, b, dataflow.RetryPolicy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.OnSleep(func(now time.Time) {
		if now.Sub(t0) >= 30*time.Minute {
			_ = e.srv.FailJob(res.JobID) // a worker crash half an hour in
		}
	})
	err = backfill.Follow(ctx, e.api, res, deploy.Options{Clock: e.clk, PollInterval: 10 * time.Minute, WaitTimeout: 3 * time.Hour}, nil)
	if err == nil || res.State != dataflow.StateFailed || !strings.Contains(err.Error(), "is FAILED: Workflow failed. (fakedataflow: FailJob)") {
		t.Errorf("a failed backfill: %v, state %s, want FAILED with the job's error", err, res.State)
	}
	e.untouched(t)

	// The same name again cannot be launched twice: a launch that reported an error but
	// created the job is recognised by its run id.
	b2, err := backfill.Prepare(e.f, backfill.Request{EventType: "type-001", Input: "gs://archive/x/*", Output: "gs://rebuild/raw"}, "r20261202t060000-cd34", e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: 14, Count: 1, AfterEffect: true}) // UNAVAILABLE after it took effect
	res2, err := backfill.Launch(ctx, e.api, b2, dataflow.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond})
	if err != nil || !res2.Recognised {
		t.Fatalf("launch after an error that took effect: %v %+v", err, res2)
	}
	n := 0
	for _, s := range e.srv.Jobs() {
		if s.Job.Name == b2.JobName {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d jobs named %s, want 1", n, b2.JobName)
	}
}
