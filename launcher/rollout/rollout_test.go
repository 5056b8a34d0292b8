package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/deploy/deploytest"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/eventdelivery/eventdelivery/output"
)

var t0 = time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	clock *deploytest.Clock
	df    *fakedataflow.Server
	mon   *fakemonitoring.Server
	api   dataflow.API
	mapi  *monitoring.Client
	dir   string
	spec  launchertest.Spec
}

func newHarness(t *testing.T, spec launchertest.Spec) *harness {
	t.Helper()
	// One clock: the fakes' job transitions and metric windows and the rollout's waits
	// all follow it.
	c := deploytest.NewClock(t0)
	df, client := launchertest.Dataflow(t, fakedataflow.WithClock(c.Now), fakedataflow.WithStartDelay(2*time.Minute),
		fakedataflow.WithDrainDelay(5*time.Minute), fakedataflow.WithMaxActiveJobsPerProject(1000))
	var projects []string
	for i := 0; i < spec.EventTypes; i++ {
		if p := spec.Project(i); len(projects) == 0 || projects[len(projects)-1] != p {
			projects = append(projects, p)
		}
	}
	mon, mapi := launchertest.Monitoring(t, fakemonitoring.WithClock(c.Now), fakemonitoring.WithMetricsScope("proj-000", projects...))
	ctx := context.Background()
	h := &harness{t: t, clock: c, df: df, mon: mon, mapi: mapi, dir: t.TempDir(), spec: spec,
		api: dataflow.WithRetry(client, dataflow.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: 5 * time.Millisecond})}
	// The fleet runs v1.0.0 before the rollout starts.
	f := h.load("v1.0.0")
	obs, err := plan.Observe(ctx, h.api, f, 16)
	if err != nil {
		t.Fatal(err)
	}
	res, err := deploy.Apply(ctx, h.api, plan.Compute(f, obs, plan.Options{}), deploy.Options{RunID: "r0"})
	if err != nil || !res.OK() {
		t.Fatalf("initial deploy: %v %+v", err, res)
	}
	c.Advance(3 * time.Minute)
	return h
}

// load writes the fleet file pinning version and reads it.
func (h *harness) load(version string) *fleet.Fleet {
	h.t.Helper()
	s := h.spec
	s.Version = version
	return launchertest.Load(h.t, h.dir, s)
}

func (h *harness) options() rollout.Options {
	return rollout.Options{Clock: h.clock, PollInterval: time.Minute, Retry: dataflow.RetryPolicy{Attempts: 3, Initial: time.Millisecond},
		Health: rollout.Health{Metrics: h.mapi, Project: "proj-000"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// seedHealthy gives every job of the fleet low lag and watermark age every five minutes
// for three hours.
func (h *harness) seedHealthy(f *fleet.Fleet, except ...string) {
	for _, d := range f.Jobs() {
		if slices.Contains(except, d.EventType) {
			continue
		}
		var pts []fakemonitoring.Point
		for m := -10; m <= 180; m += 5 {
			pts = append(pts, fakemonitoring.Point{Time: t0.Add(time.Duration(m) * time.Minute), Value: 20})
		}
		res := map[string]string{"project_id": d.Project, "job_name": d.Name, "region": d.Region}
		h.mon.AddPoints(alerts.MetricSystemLag, map[string]string{"job_id": "any"}, "dataflow_job", res, pts...)
		h.mon.AddPoints(alerts.MetricWatermarkAge, map[string]string{"job_id": "any"}, "dataflow_job", res, pts...)
	}
}

// active returns the active job of every name, from the fake.
func (h *harness) active() map[string]*dataflowpb.Job {
	out := map[string]*dataflowpb.Job{}
	for _, s := range h.df.Jobs() {
		switch s.Job.CurrentState {
		case dataflowpb.JobState_JOB_STATE_UPDATED, dataflowpb.JobState_JOB_STATE_DRAINED, dataflowpb.JobState_JOB_STATE_CANCELLED, dataflowpb.JobState_JOB_STATE_FAILED:
			continue
		}
		out[s.Job.Name] = s.Job
	}
	return out
}

func TestHealthyRolloutOf300JobsInWaves(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 300, PerProject: 25,
		Extra: "rollout:\n  canaries: 1%\n  waves: [10%, 25%, 100%]\n  soak: 10m\n"}
	h := newHarness(t, spec)
	f := h.load("v2.0.0")
	h.seedHealthy(f)
	var progress strings.Builder
	opts := h.options()
	opts.Progress = view.Progress(&progress, false)
	opts.Parallelism = 32
	res, err := rollout.Run(context.Background(), h.api, f, opts)
	if err != nil {
		t.Fatalf("rollout: %v\n%s", err, progress.String())
	}
	if res.Outcome != "complete" || len(res.Items) != 300 || len(res.RolledBack) != 0 {
		t.Fatalf("outcome %q, %d items, %d rolled back", res.Outcome, len(res.Items), len(res.RolledBack))
	}
	sizes := []int{3, 30, 75, 192}
	if len(res.Waves) != len(sizes) {
		t.Fatalf("waves %+v", res.Waves)
	}
	for i, w := range res.Waves {
		if w.Changed != sizes[i] || w.Outcome != "healthy" {
			t.Errorf("wave %d: %d changed, %s; want %d healthy", i+1, w.Changed, w.Outcome, sizes[i])
		}
	}
	// Every job runs v2 in place, labelled with the rollout and its previous version;
	// each wave was launched only after the previous one had soaked.
	created := map[int][2]time.Time{}
	waveOf := map[string]int{}
	for i, w := range f.Waves() {
		for _, n := range w {
			waveOf[fleet.JobName(f.Name, n)] = i
		}
	}
	act := h.active()
	if len(act) != 300 {
		t.Fatalf("%d active jobs", len(act))
	}
	for name, j := range act {
		l := j.Labels
		if l[fleet.LabelPipelineVersion] != "v2-0-0" || l[fleet.LabelRolloutID] != res.ID || l[fleet.LabelPreviousVersion] != "v1_0_0" || j.ReplaceJobId == "" {
			t.Fatalf("%s: labels %v replaces %q", name, l, j.ReplaceJobId)
		}
		ct := j.CreateTime.AsTime()
		w := waveOf[name]
		r := created[w]
		if r[0].IsZero() || ct.Before(r[0]) {
			r[0] = ct
		}
		if ct.After(r[1]) {
			r[1] = ct
		}
		created[w] = r
	}
	for w := 1; w < len(sizes); w++ {
		if gap := created[w][0].Sub(created[w-1][1]); gap < 10*time.Minute {
			t.Errorf("wave %d launched %s after wave %d: less than the soak", w+1, gap, w)
		}
	}
	// The engine of each wave tells its phases through the rollout's Progress too; off a
	// terminal its jobs that went well are left to the rollout's own line for each.
	for _, want := range []string{"wave 1/4 (canaries): upgrading 3 of 3", "wave 1/4 (canaries): upgrading 3 of 3 event types\napply: 3 jobs\n",
		"wait for RUNNING: 192 jobs\n", "wave 4/4: healthy after 10m0s"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	if strings.Contains(progress.String(), "] ok ") {
		t.Errorf("progress repeats the jobs that went well as the engine's lines:\n%s", progress.String())
	}
	t.Run("a second run has nothing to do", func(t *testing.T) {
		again, err := rollout.Run(context.Background(), h.api, f, opts)
		if err != nil || again.Outcome != "no changes" {
			t.Errorf("second run: %v %+v", err, again)
		}
	})
}

func TestBadCanaryStopsAndRollsBackOnlyTheCanaries(t *testing.T) {
	gcsfake.Start(t, "bucket")
	ctx := context.Background()
	spec := launchertest.Spec{EventTypes: 20, PerProject: 10,
		Extra: "rollout:\n  canaries: [type-003, type-011]\n  waves: [5, 100%]\n  soak: 15m\n  gate: {system_lag: 5m, dead_letters_per_minute: 50}\n"}
	h := newHarness(t, spec)
	before := h.active()
	f := h.load("v2.0.0")
	h.seedHealthy(f, "type-003", "type-011")
	// Every hour is closed, so the closed-hours check passes and the gate fails on the
	// seeded metrics alone.
	st, err := objstore.Open(ctx, "gs://bucket/raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Jobs() {
		target := output.Target{Root: "gs://bucket/raw", EventType: d.EventType, Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute}}
		for hr := 6; hr <= 14; hr++ {
			start := time.Date(2026, 3, 1, hr, 0, 0, 0, time.UTC).UnixMilli()
			m, _ := json.Marshal(output.Manifest{EventType: d.EventType, BucketStart: output.Format(start)})
			if err := st.Write(ctx, target.ManifestPath(start), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Six minutes into the canary soak, type-003 starts to lag 15m and type-011 to
	// dead-letter 200 events a minute.
	bad := t0.Add(9 * time.Minute)
	res3 := map[string]string{"project_id": "proj-000", "job_name": "events-test-type-003", "region": "europe-west1"}
	res11 := map[string]string{"project_id": "proj-001", "job_name": "events-test-type-011", "region": "europe-west1"}
	var lag3, lag11, wm, dl []fakemonitoring.Point
	for m := -10; m <= 60; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		v := 20.0
		if !at.Before(bad.Add(-time.Minute)) { // from the first minute with a dead-letter rate
			v = 900
		}
		if !at.Before(bad.Add(-2 * time.Minute)) {
			dl = append(dl, fakemonitoring.Point{Time: at, Value: float64(200 * len(dl))})
		}
		lag3 = append(lag3, fakemonitoring.Point{Time: at, Value: v})
		lag11 = append(lag11, fakemonitoring.Point{Time: at, Value: 20})
		wm = append(wm, fakemonitoring.Point{Time: at, Value: 60})
	}
	h.mon.AddPoints(alerts.MetricSystemLag, map[string]string{"job_id": "any"}, "dataflow_job", res3, lag3...)
	h.mon.AddPoints(alerts.MetricSystemLag, map[string]string{"job_id": "any"}, "dataflow_job", res11, lag11...)
	h.mon.AddPoints(alerts.MetricWatermarkAge, map[string]string{"job_id": "any"}, "dataflow_job", res3, wm...)
	h.mon.AddPoints(alerts.MetricWatermarkAge, map[string]string{"job_id": "any"}, "dataflow_job", res11, wm...)
	h.mon.AddPoints(alerts.MetricUserCounter, map[string]string{"job_id": "any", "metric_name": alerts.CounterInvalid, "ptransform": "deadletter"}, "dataflow_job", res11, dl...)

	var progress strings.Builder
	opts := h.options()
	opts.Progress = view.Progress(&progress, false)
	opts.Health.Manifests = func(ctx context.Context, root string) (status.ManifestChecker, error) {
		return objstore.Open(ctx, root)
	}
	res, err := rollout.Run(ctx, h.api, f, opts)
	var ge *rollout.GateError
	if !errors.As(err, &ge) {
		t.Fatalf("want a gate error, got %v\n%s", err, progress.String())
	}
	if ge.Wave != "wave 1/3 (canaries)" || ge.RolledBack != 2 || ge.Failed != 0 {
		t.Errorf("gate error %+v", ge)
	}
	joined := strings.Join(ge.Problems, "; ")
	for _, want := range []string{"events-test-type-003: system lag 15m0s above 5m0s", "events-test-type-011: dead letters 200/min above 50/min"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems %q lack %q", joined, want)
		}
	}
	if res.Outcome != "rolled back" || len(res.Items) != 2 || len(res.RolledBack) != 2 || res.Waves[1].Outcome != "not started" {
		t.Errorf("result %+v", res)
	}
	after := h.active()
	for name, j := range after {
		l := j.Labels
		switch name {
		case "events-test-type-003", "events-test-type-011":
			// In place: same name, a new job that replaced the canary, on v1 again.
			if l[fleet.LabelPipelineVersion] != "v1-0-0" || l[fleet.LabelRolledBackFrom] != "v2-0-0" || l[fleet.LabelRolloutID] != res.ID || j.ReplaceJobId == "" {
				t.Errorf("%s: labels %v", name, l)
			}
		default:
			if j.Id != before[name].Id {
				t.Errorf("%s was touched: %s → %s", name, before[name].Id, j.Id)
			}
		}
	}
	t.Run("the next deploy of the same version refuses: it was rolled back", func(t *testing.T) {
		if _, err := rollout.Run(ctx, h.api, f, opts); !errors.As(err, new(*rollout.RolledBackError)) {
			t.Errorf("rolling out a rolled-back version again: %v", err)
		}
		opts.Force = true
		if res, err := rollout.Run(ctx, h.api, f, opts); !errors.As(err, new(*rollout.GateError)) || res.Outcome != "rolled back" {
			t.Errorf("--force rolls it out again, and the gate stops it again: %v", err)
		}
	})
}

func TestIncompatibleUpdate(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 4, Extra: "rollout:\n  canaries: [type-000]\n  soak: 5m\n"}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow-replace=%v", allow), func(t *testing.T) {
			h := newHarness(t, spec)
			before := h.active()
			f := h.load("v2.0.0")
			h.seedHealthy(f)
			h.df.SetIncompatibleUpdate("gs://bucket/eventdelivery/v2.0.0/spec.json", true)
			opts := h.options()
			opts.AllowReplace = allow
			var progress strings.Builder
			opts.Progress = view.Progress(&progress, false)
			res, err := rollout.Run(context.Background(), h.api, f, opts)
			after := h.active()
			if !allow {
				var ie *rollout.IncompatibleError
				if !errors.As(err, &ie) || len(ie.Jobs) != 4 {
					t.Fatalf("want 4 incompatible jobs, got %v", err)
				}
				for name, j := range after {
					if j.Id != before[name].Id || j.CurrentState != dataflowpb.JobState_JOB_STATE_RUNNING {
						t.Errorf("%s: %s %s, want the old job running", name, j.Id, j.CurrentState)
					}
				}
				if res.Items[0].Status != rollout.Incompatible || !strings.Contains(res.Items[0].Error, "not compatible") {
					t.Errorf("item %+v", res.Items[0])
				}
				return
			}
			if err != nil || res.Outcome != "complete" {
				t.Fatalf("rollout: %v %+v\n%s", err, res, progress.String())
			}
			all := h.df.Jobs()
			for name, j := range after {
				if j.Labels[fleet.LabelPipelineVersion] != "v2-0-0" || j.ReplaceJobId != "" || j.Id == before[name].Id {
					t.Errorf("%s: %+v, want a new v2 job (not an update)", name, j)
				}
				// The old job was drained, and stopped before its successor was created.
				for _, s := range all {
					if s.Job.Id == before[name].Id {
						if s.Job.CurrentState != dataflowpb.JobState_JOB_STATE_DRAINED || s.Job.CurrentStateTime.AsTime().After(j.CreateTime.AsTime()) {
							t.Errorf("%s: old job %s since %s, successor created %s", name, s.Job.CurrentState, s.Job.CurrentStateTime.AsTime(), j.CreateTime.AsTime())
						}
					}
				}
			}
			for _, it := range res.Items {
				if it.Action != "replace" || it.Status != rollout.Upgraded {
					t.Errorf("item %+v", it)
				}
			}
		})
	}
}

func TestInterruptedRolloutIsResumedOrRolledBack(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 12, Extra: "rollout:\n  canaries: [type-005]\n  waves: [4]\n  soak: 10m\n"}
	for _, then := range []string{"deploy", "rollback"} {
		t.Run(then, func(t *testing.T) {
			h := newHarness(t, spec)
			f := h.load("v2.0.0")
			h.seedHealthy(f)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Kill the rollout once the second wave's jobs run (1 canary + 4).
			h.clock.OnSleep(func(time.Time) {
				n := 0
				for _, j := range h.active() {
					if j.Labels[fleet.LabelPipelineVersion] == "v2-0-0" && j.CurrentState == dataflowpb.JobState_JOB_STATE_RUNNING {
						n++
					}
				}
				if n >= 5 {
					cancel()
				}
			})
			first, err := rollout.Run(ctx, h.api, f, h.options())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted rollout: %v", err)
			}
			h.clock.OnSleep(nil)
			mid := h.active()
			var upgraded []string
			for name, j := range mid {
				if j.Labels[fleet.LabelPipelineVersion] == "v2-0-0" {
					upgraded = append(upgraded, name)
				}
			}
			if len(upgraded) != 5 {
				t.Fatalf("%d upgraded when interrupted: %v", len(upgraded), upgraded)
			}
			var progress strings.Builder
			opts := h.options()
			opts.Progress = view.Progress(&progress, false)
			switch then {
			case "deploy":
				res, err := rollout.Run(context.Background(), h.api, f, opts)
				if err != nil || res.Outcome != "complete" || !res.Resumed || res.ID != first.ID {
					t.Fatalf("resumed: %v %+v\n%s", err, res, progress.String())
				}
				if len(res.Items) != 7 {
					t.Errorf("resumed run launched %d jobs, want the 7 left", len(res.Items))
				}
				for name, j := range h.active() {
					if j.Labels[fleet.LabelPipelineVersion] != "v2-0-0" || j.Labels[fleet.LabelRolloutID] != first.ID {
						t.Errorf("%s: %v", name, j.Labels)
					}
					if m, ok := mid[name]; ok && m.Labels[fleet.LabelPipelineVersion] == "v2-0-0" && m.Id != j.Id {
						t.Errorf("%s upgraded twice", name)
					}
				}
				if !strings.Contains(progress.String(), "resuming; 5 jobs were upgraded before the interruption") {
					t.Errorf("progress:\n%s", progress.String())
				}
			case "rollback":
				res, err := rollout.Rollback(context.Background(), h.api, f, "", "", opts)
				if err != nil || res.ID != first.ID || len(res.RolledBack) != 5 {
					t.Fatalf("rollback: %v %+v", err, res)
				}
				for name, j := range h.active() {
					if j.Labels[fleet.LabelPipelineVersion] != "v1-0-0" {
						t.Errorf("%s still on %s", name, j.Labels[fleet.LabelPipelineVersion])
					}
				}
				// Rolling back again finds nothing left.
				again, err := rollout.Rollback(context.Background(), h.api, f, "", "", opts)
				if err != nil || again.Outcome != "no changes" {
					t.Errorf("second rollback: %v %+v", err, again)
				}
			}
		})
	}
}

// TestNewEventTypesAreNotSoaked: a rollout whose changes only create jobs (nothing runs a
// version it would replace) checks its waves once and does not soak: there is nothing to
// protect or roll back to.
func TestNewEventTypesAreNotSoaked(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 4, PerProject: 25, Extra: "rollout:\n  canaries: [type-000]\n  waves: [100%]\n  soak: 10m\n"}
	h := newHarness(t, spec)
	h.spec.EventTypes = 8 // four new event types, same version
	f := h.load("v1.0.0")
	h.seedHealthy(f)
	var progress strings.Builder
	opts := h.options()
	opts.Progress = view.Progress(&progress, false)
	before := h.clock.Now()
	res, err := rollout.Run(context.Background(), h.api, f, opts)
	if err != nil {
		t.Fatalf("rollout: %v\n%s", err, progress.String())
	}
	if res.Outcome != "complete" || len(h.active()) != 8 {
		t.Fatalf("outcome %q, %d active jobs\n%s", res.Outcome, len(h.active()), progress.String())
	}
	if waited := h.clock.Now().Sub(before); waited >= 10*time.Minute {
		t.Errorf("creating new event types waited %s: a soak with nothing to protect", waited)
	}
}

// TestFailedCreateHasNothingToRollBack: a new event type whose job fails at start stops the
// rollout at its wave; the rollback has nothing to undo for it (it was created by this
// rollout and never ran), and the gate counts no failed rollback for it.
func TestFailedCreateHasNothingToRollBack(t *testing.T) {
	h := newHarness(t, launchertest.Spec{EventTypes: 4})
	h.spec.EventTypes = 5 // type-004 is new, and the canary
	h.spec.Extra = "rollout:\n  canaries: [type-004]\n  soak: 5m\n"
	f := h.load("v2.0.0")
	h.seedHealthy(f)
	h.df.SetStartFailure("gs://bucket/eventdelivery/v2.0.0/spec.json", "Workflow failed: the network default does not exist")
	res, err := rollout.Run(context.Background(), h.api, f, h.options())
	var ge *rollout.GateError
	if !errors.As(err, &ge) || ge.Failed != 0 || ge.RolledBack != 0 {
		t.Fatalf("want a gate error with no failed rollback, got %v (%+v)", err, ge)
	}
	if len(res.RolledBack) != 1 || res.RolledBack[0].EventType != "type-004" || res.RolledBack[0].Status != rollout.Skipped ||
		res.RolledBack[0].Error != "created by this rollout and failed: nothing to roll back" {
		t.Errorf("rolled back %+v", res.RolledBack)
	}
}

// TestWaveThatDoesNotStartInTimeIsTimedOut: a wave whose job is not RUNNING within the
// start timeout is "timeout", the same status as in a plain deploy; the wave fails and
// the rollout stops. The job cannot be updated back while it is QUEUED, so the rollout
// says to run rollback, which finishes the job once it runs; the others are not touched.
func TestWaveThatDoesNotStartInTimeIsTimedOut(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 4, Extra: "rollout:\n  canaries: [type-002]\n  soak: 5m\n"}
	h := newHarness(t, spec)
	before := h.active()
	f := h.load("v2.0.0")
	h.seedHealthy(f)
	h.df.SetStartDelay(time.Hour) // the canary takes an hour to start
	opts := h.options()
	opts.StartTimeout = 10 * time.Minute
	var progress strings.Builder
	opts.Progress = view.Progress(&progress, false)

	t.Run("the canary times out and the rollout stops", func(t *testing.T) {
		res, err := rollout.Run(context.Background(), h.api, f, opts)
		var ge *rollout.GateError
		if !errors.As(err, &ge) || ge.Wave != "wave 1/2 (canaries)" || ge.RolledBack != 0 || ge.Failed != 1 ||
			!strings.Contains(err.Error(), "run launcher rollback") {
			t.Fatalf("want a gate error at the canaries, got %v\n%s", err, progress.String())
		}
		if len(res.Items) != 1 || res.Items[0].Status != rollout.TimedOut || res.Items[0].Error != "still QUEUED after 10m0s" {
			t.Errorf("items %+v", res.Items)
		}
		if !strings.Contains(res.Summary(), "0 failed, 1 timed out, 1 rolled back") || res.Waves[1].Outcome != "not started" {
			t.Errorf("summary %q, waves %+v", res.Summary(), res.Waves)
		}
		if !strings.Contains(progress.String(), "[TIMEOUT] events-test-type-002 update: v1.0.0 → v2.0.0") {
			t.Errorf("progress:\n%s", progress.String())
		}
	})
	t.Run("rollback finishes once the job runs", func(t *testing.T) {
		h.clock.Advance(time.Hour)
		h.df.SetStartDelay(2 * time.Minute)
		res, err := rollout.Rollback(context.Background(), h.api, f, "", "", opts)
		if err != nil || len(res.RolledBack) != 1 || res.RolledBack[0].Status != rollout.RolledBack {
			t.Fatalf("rollback: %v %+v", err, res)
		}
		for name, j := range h.active() {
			if name == "events-test-type-002" {
				if j.Labels[fleet.LabelPipelineVersion] != "v1-0-0" || j.Labels[fleet.LabelRolledBackFrom] != "v2-0-0" {
					t.Errorf("%s: labels %v, want rolled back to v1", name, j.Labels)
				}
				continue
			}
			if j.Id != before[name].Id {
				t.Errorf("%s was touched: %s → %s", name, before[name].Id, j.Id)
			}
		}
	})
}

// A worker-only change is made on the running jobs before the waves, with no wave, gate or
// launch; with a version change beside it, that one rolls out as usual.
func TestWorkerChangesInPlaceBeforeTheWaves(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 4, Extra: "rollout:\n  canaries: 25%\n  waves: [100%]\n  soak: 10m\n"}
	h := newHarness(t, spec)
	before := h.active()
	path := filepath.Join(h.dir, "fleet.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wider := strings.Replace(string(b), "max_workers: 10", "max_workers: 25", 1)
	if wider == string(b) {
		t.Fatal("the generated fleet file sets no max_workers: 10")
	}
	if err := os.WriteFile(path, []byte(wider), 0o644); err != nil {
		t.Fatal(err)
	}
	f := launchertest.LoadFile(t, path)
	res, err := rollout.Run(context.Background(), h.api, f, h.options())
	if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	if res.Outcome != "changed in place" || len(res.Items) != 4 || len(res.Waves) != 0 {
		t.Fatalf("outcome %q, %d items, %d waves; want changed in place, 4 items, no wave", res.Outcome, len(res.Items), len(res.Waves))
	}
	after := h.active()
	for name, j := range before {
		a := after[name]
		if a == nil || a.GetId() != j.GetId() {
			t.Errorf("%s: job %s became %v: an in-place change launches nothing", name, j.GetId(), a.GetId())
			continue
		}
		if got := a.GetRuntimeUpdatableParams().GetMaxNumWorkers(); got != 25 {
			t.Errorf("%s: max_num_workers %d, want 25", name, got)
		}
	}
	for _, it := range res.Items {
		if it.Status != rollout.Changed || it.Action != plan.InPlace {
			t.Errorf("%s: %s %s, want in-place changed", it.JobName, it.Action, it.Status)
		}
	}
	if !strings.Contains(res.Summary(), "4 changed in place") {
		t.Errorf("summary %q", res.Summary())
	}
}
