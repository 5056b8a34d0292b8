package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

type run struct {
	code           int
	stdout, stderr string
}

// execute runs the launcher with env, whose Stdout and Stderr it captures and whose Getenv
// sees vars.
func execute(ctx context.Context, env cmd.Env, vars map[string]string, args ...string) run {
	var out, errOut bytes.Buffer
	env.Stdout, env.Stderr = &out, &errOut
	env.Getenv = func(k string) string { return vars[k] }
	code := cmd.Execute(ctx, env, args)
	return run{code, out.String(), errOut.String()}
}

func launcher(t *testing.T, addr string, args ...string) run {
	t.Helper()
	return execute(context.Background(), cmd.Env{}, map[string]string{"DATAFLOW_EMULATOR_HOST": addr}, args...)
}

func TestCommands(t *testing.T) {
	srv := launchertest.DataflowServer(t)
	dir := t.TempDir()
	path := launchertest.File(t, dir, launchertest.Spec{EventTypes: 12, PerProject: 6})
	fast := []string{"--poll-interval", "10ms", "--rate", "1000", "--burst", "100"}

	r := launcher(t, srv.Addr, "validate", "-f", path)
	if r.code != 0 || !strings.Contains(r.stdout, "12 event types in 2 project/regions: valid") {
		t.Errorf("validate: %+v", r)
	}

	r = launcher(t, srv.Addr, "plan", "-f", path, "--detailed-exitcode")
	if r.code != cmd.ExitChanges || !strings.Contains(r.stdout, "  + events-test-type-000") ||
		!strings.HasSuffix(r.stdout, "Plan: 12 to create, 0 to update, 0 to recreate, 0 blocked.\n") {
		t.Errorf("plan: %+v", r)
	}
	r = launcher(t, srv.Addr, "status", "-f", path)
	if r.code != cmd.ExitChanges || !strings.Contains(r.stdout, "12 jobs: 0 running v1.0.0, 12 missing") {
		t.Errorf("status before deploy: %+v", r)
	}

	r = launcher(t, srv.Addr, append([]string{"deploy", "-f", path, "-o", "json"}, fast...)...)
	if r.code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	var res struct {
		OK     bool `json:"ok"`
		Counts struct{ Created, Running int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.OK || res.Counts.Created != 12 || res.Counts.Running != 12 {
		t.Errorf("deploy JSON %v: %s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, "[12/12] ok") || !strings.Contains(r.stderr, "Plan: 12 to create") {
		t.Errorf("deploy progress on stderr: %q", r.stderr)
	}

	r = launcher(t, srv.Addr, "plan", "-f", path, "--detailed-exitcode")
	if r.code != 0 || r.stdout != "No changes.\n" {
		t.Errorf("plan after deploy: %+v", r)
	}
	r = launcher(t, srv.Addr, "status", "-f", path, "-o", "json")
	var st struct {
		Converged bool   `json:"converged"`
		Summary   string `json:"summary"`
		Jobs      []struct {
			MatchesPinned bool   `json:"matches_pinned"`
			State         string `json:"state"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 || !st.Converged || len(st.Jobs) != 12 ||
		st.Summary != "12 jobs: 12 running v1.0.0" || st.Jobs[0].State != "RUNNING" {
		t.Errorf("status JSON (%v): %+v", err, r)
	}

	// A second, foreign fleet file that wants a name we hold: blocked, exit 3, nothing done.
	other := strings.ReplaceAll(launchertest.ReadFile(t, path), "events-test", "events-other")
	other = strings.Replace(other, "fleet: events-other", "fleet: events", 1)
	otherPath := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(otherPath, []byte(strings.ReplaceAll(other, "type-", "test-type-")), 0o644); err != nil {
		t.Fatal(err)
	}
	launches := srv.Calls(fakedataflow.MethodLaunchFlexTemplate)
	r = launcher(t, srv.Addr, append([]string{"deploy", "-f", otherPath}, fast...)...)
	if r.code != cmd.ExitBlocked || !strings.Contains(r.stderr, "belongs to fleet \"events-test\"") {
		t.Errorf("blocked deploy: %+v", r)
	}
	if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != launches {
		t.Errorf("blocked deploy launched %d jobs", n-launches)
	}
}

func TestValidateExitCodeAndProblems(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	bad := "fleet: Bad\nversion: v1\ntemplate: gs://b/spec.json\nevent_types:\n  - name: a\n    subscription: projects/p/subscriptions/a\n    schema: nope.avsc\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := launcher(t, "", "validate", "-f", path)
	if r.code != cmd.ExitFailure {
		t.Errorf("exit %d", r.code)
	}
	for _, want := range []string{
		path + ":1: fleet: \"Bad\" must match",
		path + ":3: template: \"gs://b/spec.json\" has no {version} placeholder",
		path + ":5: event_types[0].project: required",
		path + ":7: event_types[0].schema: schema file",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	r = launcher(t, "", "validate", "-f", path, "-o", "json")
	var out struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Valid || len(out.Problems) < 4 {
		t.Errorf("validate JSON (%v): %s", err, r.stdout)
	}
	if r := launcher(t, "", "plan", "-f", path); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, ":1: fleet:") {
		t.Errorf("plan with a bad file: %+v", r)
	}
	if r := launcher(t, "", "status", "-o", "yaml"); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, "want table or json") {
		t.Errorf("bad --output: %+v", r)
	}
}
