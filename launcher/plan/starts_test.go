package plan_test

import (
	"os"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// The plan says what a deploy starts per project and region: one launcher VM per launch,
// at most the pace times a launcher VM's life at once, and the workers' vCPU ceiling.
func TestPlanCountsWhatTheDeployStarts(t *testing.T) {
	// 60 event types, 30 per project; proj-001 launches at most 4 a minute.
	f := load(t, launchertest.Spec{EventTypes: 60, PerProject: 30, MaxActive: 100, Extra: "  launcher_machine_type: n2-standard-4\n"})
	data := strings.Replace(launchertest.ReadFile(t, f.Path), "    project: proj-001\n", "    project: proj-001\n    launches_per_minute: 4\n", 1)
	f = reload(t, f.Path, data)
	d := f.Jobs()
	// One job of proj-000 runs already and matches: it starts nothing.
	obs := &plan.Observed{Jobs: []dataflow.Job{running(d[0], "j0", dataflow.StateRunning)}}
	p := plan.Compute(f, obs, plan.Options{})
	if len(p.Starts) != 2 {
		t.Fatalf("starts %+v", p.Starts)
	}
	want := []plan.Start{
		// 29 launches at the default 10/min: all 29 launcher VMs may live at once (5 min).
		{Project: "proj-000", Region: "europe-west1", Launches: 29, LaunchesPerMinute: 10, LauncherVMs: 29, LauncherVCPUs: 29 * 4, WorkerVCPUs: 29 * 10 * 2},
		// 30 launches at 4/min: at most 20 at once.
		{Project: "proj-001", Region: "europe-west1", Launches: 30, LaunchesPerMinute: 4, LauncherVMs: 20, LauncherVCPUs: 20 * 4, WorkerVCPUs: 30 * 10 * 2},
	}
	for i, w := range want {
		if got := p.Starts[i]; got.String() != w.String() {
			t.Errorf("starts[%d] = %s\nwant         %s", i, got, w)
		}
	}
	if s := p.Starts[1].String(); s != "proj-001/europe-west1: 30 launches at 4/min: up to 20 launcher VMs (80 vCPUs) at once; workers up to 600 vCPUs" {
		t.Errorf("line %q", s)
	}
}

func TestVCPUs(t *testing.T) {
	for mt, want := range map[string]int{"n1-standard-1": 1, "n2-standard-4": 4, "n2d-highmem-16": 16, "c3-standard-4-lssd": 4,
		"e2-small": 2, "custom-6-23040": 6, "n2-custom-8-16384": 8, "g1-small": 1} {
		if n, ok := plan.VCPUs(mt); !ok || n != want {
			t.Errorf("%s: %d %v, want %d", mt, n, ok, want)
		}
	}
	if _, ok := plan.VCPUs("mystery"); ok {
		t.Error("an unknown machine type has known vCPUs")
	}
}

// reload writes data to the fleet file at path and loads it.
func reload(t *testing.T, path, data string) *fleet.Fleet {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return launchertest.LoadFile(t, path)
}
