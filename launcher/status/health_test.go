package status_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/output"
)

// TestHealthFromSeededMetricsAndManifests seeds Monitoring and the output bucket with one
// healthy job and one per way of being unhealthy, and checks every verdict, with the
// buckets in each folder layout the fleet's layout key names.
func TestHealthFromSeededMetricsAndManifests(t *testing.T) {
	for _, paths := range []output.Paths{output.DatePaths, output.HivePaths} {
		t.Run(string(paths), func(t *testing.T) { testHealth(t, paths) })
	}
}

func testHealth(t *testing.T, paths output.Paths) {
	gcsfake.Start(t, "bucket")
	ctx := context.Background()
	f := launchertest.Load(t, t.TempDir(), launchertest.Spec{EventTypes: 6, PerProject: 3,
		Extra: "  layout: " + string(paths) + "\n  alerts: {project: mon-project, system_lag: 10m, data_freshness: 30m, closed_hour_margin: 30m}\n"})
	now := time.Date(2026, 3, 1, 12, 20, 0, 0, time.UTC)
	since := now.Add(-24 * time.Hour)
	var jobs []dataflow.Job
	for _, d := range f.Jobs() {
		jobs = append(jobs, dataflow.Job{ID: "id-" + d.EventType, Name: d.Name, Project: d.Project, Region: d.Region,
			State: dataflow.StateRunning, StateTime: since, CreateTime: since, Labels: d.Labels})
	}
	r := status.Build(f, &plan.Observed{Jobs: jobs})

	srv, api := launchertest.Monitoring(t, fakemonitoring.WithMetricsScope("mon-project", "proj-000", "proj-001"))

	// Skew tolerance 30m: at 12:20 hour 11:00 is not due (it closes at 12:30); 10:00,
	// due at 11:30, is the newest hour that must be closed.
	lag := map[int]float64{0: 20, 1: 900, 2: 30, 3: 25, 4: 10} // type-005 reports nothing
	wm := map[int]float64{0: 60, 1: 60, 2: 3600, 3: 120, 4: 60}
	for i, d := range f.Jobs() {
		res := map[string]string{"project_id": d.Project, "job_name": d.Name, "region": d.Region}
		if v, ok := lag[i]; ok {
			// An old point of a previous run with the same name must not count.
			srv.AddPoints(alerts.MetricSystemLag, map[string]string{"job_id": "old"}, "dataflow_job", res, fakemonitoring.Point{Time: now.Add(-3 * time.Minute), Value: 99999})
			srv.AddPoints(alerts.MetricSystemLag, map[string]string{"job_id": "id-" + d.EventType}, "dataflow_job", res,
				fakemonitoring.Point{Time: now.Add(-4 * time.Minute), Value: 5}, fakemonitoring.Point{Time: now.Add(-time.Minute), Value: v})
			srv.AddPoints(alerts.MetricWatermarkAge, map[string]string{"job_id": "id-" + d.EventType}, "dataflow_job", res,
				fakemonitoring.Point{Time: now.Add(-time.Minute), Value: wm[i]})
		}
		st, err := objstore.Open(ctx, "gs://bucket/raw")
		if err != nil {
			t.Fatal(err)
		}
		target := output.Target{Root: "gs://bucket/raw", EventType: d.EventType, Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute, Paths: paths}}
		last := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) // closed on time
		if i == 3 {
			last = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) // 09:00 was due at 10:30: overdue 1h50m
		}
		m, _ := json.Marshal(output.Manifest{EventType: d.EventType, BucketStart: output.Format(last.UnixMilli())})
		if err := st.Write(ctx, target.ManifestPath(last.UnixMilli()), m); err != nil {
			t.Fatal(err)
		}
	}
	err := r.AddHealth(ctx, f, status.HealthOptions{
		Now: now, Metrics: api, Project: "mon-project",
		Manifests: func(ctx context.Context, root string) (status.ManifestChecker, error) {
			return objstore.Open(ctx, root)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"",
		"system lag 15m0s above 10m0s",
		"watermark age 1h0m0s above 30m0s",
		"bucket 2026-03-01T09:00:00Z not closed 1h50m0s after its close time (margin 30m0s)",
		"",
		"no system lag reported in the last 10m0s",
	}
	for i, row := range r.Rows {
		h := row.Health
		if h == nil {
			t.Fatalf("%s: no health", row.EventType)
		}
		if got := strings.Join(h.Problems, "; "); got != want[i] || h.Healthy != (want[i] == "") {
			t.Errorf("%s: problems %q healthy %v, want %q", row.EventType, got, h.Healthy, want[i])
		}
	}
	if r.Rows[0].Health.LastClosed != "2026-03-01T10:00:00Z" || *r.Rows[0].Health.SystemLag != 20 || r.Rows[0].Health.OverdueSeconds != 0 {
		t.Errorf("healthy row %+v", *r.Rows[0].Health)
	}
	if r.Healthy() || r.Unhealthy() != 4 || !strings.HasSuffix(r.Summary(), "; 4 unhealthy") {
		t.Errorf("healthy %v, unhealthy %d, summary %q", r.Healthy(), r.Unhealthy(), r.Summary())
	}

	// Publishing writes the version metrics the drift policy reads.
	if err := r.Publish(ctx, api, "mon-project", now); err != nil {
		t.Fatal(err)
	}
	off := srv.TimeSeries(monitoring.MetricJobsOffPinned)
	if len(off) != 1 || off[0].GetPoints()[0].GetValue().GetInt64Value() != 0 || off[0].GetMetric().GetLabels()["fleet"] != "events-test" {
		t.Errorf("jobs_off_pinned %v", off)
	}
	byVersion := srv.TimeSeries(monitoring.MetricJobs)
	if len(byVersion) != 1 || byVersion[0].GetMetric().GetLabels()["version"] != "v1-0-0" || byVersion[0].GetPoints()[0].GetValue().GetInt64Value() != 6 {
		t.Errorf("jobs %v", byVersion)
	}
	// Points must move forward: the same time again is refused, as Monitoring does.
	if err := r.Publish(ctx, api, "mon-project", now); err == nil {
		t.Error("a second point at the same time was accepted")
	}
}
