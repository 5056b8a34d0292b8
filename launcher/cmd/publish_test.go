package cmd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/alerts/alertstest"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// A plain deploy (no flag) of a fleet with an alerts project publishes the launcher's
// metric: a new event type whose job fails before it runs is seen by the "jobs failed or
// missing" condition of the policies launcher/alerts writes. --publish-metrics=false
// writes nothing; a Monitoring that cannot be reached is a warning and exit 1, with the
// deploy done.
func TestDeployPublishesFailedLaunchesByDefault(t *testing.T) {
	df, _ := launchertest.Dataflow(t)
	msrv, mon := launchertest.Monitoring(t, fakemonitoring.WithMetricsScope("mon-project", "proj-000"))
	dir := t.TempDir()
	spec := launchertest.Spec{EventTypes: 2, Extra: "  alerts:\n    project: mon-project\n"}
	write := func(n int) (string, *fleet.Fleet) {
		t.Helper()
		spec.EventTypes = n
		path := launchertest.File(t, dir, spec)
		f := launchertest.LoadFile(t, path)
		return path, f
	}
	fast := []string{"--poll-interval", "10ms", "--rate", "1000", "--burst", "100", "--timeout", "1m"}
	deploy := func(monAddr, path string, args ...string) run {
		return launcher2(context.Background(), df.Addr, monAddr, append(append([]string{"deploy", "-f", path}, fast...), args...)...)
	}

	path, f := write(2)
	if r := deploy(msrv.Addr, path); r.code != 0 || strings.Contains(r.stderr, "WARN") {
		t.Fatalf("first deploy: %+v", r)
	}
	if got := alertstest.FailedOrMissing(t, mon, f, time.Now()); len(got) != 0 {
		t.Fatalf("after a deploy where every job runs, the condition sees %v, want nothing", got)
	}

	t.Run("a new event type whose job fails before it runs alerts", func(t *testing.T) {
		path, f := write(3)
		df.SetStartFailure(f.Jobs()[2].Template, "Workflow failed. Causes: the image could not be pulled")
		defer df.SetStartFailure(f.Jobs()[2].Template, "")
		r := deploy(msrv.Addr, path)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stdout, "Deploy: 0 created, 0 updated, 0 recreated, 2 unchanged; 2 running, 1 failed") ||
			strings.Contains(r.stderr, "not published") {
			t.Fatalf("deploy: %+v", r)
		}
		got := alertstest.FailedOrMissing(t, mon, f, time.Now())
		if len(got) != 1 || got["failed"] != 1 {
			t.Errorf("the failed-launch condition sees %v, want failed 1", got)
		}
	})

	t.Run("--publish-metrics=false publishes nothing", func(t *testing.T) {
		other := launchertest.MonitoringServer(t, fakemonitoring.WithMetricsScope("mon-project", "proj-000"))
		path, _ := write(3)
		r := deploy(other.Addr, path, "--publish-metrics=false")
		if r.code != 0 || !strings.Contains(r.stdout, "1 recreated") {
			t.Fatalf("deploy: %+v", r)
		}
		if n := other.Calls(fakemonitoring.MethodCreateTimeSeries) + other.Calls(fakemonitoring.MethodCreateMetricDescriptor); n != 0 {
			t.Errorf("%d calls that write metrics, want none", n)
		}
	})

	t.Run("an unreachable Monitoring is a warning and exit 1, the deploy done", func(t *testing.T) {
		down, err := fakemonitoring.NewServer()
		if err != nil {
			t.Fatal(err)
		}
		down.Close()
		path, _ := write(2)
		r := deploy(down.Addr, path, "--retries", "1")
		if r.code != cmd.ExitFailure || !strings.Contains(r.stdout, "Deploy: 0 created, 0 updated, 0 recreated, 2 unchanged; 2 running") ||
			!strings.Contains(r.stderr, "level=WARN msg=\"the deploy is done, but the launcher's metrics were not published") ||
			!strings.Contains(r.stderr, "launcher: deploy: publish metrics to mon-project: ") {
			t.Errorf("deploy: %+v", r)
		}
	})
}

// The rollout path publishes too: a rollout (a rollout: block) of a fleet whose new event
// type fails before it runs leaves the failed-launch condition seeing it.
func TestRolloutPublishesFailedLaunches(t *testing.T) {
	df, _ := launchertest.Dataflow(t)
	msrv, mon := launchertest.Monitoring(t, fakemonitoring.WithMetricsScope("mon-project", "proj-000"))
	path := launchertest.File(t, t.TempDir(), launchertest.Spec{EventTypes: 1, Extra: "  alerts:\n    project: mon-project\nrollout:\n  soak: 0s\n"})
	f := launchertest.LoadFile(t, path)
	df.SetStartFailure(f.Jobs()[0].Template, "Workflow failed. Causes: the image could not be pulled")
	r := launcher2(context.Background(), df.Addr, msrv.Addr, "deploy", "-f", path, "--gate-hours=false", "--poll-interval", "10ms", "--rate", "1000", "--burst", "100", "--timeout", "1m")
	// The gate fails on the failed job (exit 5); the metrics are published all the same.
	if r.code != cmd.ExitRolledBack || !strings.Contains(r.stdout, "1 failed") || strings.Contains(r.stderr, "not published") {
		t.Fatalf("rollout: %+v", r)
	}
	if got := alertstest.FailedOrMissing(t, mon, f, time.Now()); len(got) != 1 || got["failed"] != 1 {
		t.Errorf("the failed-launch condition sees %v, want failed 1", got)
	}
}
