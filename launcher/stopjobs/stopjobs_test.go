package stopjobs_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/deploy/deploytest"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
	"google.golang.org/grpc/codes"
)

// stopDelay is how long a drain or a cancel takes in the fake.
const stopDelay = time.Minute

// world is a fake Dataflow whose clock stands still unless a test moves it, Google's
// clients on it, and a fleet file of n event types (fleet events-test, one project).
type world struct {
	srv   *fakedataflow.Server
	api   *dataflow.Client
	clock *deploytest.Clock
	fleet *fleet.Fleet
}

func newWorld(t *testing.T, eventTypes int) *world {
	t.Helper()
	clock := deploytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	srv, api := launchertest.Dataflow(t, fakedataflow.WithClock(clock.Now),
		fakedataflow.WithDrainDelay(stopDelay), fakedataflow.WithCancelDelay(stopDelay))
	return &world{srv: srv, api: api, clock: clock, fleet: launchertest.Load(t, t.TempDir(), launchertest.Spec{EventTypes: eventTypes})}
}

// launch launches r on the fake; the job is RUNNING from the next call on.
func (w *world) launch(t *testing.T, r dataflow.LaunchRequest) dataflow.Job {
	t.Helper()
	j, err := w.api.Launch(context.Background(), r)
	if err != nil {
		t.Fatalf("launch %s: %v", r.JobName, err)
	}
	return j
}

// run launches d's job the way deploy does, with the fleet's labels.
func (w *world) run(t *testing.T, d fleet.Job) dataflow.Job {
	t.Helper()
	return w.launch(t, deploy.LaunchRequest(d, "r-test", false))
}

// runAs launches d's job with labels instead of the fleet's.
func (w *world) runAs(t *testing.T, d fleet.Job, labels map[string]string) dataflow.Job {
	t.Helper()
	r := deploy.LaunchRequest(d, "r-test", false)
	r.Labels = labels
	return w.launch(t, r)
}

// stop drains or cancels a job outside of stopjobs.
func (w *world) stop(t *testing.T, j dataflow.Job, mode stopjobs.Mode) {
	t.Helper()
	stop := map[stopjobs.Mode]func(context.Context, string, string, string) (dataflow.Job, error){
		stopjobs.Drain: w.api.Drain, stopjobs.Cancel: w.api.Cancel,
	}[mode]
	if _, err := stop(context.Background(), j.Project, j.Region, j.ID); err != nil {
		t.Fatalf("%s %s: %v", mode, j.Name, err)
	}
}

// targets observes the fleet as launcher drain and cancel do and selects.
func (w *world) targets(t *testing.T, eventTypes []string, all bool) ([]stopjobs.Target, error) {
	t.Helper()
	obs, err := plan.Observe(context.Background(), w.api, w.fleet, 4)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return stopjobs.Select(w.fleet, obs, eventTypes, all)
}

// states returns the fake's state of every job, by job id.
func (w *world) states() map[string]dataflowpb.JobState {
	out := map[string]dataflowpb.JobState{}
	for _, s := range w.srv.Jobs() {
		out[s.Job.Id] = s.Job.CurrentState
	}
	return out
}

// target is the target Select makes of event type d with job j in state st.
func target(d fleet.Job, j dataflow.Job, st dataflow.State, skip string) stopjobs.Target {
	return stopjobs.Target{EventType: d.EventType, JobName: d.Name, Project: d.Project, Region: d.Region, JobID: j.ID, State: st, Skip: skip}
}

func TestSelect(t *testing.T) {
	w := newWorld(t, 9)
	d := w.fleet.Jobs()
	// Two more event types the fleet file no longer has: their jobs are orphans.
	gone := launchertest.Load(t, t.TempDir(), launchertest.Spec{EventTypes: 11}).Jobs()[9:]

	// type-003's last job was cancelled; the clock moves on before the others start.
	cancelled := w.run(t, d[3])
	w.stop(t, cancelled, stopjobs.Cancel)
	w.clock.Advance(stopDelay)

	running0, running1 := w.run(t, d[0]), w.run(t, d[1])
	// type-002 never had a job.
	foreign := w.runAs(t, d[4], map[string]string{"team": "other"})
	otherFleet := maps.Clone(d[5].Labels)
	otherFleet[fleet.LabelFleet] = "events-other"
	ofOtherFleet := w.runAs(t, d[5], otherFleet)
	draining, cancelling := w.run(t, d[6]), w.run(t, d[7])
	w.stop(t, draining, stopjobs.Drain)
	w.stop(t, cancelling, stopjobs.Cancel)

	orphan, drainingOrphan := w.run(t, gone[0]), w.run(t, gone[1])
	w.stop(t, drainingOrphan, stopjobs.Drain)
	// Neither a job of a third name launched by someone else nor the fleet's backfill is
	// an orphan.
	w.launch(t, dataflow.LaunchRequest{Project: "proj-000", Region: "europe-west1", JobName: fleet.JobName("events-test", "type-011"),
		Template: "gs://someone/else.json", Labels: map[string]string{"team": "other"}})
	backfill := deploy.LaunchRequest(d[0], "bf-1", false)
	backfill.JobName, backfill.Labels[fleet.LabelBackfill] = fleet.BackfillPrefix("events-test")+"type-000-bf-1", "bf-1"
	w.launch(t, backfill)

	// type-008 is being updated in place: its replacement starts in an hour, and the old
	// job runs until then.
	replaced := w.run(t, d[8])
	w.srv.SetStartDelay(time.Hour)
	replacement := w.launch(t, deploy.LaunchRequest(d[8], "r-test-2", true))

	notOurs := func(j dataflow.Job) string {
		return fmt.Sprintf("job %s is not managed by this fleet (no managed-by=eventdelivery, fleet=events-test labels): left alone", j.ID)
	}
	none := dataflow.Job{}
	all := []stopjobs.Target{
		target(d[0], running0, dataflow.StateRunning, ""),
		target(d[1], running1, dataflow.StateRunning, ""),
		target(d[2], none, "", "no active job"),
		target(d[3], none, "", "no active job"),
		target(d[4], foreign, dataflow.StateRunning, notOurs(foreign)),
		target(d[5], ofOtherFleet, dataflow.StateRunning, notOurs(ofOtherFleet)),
		target(d[6], draining, dataflow.StateDraining, "already draining"),
		target(d[7], cancelling, dataflow.StateCancelling, "already cancelling"),
		target(d[8], replacement, dataflow.StateQueued, fmt.Sprintf(
			"update in progress: job %s (QUEUED) takes over from %s (RUNNING); stop the event type once the update is over", replacement.ID, replaced.ID)),
		target(gone[0], orphan, dataflow.StateRunning, ""),
		target(gone[1], drainingOrphan, dataflow.StateDraining, "already draining"),
	}

	for _, tc := range []struct {
		name       string
		eventTypes []string
		all        bool
		want       []stopjobs.Target
		wantCount  int
		wantErr    string
	}{
		{name: "the named event types only, in the order named", eventTypes: []string{"type-001", "type-000"},
			want: []stopjobs.Target{all[1], all[0]}, wantCount: 2},
		{name: "a name given twice is one target", eventTypes: []string{"type-000", "type-000"},
			want: all[:1], wantCount: 1},
		{name: "an unknown event type is an error that names it and the fleet file", eventTypes: []string{"type-000", "no-such-type"},
			wantErr: fmt.Sprintf("%q is not an event type of %s", "no-such-type", w.fleet.Path)},
		{name: "an event type that never had a job is skipped", eventTypes: []string{"type-002"},
			want: all[2:3]},
		{name: "an event type whose last job was cancelled is skipped", eventTypes: []string{"type-003"},
			want: all[3:4]},
		{name: "a job of that name without the fleet's labels is left alone", eventTypes: []string{"type-004"},
			want: all[4:5]},
		{name: "a job of that name of another fleet is left alone", eventTypes: []string{"type-005"},
			want: all[5:6]},
		{name: "a draining job is skipped", eventTypes: []string{"type-006"},
			want: all[6:7]},
		{name: "a cancelling job is skipped", eventTypes: []string{"type-007"},
			want: all[7:8]},
		{name: "an event type whose update is in progress is skipped: stopping one of its two jobs leaves the other", eventTypes: []string{"type-008"},
			want: all[8:9]},
		{name: "all: every event type, then every orphaned managed job", all: true,
			want: all, wantCount: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.targets(t, tc.eventTypes, tc.all)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || got != nil {
					t.Fatalf("Select: %v (targets %+v), want error %q", err, got, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets\n got %+v\nwant %+v", got, tc.want)
			}
			if n := stopjobs.Count(got); n != tc.wantCount {
				t.Errorf("Count = %d, want %d", n, tc.wantCount)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []stopjobs.Target
		want int
	}{
		{"no targets", nil, 0},
		{"only skipped targets", []stopjobs.Target{{JobID: "a", Skip: "already draining"}, {Skip: "no active job"}}, 0},
		{"the targets not skipped", []stopjobs.Target{{JobID: "a"}, {Skip: "no active job"}, {JobID: "b"}}, 2},
		{"applied targets still count, failed or not", []stopjobs.Target{{JobID: "a", OK: true, Result: "DRAINING"}, {JobID: "b", Result: "drain b: denied"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := stopjobs.Count(tc.ts); n != tc.want {
				t.Errorf("Count = %d, want %d", n, tc.want)
			}
		})
	}
}

// Apply stops the targets not skipped and leaves the skipped ones' jobs as they were: a
// job launched by someone else (still RUNNING) and one draining already.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		mode stopjobs.Mode
		// result is the state the request leaves the jobs in; during and after are the
		// fake's states of them then and once the stop delay is over.
		result        dataflow.State
		during, after dataflowpb.JobState
	}{
		{stopjobs.Drain, dataflow.StateDraining, dataflowpb.JobState_JOB_STATE_DRAINING, dataflowpb.JobState_JOB_STATE_DRAINED},
		{stopjobs.Cancel, dataflow.StateCancelling, dataflowpb.JobState_JOB_STATE_CANCELLING, dataflowpb.JobState_JOB_STATE_CANCELLED},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			w := newWorld(t, 4)
			d := w.fleet.Jobs()
			ours := []dataflow.Job{w.run(t, d[0]), w.run(t, d[1])}
			foreign := w.runAs(t, d[2], map[string]string{"team": "other"})
			draining := w.run(t, d[3])
			w.stop(t, draining, stopjobs.Drain)
			ts, err := w.targets(t, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			before := w.srv.Calls(fakedataflow.MethodUpdateJob)

			if err := stopjobs.Apply(context.Background(), w.api, ts, tc.mode, 4); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for _, tg := range ts[:2] {
				if !tg.OK || tg.Result != string(tc.result) || tg.State != tc.result {
					t.Errorf("target %s: ok %v, result %q, state %s; want %s", tg.JobName, tg.OK, tg.Result, tg.State, tc.result)
				}
			}
			for _, tg := range ts[2:] {
				if tg.OK || tg.Result != "" {
					t.Errorf("skipped target %s: ok %v, result %q", tg.JobName, tg.OK, tg.Result)
				}
			}
			if n := w.srv.Calls(fakedataflow.MethodUpdateJob) - before; n != 2 {
				t.Errorf("%d UpdateJob calls, want 2 (the skipped targets untouched)", n)
			}
			st := w.states()
			for _, j := range ours {
				if st[j.ID] != tc.during {
					t.Errorf("job %s is %s, want %s", j.Name, st[j.ID], tc.during)
				}
			}
			if st[foreign.ID] != dataflowpb.JobState_JOB_STATE_RUNNING || st[draining.ID] != dataflowpb.JobState_JOB_STATE_DRAINING {
				t.Errorf("skipped jobs: foreign %s, draining %s; want them unchanged", st[foreign.ID], st[draining.ID])
			}

			w.clock.Advance(stopDelay)
			st = w.states()
			for _, j := range ours {
				if st[j.ID] != tc.after {
					t.Errorf("%s after the %s delay: job %s is %s, want %s", tc.mode, stopDelay, j.Name, st[j.ID], tc.after)
				}
			}
		})
	}
}

// A call that fails is recorded in its target, and the others are applied all the same.
func TestApplyRecordsAFailedCall(t *testing.T) {
	w := newWorld(t, 3)
	for _, d := range w.fleet.Jobs() {
		w.run(t, d)
	}
	ts, err := w.targets(t, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	// The first UpdateJob call, whichever job it is for, is refused.
	w.srv.SetFault(fakedataflow.MethodUpdateJob, fakedataflow.Fault{Code: codes.PermissionDenied, Count: 1})

	err = stopjobs.Apply(context.Background(), w.api, ts, stopjobs.Drain, 1)
	if err == nil || err.Error() != "drain: 1 of 3 requests failed" {
		t.Errorf("Apply: %v, want drain: 1 of 3 requests failed", err)
	}
	st := w.states()
	var failed []string
	for _, tg := range ts {
		if tg.OK {
			if tg.Result != "DRAINING" || st[tg.JobID] != dataflowpb.JobState_JOB_STATE_DRAINING {
				t.Errorf("target %s: result %q, job %s; want DRAINING", tg.JobName, tg.Result, st[tg.JobID])
			}
			continue
		}
		failed = append(failed, tg.JobName)
		want := fmt.Sprintf("drain %s: rpc error: code = PermissionDenied desc = fakedataflow: injected PermissionDenied on UpdateJob", tg.JobName)
		if tg.Result != want || tg.State != dataflow.StateRunning || st[tg.JobID] != dataflowpb.JobState_JOB_STATE_RUNNING {
			t.Errorf("failed target %s: result %q, state %s, job %s; want %q and the job RUNNING", tg.JobName, tg.Result, tg.State, st[tg.JobID], want)
		}
	}
	if len(failed) != 1 {
		t.Errorf("failed targets %v, want exactly one", failed)
	}
}

// With parallelism p, n calls that each take the fake latency take at least n/p of them.
func TestApplyBoundsTheCallsInFlight(t *testing.T) {
	const latency = 100 * time.Millisecond
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("parallelism %d", p), func(t *testing.T) {
			w := newWorld(t, 4)
			for _, d := range w.fleet.Jobs() {
				w.run(t, d)
			}
			ts, err := w.targets(t, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			w.srv.SetLatency(fakedataflow.MethodUpdateJob, latency)
			start := time.Now()
			if err := stopjobs.Apply(context.Background(), w.api, ts, stopjobs.Cancel, p); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if took, least := time.Since(start), time.Duration(len(ts)/p)*latency; took < least {
				t.Errorf("%d cancels took %s, want at least %s with %d in flight", len(ts), took, least, p)
			}
		})
	}
}
