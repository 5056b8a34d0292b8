package plan_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
)

// During an in-place update two jobs of a name are active. The plan judges the newest
// (the replacement) whichever order the listing gives, shows the update in progress and
// never plans a second update.
func TestUpdateInProgressIsJudgedByTheNewestJob(t *testing.T) {
	dir := t.TempDir()
	v1 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1})
	v2 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1, Version: "v2.0.0"})
	v3 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1, Version: "v3.0.0"})
	old := running(v1.Jobs()[0], "old", dataflow.StateRunning)
	nw := running(v2.Jobs()[0], "new", dataflow.StatePending)
	nw.Replaces = "old"
	for name, jobs := range map[string][]dataflow.Job{"newest listed first": {nw, old}, "newest listed last": {old, nw}} {
		t.Run(name, func(t *testing.T) {
			obs := &plan.Observed{Jobs: jobs}
			p := plan.Compute(v2, obs, plan.Options{})
			it := p.Items[0]
			if it.Action != plan.Unchanged || it.Current.ID != "new" || it.Replacing == nil || it.Replacing.ID != "old" ||
				!strings.Contains(it.Reason, "update in progress: job new (PENDING) takes over from old") {
				t.Errorf("to v2: %s %q (current %v, replacing %v)", it.Action, it.Reason, it.Current, it.Replacing)
			}
			if !p.HasChanges() || !strings.Contains(p.Summary(), "1 updates in progress") {
				t.Errorf("summary %q, changes %v", p.Summary(), p.HasChanges())
			}
			// A newer version while the update runs: blocked until the replacement runs.
			p = plan.Compute(v3, obs, plan.Options{})
			if it := p.Items[0]; it.Action != plan.Blocked || it.Blocks != plan.Update || !strings.Contains(it.Reason, "update in progress") ||
				!strings.Contains(it.Reason, "only a running job can be updated") {
				t.Errorf("to v3: %s (%s) %q", it.Action, it.Blocks, it.Reason)
			}
			row := status.Build(v2, obs).Rows[0]
			if row.Category != status.Starting || row.JobID != "new" || row.Detail != "update in progress: replaces old (RUNNING)" {
				t.Errorf("status row %+v", row)
			}
		})
	}
}

// launchAs launches d's job on the fake the way deploy does (its labels), as an update
// when update is set.
func launchAs(t *testing.T, c dataflow.API, d fleet.Job, update bool) dataflow.Job {
	t.Helper()
	j, err := c.Launch(context.Background(), dataflow.LaunchRequest{Project: d.Project, Region: d.Region, JobName: d.Name,
		Template: d.Template, Parameters: d.Parameters, Labels: d.Labels, Update: update})
	if err != nil {
		t.Fatalf("launch %s: %v", d.Name, err)
	}
	return j
}

// Against the fake: the handover as Dataflow lists it, then an incompatible update seen
// from its failed replacement job, blocked or replaced as AllowReplace says.
func TestFailedUpdateIsRecognised(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	srv, c := launchertest.Dataflow(t, fakedataflow.WithClock(clock), fakedataflow.WithStartDelay(time.Minute))
	dir := t.TempDir()
	v1 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 2})
	v2 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 2, Version: "v2.0.0"})
	for _, d := range v1.Jobs() {
		launchAs(t, c, d, false)
	}
	now = now.Add(time.Minute)
	srv.SetIncompatibleUpdate(v2.Jobs()[0].Template, true)
	upd := launchAs(t, c, v2.Jobs()[0], true)

	obs, err := plan.Observe(ctx, c, v2, 4)
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Compute(v2, obs, plan.Options{})
	if it := p.Items[0]; it.Action != plan.Unchanged || it.Current.ID != upd.ID || it.Replacing == nil {
		t.Fatalf("during the handover: %s %q", it.Action, it.Reason)
	}
	if it := p.Items[1]; it.Action != plan.Update {
		t.Errorf("the other type: %s %q", it.Action, it.Reason)
	}

	now = now.Add(time.Minute) // the replacement fails its compatibility check
	obs, err = plan.Observe(ctx, c, v2, 4)
	if err != nil {
		t.Fatal(err)
	}
	p = plan.Compute(v2, obs, plan.Options{})
	it := p.Items[0]
	if it.Action != plan.Blocked || it.Blocks != plan.Update || it.FailedUpdate == nil || it.FailedUpdate.ID != upd.ID ||
		!strings.Contains(it.Reason, "the update is not compatible (job "+upd.ID+" FAILED: Workflow failed. Causes: The new job is not compatible") ||
		!strings.Contains(it.Reason, "deploy --allow-replace drains and replaces it") {
		t.Errorf("without AllowReplace: %s (%s) %q", it.Action, it.Blocks, it.Reason)
	}
	if it.Current.State != dataflow.StateRunning || it.Current.Labels[fleet.LabelPipelineVersion] != "v1-0-0" {
		t.Errorf("judged by %+v, want the old job running v1", it.Current)
	}
	p = plan.Compute(v2, obs, plan.Options{AllowReplace: true})
	if it := p.Items[0]; it.Action != plan.Replace || it.Action.Symbol() != "-/+" || !strings.Contains(it.Reason, "drain "+it.Current.ID+" and launch anew") {
		t.Errorf("with AllowReplace: %s %q", it.Action, it.Reason)
	}
	if s := p.Summary(); s != "Plan: 0 to create, 1 to update, 0 to recreate, 1 to replace, 0 blocked." {
		t.Errorf("summary %q", s)
	}
	// Another version is tried as an update again.
	v3 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 2, Version: "v3.0.0"})
	if it := plan.Compute(v3, obs, plan.Options{}).Items[0]; it.Action != plan.Update || it.FailedUpdate != nil {
		t.Errorf("to v3: %s %q", it.Action, it.Reason)
	}
	// status tells it.
	row := status.Build(v2, obs).Rows[0]
	if row.Category != status.Drifted || !strings.Contains(row.Detail, "update to v2.0.0 FAILED ("+upd.ID+")") {
		t.Errorf("status row %+v", row)
	}
	// Only one update was ever launched.
	var updates []string
	for _, j := range srv.Jobs() {
		if j.Job.ReplaceJobId != "" {
			updates = append(updates, j.Job.Name)
		}
	}
	if !slices.Equal(updates, []string{v2.Jobs()[0].Name}) {
		t.Errorf("updates launched: %v", updates)
	}
}

// A deploy during an update in progress launches nothing: it waits until the new job has
// taken over.
func TestDeployWaitsForAnUpdateInProgress(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { // every call to the fake takes a second
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	srv, c := launchertest.Dataflow(t, fakedataflow.WithClock(clock), fakedataflow.WithStartDelay(time.Minute))
	dir := t.TempDir()
	v1 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1})
	v2 := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1, Version: "v2.0.0"})
	old := launchAs(t, c, v1.Jobs()[0], false)
	for { // each read advances the clock by a second
		j, err := c.Get(ctx, "proj-000", "europe-west1", old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == dataflow.StateRunning {
			break
		}
	}
	upd := launchAs(t, c, v2.Jobs()[0], true)

	obs, err := plan.Observe(ctx, c, v2, 4)
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Compute(v2, obs, plan.Options{})
	res, err := deploy.Apply(ctx, c, p, deploy.Options{Wait: true, PollInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if it := res.Items[0]; it.Action != plan.Unchanged || it.Status != deploy.Running || it.JobID != upd.ID {
		t.Errorf("deploy during the update: %+v", it)
	}
	if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 2 {
		t.Errorf("%d launches, want 2 (the job and its one update)", n)
	}
	if j, _ := c.Get(ctx, "proj-000", "europe-west1", old.ID); j.State != dataflow.StateUpdated || j.ReplacedBy != upd.ID {
		t.Errorf("old job %s replaced by %q", j.State, j.ReplacedBy)
	}
}
