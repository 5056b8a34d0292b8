package status_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/view"
)

func TestSummaryAndRows(t *testing.T) {
	f := launchertest.Load(t, t.TempDir(), launchertest.Spec{EventTypes: 300, PerProject: 24, Version: "v1.4.2"})
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var jobs []dataflow.Job
	for i, d := range f.Jobs() {
		j := dataflow.Job{ID: "j" + d.EventType, Name: d.Name, Project: d.Project, Region: d.Region,
			State: dataflow.StateRunning, StateTime: since, CreateTime: since, Labels: map[string]string{}}
		for k, v := range d.Labels {
			j.Labels[k] = v
		}
		switch i {
		case 7:
			j.Labels[fleet.LabelPipelineVersion] = "v1-4-1"
		case 8:
			j.State, j.Labels = dataflow.StateFailed, nil
		}
		jobs = append(jobs, j)
	}
	r := status.Build(f, &plan.Observed{Jobs: jobs})
	if got, want := r.Summary(), "300 jobs: 298 running v1.4.2, 1 drifted (v1-4-1), 1 failed"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if r.Converged() {
		t.Error("converged with a drifted and a failed job")
	}
	row := r.Rows[7]
	if row.Version != "v1-4-1" || row.MatchesPinned || row.Category != status.Drifted || !row.Since.Equal(since) {
		t.Errorf("drifted row %+v", row)
	}
	if r.Rows[0].Version != "v1.4.2" || !r.Rows[0].MatchesPinned {
		t.Errorf("running row %+v", r.Rows[0])
	}
	var buf bytes.Buffer
	if err := view.Status(&buf, view.Table, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), "type-007 events-test-type-007 RUNNING v1-4-1 NO 2026-03-01 12:00:00") {
		t.Errorf("table:\n%s", buf.String())
	}
}
