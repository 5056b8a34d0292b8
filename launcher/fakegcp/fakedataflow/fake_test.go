package fakedataflow_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func start(t *testing.T, opts ...fakedataflow.Option) (*fakedataflow.Server, *dataflow.Client, *clock) {
	t.Helper()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	srv, c := launchertest.Dataflow(t, append([]fakedataflow.Option{fakedataflow.WithClock(clk.Now)}, opts...)...)
	return srv, c, clk
}

func launch(name string) dataflow.LaunchRequest {
	return dataflow.LaunchRequest{
		Project: "proj-a", Region: "europe-west1", JobName: name,
		Template:   "gs://b/t/v1/spec.json",
		Parameters: map[string]string{"event_type": name},
		Labels:     map[string]string{"managed-by": "eventdelivery"},
	}
}

func code(err error) codes.Code { return status.Code(err) }

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	srv, c, clk := start(t, fakedataflow.WithStartDelay(10*time.Second), fakedataflow.WithDrainDelay(time.Minute))
	j, err := c.Launch(ctx, launch("play-track"))
	if err != nil {
		t.Fatal(err)
	}
	if j.State != dataflow.StateUnknown || !j.StateTime.IsZero() {
		t.Errorf("launch response: %s at %s, want no state (UNKNOWN, no time)", j.State, j.StateTime)
	}
	if got, _ := c.Get(ctx, "proj-a", "europe-west1", j.ID); got.State != dataflow.StateQueued {
		t.Errorf("launched job is %s, want QUEUED", got.State)
	}
	clk.Add(5 * time.Second)
	if got, _ := c.Get(ctx, "proj-a", "europe-west1", j.ID); got.State != dataflow.StatePending {
		t.Errorf("after 5s: %s, want PENDING", got.State)
	}
	clk.Add(5 * time.Second)
	got, err := c.Get(ctx, "proj-a", "europe-west1", j.ID)
	if err != nil || got.State != dataflow.StateRunning || got.Labels["managed-by"] != "eventdelivery" {
		t.Fatalf("after 10s: %+v %v, want RUNNING with labels", got, err)
	}

	// A second launch of the name fails; an update replaces the job.
	if _, err := c.Launch(ctx, launch("play-track")); code(err) != codes.AlreadyExists {
		t.Errorf("second launch: %v, want ALREADY_EXISTS", err)
	}
	up := launch("play-track")
	up.Update = true
	j2, err := c.Launch(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if j2.ID == j.ID || j2.Name != j.Name {
		t.Errorf("update: new %+v, old %+v", j2, j)
	}
	// Updating while an update is in progress is refused: the newest job is not running.
	if _, err := c.Launch(ctx, up); code(err) != codes.FailedPrecondition {
		t.Errorf("update during an update: %v, want FAILED_PRECONDITION", err)
	}
	missing := launch("nope")
	missing.Update = true
	if _, err := c.Launch(ctx, missing); code(err) != codes.NotFound {
		t.Errorf("update without job: %v, want NOT_FOUND", err)
	}

	clk.Add(10 * time.Second)
	d, err := c.Drain(ctx, "proj-a", "europe-west1", j2.ID)
	if err != nil || d.State != dataflow.StateDraining {
		t.Fatalf("drain: %+v %v", d, err)
	}
	clk.Add(time.Minute)
	if got, _ := c.Get(ctx, "proj-a", "europe-west1", j2.ID); got.State != dataflow.StateDrained {
		t.Errorf("after drain delay: %s", got.State)
	}
	if _, err := c.Drain(ctx, "proj-a", "europe-west1", j2.ID); code(err) != codes.FailedPrecondition {
		t.Errorf("drain of a drained job: %v", err)
	}
	// The name is free again.
	j3, err := c.Launch(ctx, launch("play-track"))
	if err != nil {
		t.Fatal(err)
	}
	// A job still starting (QUEUED) is not ready for canceling; PENDING is.
	if _, err := c.Cancel(ctx, "proj-a", "europe-west1", j3.ID); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not yet ready for canceling") {
		t.Errorf("cancel of a queued job: %v, want FAILED_PRECONDITION not yet ready for canceling", err)
	}
	clk.Add(5 * time.Second)
	if x, err := c.Cancel(ctx, "proj-a", "europe-west1", j3.ID); err != nil || x.State != dataflow.StateCancelled {
		t.Errorf("cancel: %+v %v", x, err)
	}
	if _, err := c.Cancel(ctx, "proj-a", "europe-west1", j3.ID); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Job has terminated") {
		t.Errorf("cancel of a cancelled job: %v, want FAILED_PRECONDITION Job has terminated", err)
	}
	if n := len(srv.Jobs()); n != 3 {
		t.Errorf("%d jobs, want 3", n)
	}
	if _, err := c.Get(ctx, "proj-a", "us-east1", j3.ID); code(err) != codes.NotFound {
		t.Errorf("get in another region: %v", err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	_, c, _ := start(t)
	long := launch("p" + strings.Repeat("-x", 511) + "y") // 1024 characters: the longest name
	if _, err := c.Launch(ctx, long); err != nil {
		t.Errorf("a 1024-character name: %v, want accepted", err)
	}
	for name, mod := range map[string]func(*dataflow.LaunchRequest){
		"upper case name":    func(r *dataflow.LaunchRequest) { r.JobName = "Play" },
		"trailing hyphen":    func(r *dataflow.LaunchRequest) { r.JobName = "play-" },
		"bad label key":      func(r *dataflow.LaunchRequest) { r.Labels = map[string]string{"Team": "x"} },
		"bad label value":    func(r *dataflow.LaunchRequest) { r.Labels = map[string]string{"version": "v1.4.2"} },
		"not a gs template":  func(r *dataflow.LaunchRequest) { r.Template = "/tmp/spec.json" },
		"no region":          func(r *dataflow.LaunchRequest) { r.Region = "" },
		"label key too long": func(r *dataflow.LaunchRequest) { r.Labels = map[string]string{fmt.Sprintf("k%063d", 0): "x"} },
		"name too long":      func(r *dataflow.LaunchRequest) { r.JobName = "p" + strings.Repeat("-x", 512) }, // 1025 characters
	} {
		t.Run(name, func(t *testing.T) {
			r := launch("play-track")
			mod(&r)
			if _, err := c.Launch(ctx, r); code(err) != codes.InvalidArgument {
				t.Errorf("got %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

func TestTemplateParameters(t *testing.T) {
	ctx := context.Background()
	_, c, _ := start(t, fakedataflow.WithTemplate("gs://b/t/v1/spec.json", "event_type"))
	if _, err := c.Launch(ctx, launch("a-job")); err != nil {
		t.Fatal(err)
	}
	r := launch("b-job")
	r.Parameters["colour"] = "blue"
	if _, err := c.Launch(ctx, r); code(err) != codes.InvalidArgument {
		t.Errorf("undeclared parameter: %v", err)
	}
	r = launch("c-job")
	r.Template = "gs://b/t/v2/spec.json"
	if _, err := c.Launch(ctx, r); code(err) != codes.InvalidArgument {
		t.Errorf("unknown template: %v", err)
	}
}

func TestQuotaAndPagination(t *testing.T) {
	ctx := context.Background()
	_, c, _ := start(t, fakedataflow.WithMaxActiveJobsPerProject(25), fakedataflow.WithPageSize(7))
	for i := 0; i < 25; i++ {
		if _, err := c.Launch(ctx, launch(fmt.Sprintf("job-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Launch(ctx, launch("job-25")); code(err) != codes.ResourceExhausted {
		t.Fatalf("26th job: %v, want RESOURCE_EXHAUSTED", err)
	}
	other := launch("job-25")
	other.Project = "proj-b"
	if _, err := c.Launch(ctx, other); err != nil {
		t.Fatalf("other project: %v", err)
	}
	jobs, err := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Active})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 25 || jobs[0].Name != "job-24" || jobs[24].Name != "job-00" {
		t.Fatalf("listed %d jobs, first %s", len(jobs), jobs[0].Name)
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.ID] {
			t.Errorf("job %s listed twice", j.ID)
		}
		seen[j.ID] = true
		if j.Labels != nil {
			t.Errorf("listing returned labels; Dataflow lists summaries")
		}
	}
	if _, err := c.Cancel(ctx, "proj-a", "europe-west1", jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	term, _ := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Terminated})
	byName, _ := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Name: "job-03"})
	if len(term) != 1 || len(byName) != 1 || byName[0].Name != "job-03" {
		t.Errorf("terminated %d, by name %v", len(term), byName)
	}
	if _, err := c.Launch(ctx, launch("job-25")); err != nil {
		t.Errorf("launch after a cancel freed quota: %v", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := start(t)
	srv.SetFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.Unavailable, Count: 1})
	if _, err := c.Launch(ctx, launch("a")); code(err) != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
	if n := len(srv.Jobs()); n != 0 {
		t.Fatalf("failed launch created %d jobs", n)
	}
	if _, err := c.Launch(ctx, launch("a")); err != nil {
		t.Fatalf("fault count exceeded, still %v", err)
	}
	srv.SetFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.DeadlineExceeded, AfterEffect: true, Count: 1})
	if _, err := c.Launch(ctx, launch("b")); code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
	if n := len(srv.Jobs()); n != 2 {
		t.Fatalf("after-effect fault: %d jobs, want 2", n)
	}
	if srv.Calls(fakedataflow.MethodLaunchFlexTemplate) != 3 || srv.FaultsFired(fakedataflow.MethodLaunchFlexTemplate) != 1 {
		t.Errorf("calls %d", srv.Calls(fakedataflow.MethodLaunchFlexTemplate))
	}

	srv.SetLatency(fakedataflow.MethodGetJob, time.Hour)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Get(cctx, "proj-a", "europe-west1", "x"); code(err) != codes.DeadlineExceeded {
		t.Errorf("latency: %v, want DEADLINE_EXCEEDED", err)
	}
}

// get reads a job and fails the test on an error.
func get(t *testing.T, c *dataflow.Client, id string) dataflow.Job {
	t.Helper()
	j, err := c.Get(context.Background(), "proj-a", "europe-west1", id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

func running(t *testing.T, c *dataflow.Client, clk *clock, name string) dataflow.Job {
	t.Helper()
	j, err := c.Launch(context.Background(), launch(name))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	if j = get(t, c, j.ID); j.State != dataflow.StateRunning {
		t.Fatalf("%s is %s, want RUNNING", name, j.State)
	}
	return j
}

func update(name, template string) dataflow.LaunchRequest {
	r := launch(name)
	r.Update, r.Template = true, template
	return r
}

// An in-place update hands over like Dataflow's: the old job runs until the new one (new
// id, same name) runs, then it is UPDATED; both are active meanwhile.
func TestUpdateHandover(t *testing.T) {
	ctx := context.Background()
	_, c, clk := start(t, fakedataflow.WithStartDelay(10*time.Second))
	old := running(t, c, clk, "play-track")
	nw, err := c.Launch(ctx, update("play-track", "gs://b/t/v2/spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Second)
	active, _ := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Active, Name: "play-track"})
	if len(active) != 2 || active[0].ID != nw.ID || active[1].ID != old.ID {
		t.Fatalf("during the handover: %+v, want the new and the old job active, newest first", active)
	}
	if o, n := get(t, c, old.ID), get(t, c, nw.ID); o.State != dataflow.StateRunning || o.ReplacedBy != "" || n.State != dataflow.StatePending || n.Replaces != old.ID {
		t.Errorf("during the handover: old %s (replaced by %q), new %s replacing %q", o.State, o.ReplacedBy, n.State, n.Replaces)
	}
	// A plain launch of the name still fails: the name is taken.
	if _, err := c.Launch(ctx, launch("play-track")); code(err) != codes.AlreadyExists {
		t.Errorf("launch during the handover: %v, want ALREADY_EXISTS", err)
	}
	clk.Add(5 * time.Second)
	o, n := get(t, c, old.ID), get(t, c, nw.ID)
	if o.State != dataflow.StateUpdated || o.ReplacedBy != nw.ID || n.State != dataflow.StateRunning || !o.StateTime.Equal(n.StateTime) {
		t.Errorf("after the handover: old %s (replaced by %q) at %s, new %s at %s", o.State, o.ReplacedBy, o.StateTime, n.State, n.StateTime)
	}
}

// An incompatible update is accepted, and fails later as the new job, with a message;
// the old job runs on. A new job that fails for any reason leaves the old one running.
func TestIncompatibleUpdateFailsAsTheNewJob(t *testing.T) {
	ctx := context.Background()
	srv, c, clk := start(t, fakedataflow.WithStartDelay(10*time.Second),
		fakedataflow.WithIncompatibleUpdate("gs://b/t/v2/spec.json"),
		fakedataflow.WithStartFailure("gs://b/t/bad/spec.json", "Failed to read the image: not found"))
	old := running(t, c, clk, "play-track")
	nw, err := c.Launch(ctx, update("play-track", "gs://b/t/v2/spec.json"))
	if err != nil {
		t.Fatalf("incompatible update: the launch call must succeed, got %v", err)
	}
	clk.Add(10 * time.Second)
	n, o := get(t, c, nw.ID), get(t, c, old.ID)
	if !n.Incompatible() || !strings.Contains(n.Error, "not compatible with "+old.ID) {
		t.Errorf("new job: %s %q, want FAILED, not compatible", n.State, n.Error)
	}
	if o.State != dataflow.StateRunning || o.ReplacedBy != "" {
		t.Errorf("old job: %s (replaced by %q), want RUNNING", o.State, o.ReplacedBy)
	}
	// The same for a replacement that fails for another reason; it is not incompatible.
	bad, err := c.Launch(ctx, update("play-track", "gs://b/t/bad/spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	if b, o := get(t, c, bad.ID), get(t, c, old.ID); b.State != dataflow.StateFailed || b.Incompatible() || b.Error != "Failed to read the image: not found" || o.State != dataflow.StateRunning {
		t.Errorf("failed replacement: %s %q (incompatible %v), old %s", b.State, b.Error, b.Incompatible(), o.State)
	}
	// A compatible update after that takes over.
	srv.SetIncompatibleUpdate("gs://b/t/v2/spec.json", false)
	good, err := c.Launch(ctx, update("play-track", "gs://b/t/v2/spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	if g, o := get(t, c, good.ID), get(t, c, old.ID); g.State != dataflow.StateRunning || o.State != dataflow.StateUpdated {
		t.Errorf("compatible update: new %s, old %s", g.State, o.State)
	}
}

// A job can fail before it runs (bad image, parameters, network, quota): the launch call
// succeeds, the job goes QUEUED, then FAILED with its error, and frees its name.
func TestFailureBeforeRunning(t *testing.T) {
	ctx := context.Background()
	srv, c, clk := start(t, fakedataflow.WithStartDelay(10*time.Second))
	srv.SetStartFailure("gs://b/t/v1/spec.json", "Workflow failed. Causes: Network default is not accessible")
	j, err := c.Launch(ctx, launch("play-track"))
	if err != nil {
		t.Fatal(err)
	}
	if g := get(t, c, j.ID); g.State != dataflow.StateQueued || g.Error != "" {
		t.Errorf("before its start: %s %q", g.State, g.Error)
	}
	clk.Add(10 * time.Second)
	g := get(t, c, j.ID)
	if g.State != dataflow.StateFailed || g.Error != "Workflow failed. Causes: Network default is not accessible" || g.Incompatible() {
		t.Errorf("after its start: %s %q", g.State, g.Error)
	}
	srv.SetStartFailure("gs://b/t/v1/spec.json", "")
	running(t, c, clk, "play-track")
}
