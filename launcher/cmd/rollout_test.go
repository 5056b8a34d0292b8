package cmd_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

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
	srv, err := fakedataflow.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	spec := launchertest.Spec{EventTypes: 6, Extra: "rollout:\n  canaries: [type-004]\n  waves: [50%]\n  soak: 0s\n"}
	write := func(version string) string {
		spec.Version = version
		path, err := launchertest.Write(dir, spec)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := write("v1.0.0")
	fast := []string{"--poll-interval", "5ms", "--rate", "1000", "--burst", "100"}
	deployArgs := append([]string{"deploy", "-f", path}, fast...)

	r := launcherIn(t, srv.Addr, "", false, deployArgs...)
	if r.code != 0 || !strings.Contains(r.stdout, "complete; 6 upgraded") || !strings.Contains(r.stderr, "wave 1/3 (canaries): upgrading 1 of 1") {
		t.Fatalf("first deploy: %+v", r)
	}

	write("v2.0.0")
	srv.SetIncompatibleUpdate("gs://bucket/eventdelivery/v2.0.0/spec.json", true)
	r = launcherIn(t, srv.Addr, "", false, append(deployArgs, "-o", "json")...)
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
	r = launcherIn(t, srv.Addr, "", false, append(deployArgs, "--allow-replace")...)
	if r.code != 0 || !strings.Contains(r.stdout, "complete; 6 upgraded") || !strings.Contains(r.stdout, "replace") {
		t.Fatalf("--allow-replace: %+v", r)
	}

	// rollback: back to v1, in place where compatible (it is: only v2 is marked).
	r = launcherIn(t, srv.Addr, "", false, append([]string{"rollback", "-f", path}, fast...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "6 rolled back") {
		t.Fatalf("rollback: %+v", r)
	}
	r = launcherIn(t, srv.Addr, "", false, deployArgs...)
	if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "was rolled back") {
		t.Fatalf("deploy of a rolled-back version: %+v", r)
	}

	// drain and cancel: confirmation.
	r = launcherIn(t, srv.Addr, "", false, "drain", "-f", path, "type-001")
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
}
