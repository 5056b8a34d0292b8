package cmd_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

func launcherIn(t *testing.T, addr, stdin string, terminal bool, args ...string) run {
	t.Helper()
	return execute(context.Background(), cmd.Env{Stdin: strings.NewReader(stdin), StdinTerminal: terminal},
		map[string]string{"DATAFLOW_EMULATOR_HOST": addr}, args...)
}

// TestRolloutRollbackDrainCancel drives deploy with a rollout, an incompatible update
// with and without --allow-replace, rollback, drain and cancel through the CLI.
func TestRolloutRollbackDrainCancel(t *testing.T) {
	srv := launchertest.DataflowServer(t)
	dir := t.TempDir()
	spec := launchertest.Spec{EventTypes: 6, Extra: "rollout:\n  canaries: [type-004]\n  waves: [50%]\n  soak: 0s\n"}
	write := func(version string) string {
		spec.Version = version
		return launchertest.File(t, dir, spec)
	}
	path := write("v1.0.0")
	fast := []string{"--poll-interval", "5ms", "--rate", "1000", "--burst", "100"}
	deployArgs := append([]string{"deploy", "-f", path}, fast...)

	t.Run("first deploy", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, deployArgs...)
		if r.code != 0 || !strings.Contains(r.stdout, "complete; 6 upgraded") || !strings.Contains(r.stderr, "wave 1/3 (canaries): upgrading 1 of 1") {
			t.Fatalf("first deploy: %+v", r)
		}
	})

	write("v2.0.0")
	srv.SetIncompatibleUpdate("gs://bucket/eventdelivery/v2.0.0/spec.json", true)
	t.Run("incompatible update", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, append(deployArgs, "-o", "json")...)
		var res struct {
			Outcome string `json:"outcome"`
			Items   []struct {
				Status string `json:"status"`
			} `json:"items"`
		}
		if r.code != cmd.ExitFailure || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Outcome != "stopped" || len(res.Items) != 6 || res.Items[0].Status != "incompatible" {
			t.Fatalf("incompatible without --allow-replace: %+v", r)
		}
		if !strings.Contains(r.stderr, "deploy --allow-replace drains and replaces them") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("allow-replace", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, append(deployArgs, "--allow-replace")...)
		if r.code != 0 || !strings.Contains(r.stdout, "complete; 6 upgraded") || !strings.Contains(r.stdout, "replace") {
			t.Fatalf("--allow-replace: %+v", r)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		// Back to v1, in place where compatible (it is: only v2 is marked).
		r := launcherIn(t, srv.Addr, "", false, append([]string{"rollback", "-f", path}, fast...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "6 rolled back") {
			t.Fatalf("rollback: %+v", r)
		}
		r = launcherIn(t, srv.Addr, "", false, deployArgs...)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "was rolled back") {
			t.Fatalf("deploy of a rolled-back version: %+v", r)
		}
	})

	t.Run("drain and cancel ask for confirmation", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, "drain", "-f", path, "type-001")
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "pass --yes") {
			t.Errorf("drain without a terminal: %+v", r)
		}
		r = launcherIn(t, srv.Addr, "no\n", true, "drain", "-f", path, "type-001")
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "not confirmed") {
			t.Errorf("drain not confirmed: %+v", r)
		}
		r = launcherIn(t, srv.Addr, "", false, "drain", "-f", path, "type-001", "--yes")
		if r.code != 0 || !strings.Contains(r.stdout, "Drain: 1 draining, 0 skipped, 0 failed.") {
			t.Errorf("drain --yes: %+v", r)
		}
		r = launcherIn(t, srv.Addr, "", false, "drain", "-f", path, "no-such-type", "--yes")
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, `"no-such-type" is not an event type`) {
			t.Errorf("drain of an unknown type: %+v", r)
		}
		r = launcherIn(t, srv.Addr, "yes\n", true, "cancel", "-f", path, "--all")
		if r.code != 0 || !strings.Contains(r.stderr, "in flight") || !strings.Contains(r.stderr, "Type yes to confirm") ||
			!strings.Contains(r.stdout, "Cancel: 5 cancelling, 1 skipped, 0 failed.") {
			t.Errorf("cancel --all: %+v", r)
		}
		for _, j := range srv.Jobs() {
			switch j.Job.CurrentState {
			case dataflowpb.JobState_JOB_STATE_RUNNING, dataflowpb.JobState_JOB_STATE_PENDING, dataflowpb.JobState_JOB_STATE_QUEUED:
				t.Errorf("job %s still %s", j.Job.Name, j.Job.CurrentState)
			}
		}
	})
}

// TestDeployWaitFalseAndPruneOnTheRolloutPath: deploy --allow-replace without a rollout:
// block is a rollout of one wave without soak; --wait=false launches it without waiting,
// --prune is refused with a message about --allow-replace, and a rollout of several waves
// refuses --wait=false before any call.
func TestDeployWaitFalseAndPruneOnTheRolloutPath(t *testing.T) {
	// Jobs take an hour to run: a deploy that waited would time out.
	srv := launchertest.DataflowServer(t, fakedataflow.WithStartDelay(time.Hour))
	dir := t.TempDir()
	path := launchertest.File(t, dir, launchertest.Spec{EventTypes: 4})
	fast := []string{"--poll-interval", "5ms", "--timeout", "50ms", "--rate", "1000", "--burst", "100"}

	t.Run("prune without a rollout block", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, append([]string{"deploy", "-f", path, "--allow-replace", "--prune"}, fast...)...)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "--prune is not available with --allow-replace") || strings.Contains(r.stderr, "rollout: block") {
			t.Errorf("--allow-replace --prune: %+v", r)
		}
		if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 0 {
			t.Errorf("a refused deploy launched %d jobs", n)
		}
	})
	t.Run("wait=false on the rollout path", func(t *testing.T) {
		r := launcherIn(t, srv.Addr, "", false, append([]string{"deploy", "-f", path, "--allow-replace", "--wait=false", "-o", "json"}, fast...)...)
		var res struct {
			Outcome string `json:"outcome"`
			Items   []struct {
				Status string `json:"status"`
				JobID  string `json:"job_id"`
			} `json:"items"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Outcome != "started" || len(res.Items) != 4 {
			t.Fatalf("--wait=false: %+v", r)
		}
		for _, it := range res.Items {
			if it.Status != "started" || it.JobID == "" {
				t.Errorf("item %+v, want started with a job id", it)
			}
		}
		if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 4 {
			t.Errorf("%d launches, want 4", n)
		}
	})
	t.Run("wait=false with several waves", func(t *testing.T) {
		spec := launchertest.Spec{EventTypes: 4, Extra: "rollout:\n  canaries: [type-001]\n  soak: 5m\n"}
		waves := launchertest.File(t, t.TempDir(), spec)
		before := srv.Calls(fakedataflow.MethodLaunchFlexTemplate)
		r := launcherIn(t, srv.Addr, "", false, append([]string{"deploy", "-f", waves, "--wait=false"}, fast...)...)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "--wait=false launches without waiting, but this rollout has 2 waves and a soak of 5m0s") {
			t.Errorf("--wait=false with waves: %+v", r)
		}
		if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != before {
			t.Errorf("a refused rollout launched %d jobs", n-before)
		}
	})
}
