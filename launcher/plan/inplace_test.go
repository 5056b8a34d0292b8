package plan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// loadWith writes a generated fleet with every old replaced by its new in the file.
func loadWith(t *testing.T, s launchertest.Spec, oldNew ...string) *fleet.Fleet {
	t.Helper()
	dir := t.TempDir()
	path := launchertest.File(t, dir, s)
	text := strings.NewReplacer(oldNew...).Replace(launchertest.ReadFile(t, path))
	if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return launchertest.LoadFile(t, path)
}

// A change of max_workers alone is planned as an in-place change and deploy makes it on
// the running job through UpdateJob: the same job id, no launch, the new bound on the
// job. A change of max_workers with a new version is one update, which launches with it.
func TestWorkerChangeInPlace(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv, c := launchertest.Dataflow(t, fakedataflow.WithClock(func() time.Time { return now }))
	spec := launchertest.Spec{EventTypes: 2}
	v1 := loadWith(t, spec)
	deployed := func(f *fleet.Fleet) (*plan.Plan, *deploy.Result) {
		t.Helper()
		obs, err := plan.Observe(ctx, c, f, 4)
		if err != nil {
			t.Fatal(err)
		}
		p := plan.Compute(f, obs, plan.Options{})
		res, err := deploy.Apply(ctx, c, p, deploy.Options{Wait: true, PollInterval: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		return p, res
	}
	deployed(v1)
	before := srv.Jobs()

	wider := loadWith(t, spec, "max_workers: 10", "max_workers: 25")
	if wider.Jobs()[0].ConfigHash != v1.Jobs()[0].ConfigHash {
		t.Fatal("max_workers changed the config hash")
	}
	p, res := deployed(wider)
	for i, it := range p.Items {
		if it.Action != plan.InPlace || it.Action.Symbol() != "~" || it.Reason != "max_workers 10 → 25 (in place, on the running job)" {
			t.Errorf("plan item %d: %s %q, want in-place max_workers 10 → 25", i, it.Action, it.Reason)
		}
	}
	if s := p.Summary(); s != "Plan: 0 to create, 0 to update, 0 to recreate, 2 to change in place, 0 blocked." {
		t.Errorf("summary %q", s)
	}
	ids := map[string]string{}
	for _, j := range before {
		ids[j.Job.Name] = j.Job.Id
	}
	for _, r := range res.Items {
		if r.Status != deploy.Running || r.JobID != ids[r.JobName] {
			t.Errorf("deploy %s: %s job %s, want RUNNING job %s", r.JobName, r.Status, r.JobID, ids[r.JobName])
		}
	}
	if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 2 {
		t.Errorf("%d launches, want 2 (the first deploy's; none for the change)", n)
	}
	after := srv.Jobs()
	if len(after) != 2 {
		t.Fatalf("%d jobs, want 2", len(after))
	}
	for _, j := range after {
		if got := j.Job.GetRuntimeUpdatableParams().GetMaxNumWorkers(); got != 25 || j.Job.CurrentState.String() != "JOB_STATE_RUNNING" {
			t.Errorf("job %s: max_num_workers %d %s, want 25 RUNNING", j.Job.Id, got, j.Job.CurrentState)
		}
	}
	// Done: the next plan has no changes.
	obs, err := plan.Observe(ctx, c, wider, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan.Compute(wider, obs, plan.Options{}); p.HasChanges() {
		t.Errorf("after the change: %s", p.Summary())
	}

	// With a new version the worker change rides on the update.
	v2 := loadWith(t, launchertest.Spec{EventTypes: 2, Version: "v2.0.0"}, "max_workers: 10", "max_workers: 30")
	p, _ = deployed(v2)
	if it := p.Items[0]; it.Action != plan.Update {
		t.Errorf("version and workers: %s %q, want update", it.Action, it.Reason)
	}
	for _, j := range srv.Jobs() {
		if j.Job.ReplaceJobId != "" && j.Environment.GetMaxWorkers() != 30 {
			t.Errorf("update %s launched with max_workers %d, want 30", j.Job.Id, j.Environment.GetMaxWorkers())
		}
	}
}

// The in-place decision: only for a running Streaming Engine job; a starting one is
// blocked until it runs, one without Streaming Engine is updated instead.
func TestWorkerChangeDecision(t *testing.T) {
	v1 := loadWith(t, launchertest.Spec{EventTypes: 1})
	wider := loadWith(t, launchertest.Spec{EventTypes: 1}, "max_workers: 10", "max_workers: 25")
	for _, tc := range []struct {
		name   string
		state  dataflow.State
		se     bool
		max    int
		action plan.Action
		reason string
	}{
		{"running streaming engine", dataflow.StateRunning, true, 10, plan.InPlace, "max_workers 10 → 25 (in place, on the running job)"},
		{"starting", dataflow.StatePending, true, 10, plan.Blocked, "only a running job can be updated"},
		{"no streaming engine", dataflow.StateRunning, false, 10, plan.Update, "not a Streaming Engine job: by an update"},
		{"bound unknown", dataflow.StateRunning, true, 0, plan.Unchanged, "running v1.0.0"},
		{"same bound", dataflow.StateRunning, true, 25, plan.Unchanged, "running v1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := running(v1.Jobs()[0], "j1", tc.state)
			j.StreamingEngine, j.Workers.Max = tc.se, tc.max
			it := plan.Compute(wider, &plan.Observed{Jobs: []dataflow.Job{j}}, plan.Options{}).Items[0]
			if it.Action != tc.action || !strings.Contains(it.Reason, tc.reason) {
				t.Errorf("%s %q, want %s with %q", it.Action, it.Reason, tc.action, tc.reason)
			}
		})
	}
}

// A job launched by a launcher that still hashed max_workers carries that hash: it runs the
// same configuration (upgrading the launcher updates no job); a worker change of it is an
// update, which relabels it, since its label holds its max_workers.
func TestLegacyConfigHash(t *testing.T) {
	v1 := loadWith(t, launchertest.Spec{EventTypes: 1})
	wider := loadWith(t, launchertest.Spec{EventTypes: 1}, "max_workers: 10", "max_workers: 25")
	old := func() dataflow.Job {
		j := running(v1.Jobs()[0], "j1", dataflow.StateRunning)
		j.StreamingEngine, j.Workers.Max = true, 10
		j.Labels[fleet.LabelConfigHash] = v1.Jobs()[0].LegacyConfigHash(10)
		return j
	}
	if it := plan.Compute(v1, &plan.Observed{Jobs: []dataflow.Job{old()}}, plan.Options{}).Items[0]; it.Action != plan.Unchanged {
		t.Errorf("same fleet: %s %q, want unchanged", it.Action, it.Reason)
	}
	it := plan.Compute(wider, &plan.Observed{Jobs: []dataflow.Job{old()}}, plan.Options{}).Items[0]
	if it.Action != plan.Update || !strings.Contains(it.Reason, "launched by an earlier launcher") {
		t.Errorf("wider: %s %q, want an update by an earlier launcher's job", it.Action, it.Reason)
	}
	other := old()
	other.Labels[fleet.LabelConfigHash] = v1.Jobs()[0].LegacyConfigHash(11)
	if it := plan.Compute(v1, &plan.Observed{Jobs: []dataflow.Job{other}}, plan.Options{}).Items[0]; it.Action != plan.Update {
		t.Errorf("a legacy hash of other bounds: %s %q, want an update", it.Action, it.Reason)
	}
}
