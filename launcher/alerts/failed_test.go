package alerts_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A job that fails before it ever runs writes no Dataflow metric, so job-down cannot see
// it; the launcher's own metric can: status reports it failed, --publish-metrics writes
// it, and the fleet's drift policy has a condition on it that is violated.
func TestFailedLaunchAlertsThroughTheLaunchersMetric(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	msrv, mon := launchertest.Monitoring(t, fakemonitoring.WithClock(func() time.Time { return now }))
	e := &env{srv: msrv, api: mon, dir: t.TempDir(), ch: msrv.AddNotificationChannel(monProject, "oncall@example.com")}
	f := e.fleetFile(t, 3, "")
	// Every job of the version fails before it runs; type-002 is never launched at all.
	_, df := launchertest.Dataflow(t, fakedataflow.WithStartFailure(f.Jobs()[0].Template, "Workflow failed. Causes: the image could not be pulled"))
	for _, d := range f.Jobs()[:2] {
		if _, err := df.Launch(ctx, dataflow.LaunchRequest{Project: d.Project, Region: d.Region, JobName: d.Name, Template: d.Template, Labels: d.Labels}); err != nil {
			t.Fatal(err)
		}
	}
	e.apply(t, f)

	obs, err := plan.Observe(ctx, df, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	rep := status.Build(f, obs)
	if err := rep.Publish(ctx, mon, monProject, now); err != nil {
		t.Fatal(err)
	}
	desired, _ := alerts.Desired(f)
	var cond *monitoringpb.AlertPolicy_Condition_MetricThreshold
	for _, p := range desired {
		for _, c := range p.Spec.GetConditions() {
			if c.GetDisplayName() == "jobs failed or missing (launcher status)" {
				cond = c.GetConditionThreshold()
			}
		}
	}
	if cond == nil {
		t.Fatal("no condition on failed or missing jobs")
	}
	series, err := mon.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/" + monProject, Filter: cond.GetFilter(), Aggregation: cond.GetAggregations()[0],
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(now.Add(-10 * time.Minute)), EndTime: timestamppb.New(now)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range series {
		got[s.GetMetric().GetLabels()["category"]] = s.GetPoints()[0].GetValue().GetInt64Value()
	}
	if got["failed"] != 2 || got["missing"] != 1 || got["failed"] <= int64(cond.GetThresholdValue()) {
		t.Errorf("failed or missing jobs as the condition sees them: %v, want failed 2 and missing 1 above %v (rows %+v)", got, cond.GetThresholdValue(), rep.Rows)
	}
}
