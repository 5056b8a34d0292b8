package plan_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/view"
)

func load(t *testing.T, spec launchertest.Spec) *fleet.Fleet {
	t.Helper()
	return launchertest.Load(t, t.TempDir(), spec)
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// running returns the job the launcher would have launched for d, in a state.
func running(d fleet.Job, id string, st dataflow.State) dataflow.Job {
	labels := map[string]string{}
	for k, v := range d.Labels {
		labels[k] = v
	}
	return dataflow.Job{ID: id, Name: d.Name, Project: d.Project, Region: d.Region, State: st, StateTime: t0, CreateTime: t0, Labels: labels}
}

func TestComputeJudgesEveryCase(t *testing.T) {
	f := load(t, launchertest.Spec{EventTypes: 9})
	d := f.Jobs()
	changed := running(d[1], "j1", dataflow.StateRunning)
	changed.Labels[fleet.LabelConfigHash] = "0123456789"
	oldVersion := running(d[2], "j2", dataflow.StateRunning)
	oldVersion.Labels[fleet.LabelPipelineVersion] = "v0-9-0"
	pendingOld := running(d[3], "j3", dataflow.StatePending)
	pendingOld.Labels[fleet.LabelPipelineVersion] = "v0-9-0"
	foreign := dataflow.Job{ID: "j4", Name: d[4].Name, Project: d[4].Project, Region: d[4].Region, State: dataflow.StateRunning, Labels: map[string]string{}}
	otherFleet := running(d[5], "j5", dataflow.StateRunning)
	otherFleet.Labels[fleet.LabelFleet] = "events-other"
	failed := dataflow.Job{ID: "j6", Name: d[6].Name, Project: d[6].Project, Region: d[6].Region, State: dataflow.StateFailed, StateTime: t0, CreateTime: t0}
	olderRunning := dataflow.Job{ID: "j6-old", Name: d[6].Name, Project: d[6].Project, Region: d[6].Region, State: dataflow.StateUpdated, CreateTime: t0.Add(-time.Hour)}
	draining := running(d[7], "j7", dataflow.StateDraining)
	orphan := running(d[0], "j9", dataflow.StateRunning)
	orphan.Name = "events-test-gone"
	orphan.Labels[fleet.LabelEventType] = "gone"
	obs := &plan.Observed{Jobs: []dataflow.Job{
		running(d[0], "j0", dataflow.StateRunning), changed, oldVersion, pendingOld, foreign, otherFleet, failed, olderRunning, draining, orphan,
	}}
	// d[8] has no job at all.
	p := plan.Compute(f, obs, plan.Options{})
	want := []struct {
		action plan.Action
		reason string
	}{
		{plan.Unchanged, "running v1.0.0"},
		{plan.Update, "config 0123456789 → " + d[1].ConfigHash},
		{plan.Update, "version v0-9-0 → v1.0.0"},
		{plan.Blocked, "only a running job can be updated"},
		{plan.Blocked, "not managed by eventdelivery"},
		{plan.Blocked, `belongs to fleet "events-other"`},
		{plan.Recreate, "last job j6 is FAILED"},
		{plan.Blocked, "is DRAINING"},
		{plan.Create, "no active job"},
	}
	for i, w := range want {
		it := p.Items[i]
		if it.Action != w.action || !strings.Contains(it.Reason, w.reason) {
			t.Errorf("%s: %s %q, want %s %q", it.EventType, it.Action, it.Reason, w.action, w.reason)
		}
	}
	if len(p.Orphans) != 1 || p.Orphans[0].Job.ID != "j9" || p.Orphans[0].Action != plan.Keep {
		t.Errorf("orphans %+v", p.Orphans)
	}
	if s := p.Summary(); s != "Plan: 1 to create, 2 to update, 1 to recreate, 4 blocked. 1 orphaned jobs left alone (deploy --prune drains them)." {
		t.Errorf("summary %q", s)
	}
	if p := plan.Compute(f, obs, plan.Options{Prune: true}); p.Orphans[0].Action != plan.Drain || p.Counts().Drain != 1 {
		t.Errorf("prune: %+v", p.Orphans)
	}

	var buf bytes.Buffer
	if err := view.Plan(&buf, view.Table, p); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, line := range []string{
		"  ~ events-test-type-001",
		"-/+ events-test-type-006",
		"  ! events-test-type-004",
		"  + events-test-type-008",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("table lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "type-000") {
		t.Errorf("table lists an unchanged job:\n%s", out)
	}
}

func TestQuotaBlocksOnlyWhatDoesNotFit(t *testing.T) {
	// 2 projects of 6 event types each with room for 4 active jobs; one project already
	// runs 2 jobs of someone else.
	f := load(t, launchertest.Spec{EventTypes: 12, PerProject: 6, MaxActive: 4})
	obs := &plan.Observed{Jobs: []dataflow.Job{
		{ID: "x1", Name: "other-a", Project: "proj-001", Region: "europe-west1", State: dataflow.StateRunning},
		{ID: "x2", Name: "other-b", Project: "proj-001", Region: "us-central1", State: dataflow.StateQueued},
		{ID: "x3", Name: "other-c", Project: "proj-001", Region: "europe-west1", State: dataflow.StateDone},
	}}
	p := plan.Compute(f, obs, plan.Options{})
	perProject := map[string]plan.Counts{}
	for _, it := range p.Items {
		c := perProject[it.Project]
		switch it.Action {
		case plan.Create:
			c.Create++
		case plan.Blocked:
			c.Blocked++
			if it.Blocks != plan.Create || !strings.Contains(it.Reason, "max_active_jobs_per_project is 4") {
				t.Errorf("%s: %q", it.JobName, it.Reason)
			}
		}
		perProject[it.Project] = c
	}
	if c := perProject["proj-000"]; c.Create != 4 || c.Blocked != 2 {
		t.Errorf("proj-000: %+v", c)
	}
	if c := perProject["proj-001"]; c.Create != 2 || c.Blocked != 4 {
		t.Errorf("proj-001: %+v", c)
	}
	if len(p.Quotas) != 2 || p.Quotas[1] != (plan.Quota{Project: "proj-001", Active: 2, After: 4, Limit: 4}) {
		t.Errorf("quotas %+v", p.Quotas)
	}
}
