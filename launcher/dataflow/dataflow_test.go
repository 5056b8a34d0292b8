package dataflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetryAndRateLimitDecorators(t *testing.T) {
	ctx := context.Background()
	srv, c := launchertest.Dataflow(t)
	retries := 0
	api := dataflow.WithRetry(
		dataflow.WithRateLimit(c, rate.NewLimiter(1000, 10), rate.NewLimiter(1000, 10)),
		dataflow.RetryPolicy{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond,
			OnRetry: func(int, error, time.Duration) { retries++ }})

	j, err := api.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "a", Template: "gs://b/s.json"})
	if err != nil {
		t.Fatal(err)
	}

	// Reads are retried on transient errors.
	srv.SetFault(fakedataflow.MethodGetJob, fakedataflow.Fault{Code: codes.Unavailable, Count: 3})
	if got, err := api.Get(ctx, "proj-a", "europe-west1", j.ID); err != nil || got.ID != j.ID {
		t.Fatalf("get after 3 faults: %v", err)
	}
	if retries != 3 || srv.Calls(fakedataflow.MethodGetJob) != 4 {
		t.Errorf("retries %d, calls %d", retries, srv.Calls(fakedataflow.MethodGetJob))
	}
	// ... up to Attempts, and not on permanent errors.
	srv.SetFault(fakedataflow.MethodListJobs, fakedataflow.Fault{Code: codes.DeadlineExceeded})
	if _, err := api.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1"}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("list: %v", err)
	}
	if n := srv.Calls(fakedataflow.MethodListJobs); n != 4 {
		t.Errorf("%d list calls, want 4 attempts", n)
	}
	if _, err := api.Get(ctx, "proj-a", "europe-west1", "nope"); status.Code(err) != codes.NotFound || srv.Calls(fakedataflow.MethodGetJob) != 5 {
		t.Errorf("not found: %v after %d calls", err, srv.Calls(fakedataflow.MethodGetJob))
	}
	// Launches are never retried by the decorator.
	srv.SetFault(fakedataflow.MethodLaunchFlexTemplate, fakedataflow.Fault{Code: codes.Unavailable, Count: 1})
	if _, err := api.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "b", Template: "gs://b/s.json"}); status.Code(err) != codes.Unavailable {
		t.Errorf("launch: %v", err)
	}
	if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 2 {
		t.Errorf("%d launch calls, want 2", n)
	}
	// A cancelled context stops the wait for a token.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	slow := dataflow.WithRateLimit(c, rate.NewLimiter(0.001, 1), nil)
	_, _ = slow.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "c", Template: "gs://b/s.json"})
	if _, err := slow.Launch(cctx, dataflow.LaunchRequest{}); err == nil {
		t.Errorf("rate-limited launch with a cancelled context: %v", err)
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	p := dataflow.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for n := 1; n <= 10; n++ {
		for i := 0; i < 50; i++ {
			d := p.Backoff(n)
			ceil := min(time.Second, 100*time.Millisecond<<(n-1))
			if d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %s, above %s", n, d, ceil)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits: no jitter?", len(seen))
	}
	if !dataflow.Transient(status.Error(codes.Unavailable, "")) || dataflow.Transient(status.Error(codes.AlreadyExists, "")) ||
		dataflow.Transient(errors.New("plain")) {
		t.Error("Transient misclassifies")
	}
	// A rate limit is worth a retry; the active jobs quota is not.
	rateLimit := status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'Job requests' and limit 'Job requests per minute per user'")
	if !dataflow.Transient(rateLimit) {
		t.Error("a rate limit is not retried")
	}
	ctx := context.Background()
	_, c := launchertest.Dataflow(t, fakedataflow.WithMaxActiveJobsPerProject(1))
	if _, err := c.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "a", Template: "gs://b/s.json"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "b", Template: "gs://b/s.json"})
	if status.Code(err) != codes.ResourceExhausted || dataflow.Transient(err) {
		t.Errorf("the active jobs quota: %v, transient %v; want RESOURCE_EXHAUSTED, not retried", err, dataflow.Transient(err))
	}
}

// A cancel of a job still starting is refused until it is ready, and retried; a cancel of
// a job that has terminated is done.
func TestCancelRetriesAStartingJob(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, c := launchertest.Dataflow(t, fakedataflow.WithClock(clock), fakedataflow.WithStartDelay(time.Minute))
	retries := 0
	api := dataflow.WithRetry(c, dataflow.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: time.Millisecond,
		OnRetry: func(int, error, time.Duration) { mu.Lock(); now = now.Add(20 * time.Second); retries++; mu.Unlock() }})
	j, err := api.Launch(ctx, dataflow.LaunchRequest{Project: "proj-a", Region: "europe-west1", JobName: "a", Template: "gs://b/s.json"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, "proj-a", "europe-west1", j.ID); !dataflow.NotReadyForCancel(err) {
		t.Fatalf("cancel of a queued job without retries: %v, want not yet ready for canceling", err)
	}
	got, err := api.Cancel(ctx, "proj-a", "europe-west1", j.ID)
	if err != nil || got.State != dataflow.StateCancelled || retries != 2 {
		t.Fatalf("cancel: %s %v after %d retries, want CANCELLED after 2 (QUEUED for 30s)", got.State, err, retries)
	}
	if _, err := c.Cancel(ctx, "proj-a", "europe-west1", j.ID); !dataflow.HasTerminated(err) {
		t.Errorf("cancel of a cancelled job without the decorator: %v, want Job has terminated", err)
	}
	if got, err := api.Cancel(ctx, "proj-a", "europe-west1", j.ID); err != nil || got.State != dataflow.StateCancelled || retries != 2 {
		t.Errorf("cancel of a cancelled job: %s %v, want done", got.State, err)
	}
}

// Launches are paced per project: a project's burst passes at once, the next launch waits
// for its pace; other projects are not held up.
func TestLaunchPacePerProject(t *testing.T) {
	ctx := context.Background()
	srv, c := launchertest.Dataflow(t)
	api := dataflow.WithLaunchPace(c, map[string]int{"proj-a": 2})
	req := func(project, name string) dataflow.LaunchRequest {
		return dataflow.LaunchRequest{Project: project, Region: "europe-west1", JobName: name, Template: "gs://b/s.json"}
	}
	for _, name := range []string{"a", "b"} {
		if _, err := api.Launch(ctx, req("proj-a", name)); err != nil {
			t.Fatalf("launch %s within the burst: %v", name, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := api.Launch(short, req("proj-a", "c")); err == nil {
		t.Error("third launch in a minute at 2/min went through at once")
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := api.Launch(short, req("proj-b", name)); err != nil {
			t.Errorf("unpaced project: %v", err)
		}
	}
	if n := srv.Calls(fakedataflow.MethodLaunchFlexTemplate); n != 5 {
		t.Errorf("%d launches reached Dataflow, want 5", n)
	}
}
