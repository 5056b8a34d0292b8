package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
)

func launcher2(ctx context.Context, df, mon string, args ...string) run {
	return execute(ctx, cmd.Env{}, map[string]string{"DATAFLOW_EMULATOR_HOST": df, "MONITORING_EMULATOR_HOST": mon}, args...)
}

func TestAlertsDashboardAndHealthCommands(t *testing.T) {
	gcsfake.Start(t, "bucket")
	df := launchertest.DataflowServer(t)
	mon := launchertest.MonitoringServer(t, fakemonitoring.WithMetricsScope("mon-project", "proj-000", "proj-001"))
	ch := mon.AddNotificationChannel("mon-project", "oncall@example.com")
	dir := t.TempDir()
	path := launchertest.File(t, dir, launchertest.Spec{EventTypes: 8, PerProject: 4,
		Extra: fmt.Sprintf("  alerts:\n    project: mon-project\n    notification_channels: [%s]\n", ch)})
	ctx := context.Background()
	lr := func(args ...string) run { return launcher2(ctx, df.Addr, mon.Addr, args...) }

	t.Run("alerts plan shows the policies to create", func(t *testing.T) {
		r := lr("alerts", "plan", "-f", path, "--detailed-exitcode")
		if r.code != cmd.ExitChanges || !strings.Contains(r.stdout, "  + events-test: system lag above 10m") ||
			!strings.HasSuffix(r.stdout, "Alerts plan: 7 to create, 0 to update, 0 to delete, 0 unchanged (project mon-project).\n") {
			t.Fatalf("alerts plan: %+v", r)
		}
	})
	t.Run("alerts apply creates them", func(t *testing.T) {
		r := lr("alerts", "apply", "-f", path, "-o", "json")
		var applied struct {
			OK      bool              `json:"ok"`
			Applied []json.RawMessage `json:"applied"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &applied); err != nil || r.code != 0 || !applied.OK || len(applied.Applied) != 7 {
			t.Fatalf("alerts apply (%v): %+v", err, r)
		}
		t.Run("plan after apply has no changes", func(t *testing.T) {
			if r := lr("alerts", "plan", "-f", path, "--detailed-exitcode"); r.code != 0 || !strings.HasPrefix(r.stdout, "No changes. 7 alert policies") {
				t.Errorf("plan after apply: %+v", r)
			}
		})
		t.Run("a changed threshold shows as one update with its diff", func(t *testing.T) {
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, []byte(strings.Replace(string(data), "    notification_channels:", "    data_freshness: 45m\n    notification_channels:", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			r := lr("alerts", "plan", "-f", path)
			if r.code != 0 || !strings.Contains(r.stdout, "  ~ events-test: data watermark older than 45m") ||
				!strings.Contains(r.stdout, "conditions[0].threshold: 1800 → 2700") || !strings.Contains(r.stdout, "1 to update") {
				t.Errorf("plan with a changed threshold: %+v", r)
			}
		})
	})

	t.Run("dashboard apply creates the dashboard, then leaves it unchanged", func(t *testing.T) {
		r := lr("dashboard", "apply", "-f", path)
		if r.code != 0 || !strings.Contains(r.stdout, `Dashboard "eventdelivery fleet events-test" created`) || len(mon.Dashboards("mon-project")) != 1 {
			t.Fatalf("dashboard apply: %+v", r)
		}
		if r = lr("dashboard", "apply", "-f", path); r.code != 0 || !strings.Contains(r.stdout, "unchanged") {
			t.Errorf("second dashboard apply: %+v", r)
		}
	})

	// Deploy, then status --health: no metrics yet for jobs that just started is fine;
	// with a failed job the verdict is unhealthy (exit 4).
	t.Run("status after deploy", func(t *testing.T) {
		if r := lr("deploy", "-f", path, "--poll-interval", "10ms", "--rate", "1000", "--burst", "100"); r.code != 0 {
			t.Fatalf("deploy: %+v", r)
		}
		t.Run("--health on a fresh fleet passes and --publish-metrics writes a series", func(t *testing.T) {
			r := lr("status", "-f", path, "--health", "--publish-metrics")
			if r.code != 0 || !strings.Contains(r.stdout, "HEALTH") || !strings.Contains(r.stdout, "8 jobs: 8 running v1.0.0\n") {
				t.Errorf("status --health on a fresh fleet: %+v", r)
			}
			if n := len(mon.TimeSeries(monitoring.MetricJobsOffPinned)); n != 1 {
				t.Errorf("%d jobs_off_pinned series after --publish-metrics", n)
			}
		})
		jobs := df.Jobs()
		if err := df.FailJob(jobs[0].Job.GetId()); err != nil {
			t.Fatal(err)
		}
		t.Run("--health with a failed job is unhealthy, exit 4", func(t *testing.T) {
			r := lr("status", "-f", path, "--health", "-o", "json")
			var st struct {
				Healthy *bool `json:"healthy"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != cmd.ExitUnhealthy || st.Healthy == nil || *st.Healthy {
				t.Errorf("status --health with a failed job (%v): %+v", err, r)
			}
		})
		t.Run("--watch redraws until interrupted and exits with the last report's code", func(t *testing.T) {
			wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			r := launcher2(wctx, df.Addr, mon.Addr, "status", "-f", path, "--watch", "--interval", "1s")
			if r.code != cmd.ExitChanges || strings.Count(r.stdout, "EVENT TYPE") < 2 {
				t.Errorf("status --watch: code %d, %d reports:\n%s", r.code, strings.Count(r.stdout, "EVENT TYPE"), r.stdout)
			}
		})
	})

	t.Run("without an alerts project the alert commands say what to set", func(t *testing.T) {
		bare := launchertest.File(t, t.TempDir(), launchertest.Spec{EventTypes: 2, PerProject: 1})
		if r := lr("alerts", "plan", "-f", bare); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "set defaults.alerts.project") {
			t.Errorf("alerts plan without a project: %+v", r)
		}
	})
}
