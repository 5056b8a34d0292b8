package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/alerts/alertstest"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"google.golang.org/grpc/codes"
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
	got := alertstest.FailedOrMissing(t, mon, f, now)
	if got["failed"] != 2 || got["missing"] != 1 {
		t.Errorf("failed or missing jobs as the condition sees them: %v, want failed 2 and missing 1 (rows %+v)", got, rep.Rows)
	}
}

// A deploy publishes the launcher's metric itself (no status run): jobs of a deploy that
// fail before they run, and an event type whose launch call is refused, violate the
// drift policy's condition; a deploy where every job runs does not.
func TestDeployAlertsOnFailedLaunches(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	msrv, mon := launchertest.Monitoring(t, fakemonitoring.WithClock(clock))
	e := &env{srv: msrv, api: mon, dir: t.TempDir(), ch: msrv.AddNotificationChannel(monProject, "oncall@example.com")}
	f := e.fleetFile(t, 3, "")
	e.apply(t, f)
	dsrv, df := launchertest.Dataflow(t, fakedataflow.WithClock(clock))
	deployed := func() map[string]int64 {
		t.Helper()
		p := plan.Compute(f, mustObserve(t, df, f), plan.Options{})
		if _, err := deploy.Apply(ctx, df, p, deploy.Options{Wait: true, PollInterval: time.Nanosecond, WaitTimeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := status.PublishAfterDeploy(ctx, df, mon, monProject, f, 4, now); err != nil {
			t.Fatal(err)
		}
		return alertstest.FailedOrMissing(t, mon, f, now)
	}
	t.Run("jobs that fail before they run", func(t *testing.T) {
		dsrv.SetStartFailure(f.Jobs()[0].Template, "Workflow failed. Causes: the image could not be pulled")
		// Every job of the version fails before it runs; one launch call is refused
		// outright (INVALID_ARGUMENT, not retried): whichever of the three parallel
		// launches it hits has no job (missing), the two others failed.
		dsrv.SetFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.InvalidArgument, Count: 1})
		if got := deployed(); got["failed"] != 2 || got["missing"] != 1 {
			t.Errorf("after a deploy whose jobs failed: %v, want failed 2 and missing 1", got)
		}
	})
	t.Run("every job runs", func(t *testing.T) {
		dsrv.SetStartFailure(f.Jobs()[0].Template, "")
		now = now.Add(time.Hour) // past the condition's 10-minute window
		if got := deployed(); got["failed"] != 0 || got["missing"] != 0 {
			t.Errorf("after a deploy where every job runs: %v, want none failed or missing", got)
		}
	})
}

func mustObserve(t *testing.T, api dataflow.API, f *fleet.Fleet) *plan.Observed {
	t.Helper()
	obs, err := plan.Observe(context.Background(), api, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}
