package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/deploy/deploytest"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"google.golang.org/grpc/codes"
)

// harness is a fake Dataflow, Google's clients on it, a generated fleet and the one clock
// that the fake's job transitions and the deploy's waits follow.
type harness struct {
	t      *testing.T
	clock  *deploytest.Clock
	srv    *fakedataflow.Server
	client *dataflow.Client
	api    dataflow.API
	dir    string
	spec   launchertest.Spec
	fleet  *fleet.Fleet
}

func newHarness(t *testing.T, spec launchertest.Spec, opts ...fakedataflow.Option) *harness {
	t.Helper()
	clock := deploytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	srv, c := launchertest.Dataflow(t, append([]fakedataflow.Option{fakedataflow.WithClock(clock.Now), fakedataflow.WithStartDelay(20 * time.Second)}, opts...)...)
	h := &harness{t: t, clock: clock, srv: srv, client: c, dir: t.TempDir()}
	h.api = dataflow.WithRetry(c, fastRetry)
	h.write(spec)
	return h
}

var fastRetry = dataflow.RetryPolicy{Attempts: 10, Initial: time.Millisecond, Max: 10 * time.Millisecond}

func (h *harness) write(spec launchertest.Spec) {
	h.t.Helper()
	h.spec, h.fleet = spec, launchertest.Load(h.t, h.dir, spec)
}

func (h *harness) plan(opts plan.Options) *plan.Plan {
	h.t.Helper()
	obs, err := plan.Observe(context.Background(), h.api, h.fleet, 16)
	if err != nil {
		// Errorf, not Fatal: plan is called from the steps (t.Run) too.
		h.t.Errorf("observe: %v", err)
		return &plan.Plan{}
	}
	return plan.Compute(h.fleet, obs, opts)
}

// options waits on the harness's clock: jobs start 20s after their launch, polls are 5s
// apart, and the wait gives up after 15m.
func (h *harness) options() deploy.Options {
	return deploy.Options{
		Parallelism:  32,
		Retry:        fastRetry,
		Wait:         true,
		WaitTimeout:  15 * time.Minute,
		PollInterval: 5 * time.Second,
		RunID:        "r-test",
		Clock:        h.clock,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

func (h *harness) deploy(ctx context.Context, api dataflow.API, o deploy.Options, po plan.Options) (*plan.Plan, *deploy.Result, error) {
	h.t.Helper()
	p := h.plan(po)
	res, err := deploy.Apply(ctx, api, p, o)
	return p, res, err
}

// deployAll deploys the whole plan with the harness's options and fails the test unless
// everything succeeded; what names the deploy in the failure.
func (h *harness) deployAll(ctx context.Context, what string) *deploy.Result {
	h.t.Helper()
	_, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{})
	if err != nil || !res.OK() {
		h.t.Fatalf("%s: %v %s", what, err, res.Summary())
	}
	return res
}

// jobIDs returns the job id of each event type of res.
func jobIDs(res *deploy.Result) map[string]string {
	ids := map[string]string{}
	for _, it := range res.Items {
		ids[it.EventType] = it.JobID
	}
	return ids
}

// checkFleetRuns checks that every event type has exactly one active job, RUNNING, with
// the fleet's labels, and that no name ever had two jobs launched for one version.
func (h *harness) checkFleetRuns(t *testing.T, version string) {
	t.Helper()
	active := map[string]int{}
	launchedPerVersion := map[string]int{}
	for _, s := range h.srv.Jobs() {
		j := s.Job
		launchedPerVersion[j.Name+"@"+j.Labels[fleet.LabelPipelineVersion]]++
		if j.CurrentState.String() == "JOB_STATE_UPDATED" || j.CurrentState.String() == "JOB_STATE_CANCELLED" ||
			j.CurrentState.String() == "JOB_STATE_DRAINED" || j.CurrentState.String() == "JOB_STATE_FAILED" {
			continue
		}
		active[j.Name]++
		if j.CurrentState.String() != "JOB_STATE_RUNNING" {
			t.Errorf("job %s is %s", j.Name, j.CurrentState)
		}
		if j.Labels[fleet.LabelPipelineVersion] != fleet.LabelSafe(version) || j.Labels[fleet.LabelManagedBy] != "eventdelivery" {
			t.Errorf("job %s labels %v", j.Name, j.Labels)
		}
		if s.Parameters[fleet.ParamRunID] == "" || s.Parameters[fleet.ParamSchemaJSON] == "" {
			t.Errorf("job %s parameters %v", j.Name, s.Parameters)
		}
	}
	for _, d := range h.fleet.Jobs() {
		if active[d.Name] != 1 {
			t.Errorf("%s has %d active jobs, want 1", d.Name, active[d.Name])
		}
	}
	if len(active) != len(h.fleet.EventTypes) {
		t.Errorf("%d active names, want %d", len(active), len(h.fleet.EventTypes))
	}
	for k, n := range launchedPerVersion {
		if n > 1 {
			t.Errorf("%s launched %d times", k, n)
		}
	}
}

func TestDeploy300UpdateAndNoop(t *testing.T) {
	// 300 event types over 13 projects of at most 24, within Dataflow's default quota of 25.
	spec := launchertest.Spec{EventTypes: 300, PerProject: 24, MaxActive: 25, Version: "v1.0.0"}
	h := newHarness(t, spec, fakedataflow.WithMaxActiveJobsPerProject(25))
	ctx := context.Background()

	t.Run("first deploy creates 300", func(t *testing.T) {
		p, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := p.Counts(); c.Create != 300 || p.Summary() != "Plan: 300 to create, 0 to update, 0 to recreate, 0 blocked." {
			t.Fatalf("first plan: %+v %q", c, p.Summary())
		}
		if !res.OK() || res.Counts().Running != 300 || res.Counts().Created != 300 {
			t.Fatalf("first deploy: %s", res.Summary())
		}
		if n := h.srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 300 {
			t.Errorf("%d launches, want 300", n)
		}
		h.checkFleetRuns(t, "v1.0.0")
	})

	t.Run("deploying again launches nothing", func(t *testing.T) {
		p, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p.HasChanges() || p.Summary() != "No changes." || res.Counts().Unchanged != 300 {
			t.Errorf("second deploy: plan %q, %s", p.Summary(), res.Summary())
		}
		if n := h.srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 300 {
			t.Errorf("second deploy launched: %d launches in all, want 300", n)
		}
		rep := status.Build(h.fleet, mustObserve(t, h))
		if !rep.Converged() || rep.Summary() != "300 jobs: 300 running v1.0.0" {
			t.Errorf("status: %q", rep.Summary())
		}
	})

	t.Run("a version bump updates all 300 in place", func(t *testing.T) {
		spec.Version = "v1.1.0"
		h.write(spec)
		rep := status.Build(h.fleet, mustObserve(t, h))
		if rep.Converged() || rep.Summary() != "300 jobs: 0 running v1.1.0, 300 drifted (v1-0-0)" {
			t.Errorf("status after bump: %q", rep.Summary())
		}
		p, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := p.Counts(); c.Update != 300 || p.Summary() != "Plan: 0 to create, 300 to update, 0 to recreate, 0 blocked." {
			t.Fatalf("bump plan: %q", p.Summary())
		}
		if p.Items[0].Reason != "version v1-0-0 → v1.1.0" {
			t.Errorf("reason %q", p.Items[0].Reason)
		}
		if !res.OK() || res.Counts().Updated != 300 || res.Counts().Running != 300 {
			t.Fatalf("bump deploy: %s", res.Summary())
		}
		h.checkFleetRuns(t, "v1.1.0")
		if n := len(h.srv.Jobs()); n != 600 {
			t.Errorf("%d jobs, want 600 (300 updated away, 300 running)", n)
		}
		rep = status.Build(h.fleet, mustObserve(t, h))
		if !rep.Converged() || rep.Summary() != "300 jobs: 300 running v1.1.0" {
			t.Errorf("status after update: %q", rep.Summary())
		}
	})
}

func mustObserve(t *testing.T, h *harness) *plan.Observed {
	t.Helper()
	obs, err := plan.Observe(context.Background(), h.api, h.fleet, 16)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func TestDeployWithTransientFaults(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 300, PerProject: 24, MaxActive: 25}
	h := newHarness(t, spec, fakedataflow.WithSeed(42),
		// 10% of launches fail without effect, 5% more fail although the job was created.
		fakedataflow.WithFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.Unavailable, Probability: 0.10}),
		fakedataflow.WithFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.DeadlineExceeded, Probability: 0.05, AfterEffect: true}),
		fakedataflow.WithFault(fakedataflow.MethodListJobs, fakedataflow.Fault{Code: codes.Unavailable, Probability: 0.10}),
		fakedataflow.WithFault(fakedataflow.MethodGetJob, fakedataflow.Fault{Code: codes.Unavailable, Probability: 0.10}),
	)
	_, res, err := h.deploy(context.Background(), h.api, h.options(), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Counts().Running != 300 {
		t.Fatalf("deploy: %s", res.Summary())
	}
	recognised, retried := 0, 0
	for _, it := range res.Items {
		if it.Recognised {
			recognised++
		}
		if it.Attempts > 1 {
			retried++
		}
	}
	fired := h.srv.FaultsFired(fakedataflow.MethodLaunchFlexTemplate)
	t.Logf("launch faults %d, retried %d, recognised %d, launch calls %d", fired, retried, recognised,
		h.srv.Calls(fakedataflow.MethodLaunchFlexTemplate))
	if fired < 20 || recognised == 0 || retried == 0 {
		t.Errorf("faults %d, recognised %d, retried %d: the test did not exercise the faults", fired, recognised, retried)
	}
	h.checkFleetRuns(t, "v1.0.0")
	if n := len(h.srv.Jobs()); n != 300 {
		t.Errorf("%d jobs launched, want exactly 300", n)
	}
}

// cancelAfter wraps the real client and cancels the deploy's context after n launches.
type cancelAfter struct {
	dataflow.API
	n      int64
	count  atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Launch(ctx context.Context, r dataflow.LaunchRequest) (dataflow.Job, error) {
	if c.count.Add(1) == c.n {
		defer c.cancel()
	}
	return c.API.Launch(ctx, r)
}

func TestInterruptedDeployIsCompletedByTheNext(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 100, PerProject: 25, MaxActive: 25}
	h := newHarness(t, spec, fakedataflow.WithLatency(fakedataflow.MethodLaunchFlexTemplate, 2*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	interrupting := &cancelAfter{API: h.api, n: 50, cancel: cancel}
	o := h.options()
	o.Parallelism = 4
	_, res, err := h.deploy(ctx, interrupting, o, plan.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted deploy returned %v", err)
	}
	if res.OK() || res.Counts().Skipped == 0 {
		t.Fatalf("interrupted deploy: %s", res.Summary())
	}
	launched := len(h.srv.Jobs())
	if launched < 45 || launched > 55 {
		t.Fatalf("%d jobs launched before the interruption", launched)
	}

	p, res, err := h.deploy(context.Background(), h.api, h.options(), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A launch cancelled in flight may still create its job (the response is lost): the
	// resumed plan finds it, so it can count more unchanged jobs than were seen above.
	if c := p.Counts(); c.Create+c.Unchanged != 100 || c.Unchanged < launched {
		t.Errorf("resumed plan: %+v after %d launched", c, launched)
	}
	if !res.OK() || res.Counts().Running != 100 {
		t.Fatalf("resumed deploy: %s", res.Summary())
	}
	h.checkFleetRuns(t, "v1.0.0")
	if n := len(h.srv.Jobs()); n != 100 {
		t.Errorf("%d jobs, want 100", n)
	}
}

func TestBlockedByForeignJobAndQuota(t *testing.T) {
	// 8 event types in one project with room for 5 active jobs, one name taken by a job
	// someone else launched.
	spec := launchertest.Spec{EventTypes: 8, MaxActive: 5}
	h := newHarness(t, spec, fakedataflow.WithMaxActiveJobsPerProject(5))
	ctx := context.Background()
	foreign, err := h.client.Launch(ctx, dataflow.LaunchRequest{
		Project: "proj-000", Region: "europe-west1", JobName: fleet.JobName("events-test", launchertest.EventTypeName(3)),
		Template: "gs://someone/else.json", Labels: map[string]string{"team": "other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := h.plan(plan.Options{})
	c := p.Counts()
	// 1 active job; 4 of the 7 creates fit; type-003 is taken.
	if c.Create != 4 || c.Blocked != 4 {
		t.Fatalf("plan %+v: %s", c, p.Summary())
	}
	for _, it := range p.Items {
		switch {
		case it.EventType == launchertest.EventTypeName(3):
			if it.Action != plan.Blocked || it.Current == nil || it.Current.ID != foreign.ID {
				t.Errorf("foreign job not blocking: %+v", it)
			}
		case it.Action == plan.Blocked && it.Blocks != plan.Create:
			t.Errorf("quota-blocked item %s blocks %q", it.JobName, it.Blocks)
		}
	}
	if q := p.Quotas[0]; q.Active != 1 || q.After != 5 || q.Limit != 5 {
		t.Errorf("quota %+v", q)
	}

	before := h.srv.Calls(fakedataflow.MethodLaunchFlexTemplate)
	_, err = deploy.Apply(ctx, h.api, p, h.options())
	var berr *deploy.BlockedError
	if !errors.As(err, &berr) || len(berr.Items) != 4 {
		t.Fatalf("deploy with blocked items: %v", err)
	}
	if n := h.srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != before {
		t.Errorf("a blocked deploy launched %d jobs", n-before)
	}

	o := h.options()
	o.SkipBlocked = true
	res, err := deploy.Apply(ctx, h.api, p, o)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Counts(); c.Created != 4 || c.Skipped != 4 || c.Running != 4 || res.OK() {
		t.Errorf("skip-blocked deploy: %s", res.Summary())
	}
	got, err := h.client.Get(ctx, "proj-000", "europe-west1", foreign.ID)
	if err != nil || got.State != dataflow.StateRunning || got.Labels["team"] != "other" {
		t.Errorf("the foreign job was touched: %+v %v", got, err)
	}
}

func TestRecreateFailedPruneOrphanAndTimeout(t *testing.T) {
	spec := launchertest.Spec{EventTypes: 5}
	h := newHarness(t, spec, fakedataflow.WithDrainDelay(time.Hour))
	ctx := context.Background()
	ids := jobIDs(h.deployAll(ctx, "deploy"))
	if err := h.srv.FailJob(ids[launchertest.EventTypeName(1)]); err != nil {
		t.Fatal(err)
	}
	spec.EventTypes = 4 // type-004 leaves the file
	h.write(spec)

	t.Run("plan recreates the failed job and leaves the orphan", func(t *testing.T) {
		p := h.plan(plan.Options{})
		if c := p.Counts(); c.Recreate != 1 || c.Orphans != 1 || c.Drain != 0 || c.Unchanged != 3 {
			t.Errorf("plan %+v", c)
		}
		if s := p.Summary(); s != "Plan: 0 to create, 0 to update, 1 to recreate, 0 blocked. 1 orphaned jobs left alone (deploy --prune drains them)." {
			t.Errorf("summary %q", s)
		}
		rep := status.Build(h.fleet, mustObserve(t, h))
		if rep.Summary() != "4 jobs: 3 running v1.0.0, 1 failed; 1 orphaned" || rep.Converged() {
			t.Errorf("status %q", rep.Summary())
		}
	})

	t.Run("prune deploy recreates and drains", func(t *testing.T) {
		_, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Counts(); c.Recreated != 1 || c.Drained != 1 || !res.OK() {
			t.Errorf("prune deploy: %s", res.Summary())
		}
		orphan, _ := h.client.Get(ctx, "proj-000", "europe-west1", ids[launchertest.EventTypeName(4)])
		if orphan.State != dataflow.StateDraining {
			t.Errorf("orphan is %s, want DRAINING", orphan.State)
		}
		if p := h.plan(plan.Options{Prune: true}); p.HasChanges() {
			t.Errorf("after prune: %s", p.Summary())
		}
	})

	// type-004 returns while its old job drains: blocked. type-005 does not start in
	// time: the deploy fails, after exactly the wait timeout on the clock.
	t.Run("blocked item skipped and a job that does not start in time", func(t *testing.T) {
		h.srv.SetStartDelay(time.Hour)
		spec.EventTypes = 6
		h.write(spec)
		o := h.options()
		o.WaitTimeout = 10 * time.Minute
		o.SkipBlocked = true
		_, res, err := h.deploy(ctx, h.api, o, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Counts(); c.TimedOut != 1 || c.Created != 1 || c.Skipped != 1 || res.OK() {
			t.Errorf("timeout deploy: %s", res.Summary())
		}
		if res.Elapsed != 10*time.Minute {
			t.Errorf("elapsed %s on the clock, want the wait timeout, 10m", res.Elapsed)
		}
		for _, it := range res.Items {
			if it.Status == deploy.TimedOut && (it.EventType != launchertest.EventTypeName(5) || !it.State.Active() ||
				!strings.HasPrefix(it.Error, "still ") || !strings.HasSuffix(it.Error, " after 10m0s")) {
				t.Errorf("timed-out item %+v", it)
			}
		}
	})
}

func TestLowerBound(t *testing.T) {
	for _, tc := range []struct {
		n, p  int
		lat   time.Duration
		rate  float64
		burst int
		want  time.Duration
	}{
		{300, 32, time.Second, 0, 0, 10 * time.Second},    // ceil(300/32) = 10 rounds
		{300, 100, time.Second, 20, 20, 15 * time.Second}, // (300-20)/20 + 1 = 15s
		{300, 16, time.Second, 100, 10, 19 * time.Second}, // 19 rounds
		{0, 16, time.Second, 1, 1, 0},
	} {
		if got := deploy.LowerBound(tc.n, tc.p, tc.lat, tc.rate, tc.burst); got != tc.want {
			t.Errorf("LowerBound(%d, %d, %s, %g, %d) = %s, want %s", tc.n, tc.p, tc.lat, tc.rate, tc.burst, got, tc.want)
		}
	}
	_ = fmt.Sprint()
}

// incompatibleUpgrade deploys n event types at v1.0.0, whose jobs take drain to drain,
// then pins v2.0.0, an update Dataflow finds incompatible. It returns the v1 job ids by
// event type.
func incompatibleUpgrade(t *testing.T, n int, drain time.Duration) (*harness, map[string]string) {
	t.Helper()
	spec := launchertest.Spec{EventTypes: n, Version: "v1.0.0"}
	h := newHarness(t, spec, fakedataflow.WithDrainDelay(drain))
	old := jobIDs(h.deployAll(context.Background(), "first deploy"))
	spec.Version = "v2.0.0"
	h.write(spec)
	h.srv.SetIncompatibleUpdate("gs://bucket/eventdelivery/v2.0.0/spec.json", true)
	return h, old
}

// TestIncompatibleUpdateIsFlaggedAndReplaced: an update Dataflow finds not compatible
// fails and is flagged Incompatible, the old job running on; a replace item (plan with
// AllowReplace) drains the old job, waits until it has stopped, and launches anew.
func TestIncompatibleUpdateIsFlaggedAndReplaced(t *testing.T) {
	h, old := incompatibleUpgrade(t, 3, time.Minute)
	ctx := context.Background()

	t.Run("the update fails, flagged incompatible", func(t *testing.T) {
		_, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Counts(); c.Failed != 3 || res.OK() {
			t.Errorf("deploy: %s", res.Summary())
		}
		for _, it := range res.Items {
			if it.Status != deploy.Failed || !it.Incompatible || !strings.Contains(it.Error, "(job "+old[it.EventType]+" runs on; deploy --allow-replace drains and replaces it)") {
				t.Errorf("item %+v", it)
			}
		}
		for et, id := range old {
			if j, err := h.client.Get(ctx, "proj-000", "europe-west1", id); err != nil || j.State != dataflow.StateRunning {
				t.Errorf("%s: old job %s is %s (%v), want RUNNING", et, id, j.State, err)
			}
		}
	})
	t.Run("a replace drains the old job and launches anew", func(t *testing.T) {
		p, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{AllowReplace: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := p.Counts(); c.Replace != 3 {
			t.Fatalf("plan %+v", c)
		}
		for _, it := range res.Items {
			if it.Status != deploy.Running || it.Action != plan.Replace || it.JobID == old[it.EventType] {
				t.Errorf("item %+v", it)
			}
			prev, err := h.client.Get(ctx, "proj-000", "europe-west1", old[it.EventType])
			if err != nil || prev.State != dataflow.StateDrained {
				t.Errorf("%s: old job is %s (%v), want DRAINED", it.JobName, prev.State, err)
			}
		}
		// Each name's update was launched twice (the incompatible one, then the replace):
		// what counts is one active job of each, RUNNING v2.
		if rep := status.Build(h.fleet, mustObserve(t, h)); !rep.Converged() || rep.Summary() != "3 jobs: 3 running v2.0.0" {
			t.Errorf("status after replace: %q", rep.Summary())
		}
	})
}

// TestReplaceGivesUpOnASlowDrain: a replace waits for the old job's drain as every wait
// polls, on the clock, for at most DrainTimeout; then the item fails, nothing is launched,
// and the old job drains on. (A replace follows an update found incompatible.)
func TestReplaceGivesUpOnASlowDrain(t *testing.T) {
	h, old := incompatibleUpgrade(t, 1, time.Hour)
	ctx := context.Background()
	if _, res, err := h.deploy(ctx, h.api, h.options(), plan.Options{}); err != nil || !res.Items[0].Incompatible {
		t.Fatalf("update: %v %+v", err, res)
	}
	o := h.options()
	o.DrainTimeout = 10 * time.Minute
	start := h.clock.Now()
	_, res, err := h.deploy(ctx, h.api, o, plan.Options{AllowReplace: true})
	if err != nil {
		t.Fatal(err)
	}
	it := res.Items[0]
	id := old[it.EventType]
	if it.Status != deploy.Failed || it.Error != "drain "+id+": still DRAINING after 10m0s" {
		t.Errorf("item %+v", it)
	}
	if waited := h.clock.Now().Sub(start); waited < 10*time.Minute || waited > 11*time.Minute {
		t.Errorf("waited %s on the clock, want the drain timeout, 10m", waited)
	}
	if j, err := h.client.Get(ctx, "proj-000", "europe-west1", id); err != nil || j.State != dataflow.StateDraining {
		t.Errorf("old job is %s (%v), want DRAINING", j.State, err)
	}
}
