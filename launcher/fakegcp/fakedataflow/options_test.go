package fakedataflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"google.golang.org/grpc/codes"
)

// The options and setters not used elsewhere, one behaviour each.
func TestOptions(t *testing.T) {
	ctx := context.Background()
	const proj, region = "proj-a", "europe-west1"
	t.Run("cancel delay", func(t *testing.T) {
		_, c, clk := start(t, fakedataflow.WithCancelDelay(time.Minute))
		j := running(t, c, clk, "a")
		if got, err := c.Cancel(ctx, proj, region, j.ID); err != nil || got.State != dataflow.StateCancelling {
			t.Fatalf("cancel: %s %v, want CANCELLING", got.State, err)
		}
		clk.Add(59 * time.Second)
		if got := get(t, c, j.ID); got.State != dataflow.StateCancelling {
			t.Errorf("before the delay: %s, want CANCELLING", got.State)
		}
		clk.Add(time.Second)
		if got := get(t, c, j.ID); got.State != dataflow.StateCancelled {
			t.Errorf("after the delay: %s, want CANCELLED", got.State)
		}
	})
	t.Run("drain delay set on a running server", func(t *testing.T) {
		srv, c, clk := start(t)
		j := running(t, c, clk, "a")
		srv.SetDrainDelay(time.Minute)
		if got, err := c.Drain(ctx, proj, region, j.ID); err != nil || got.State != dataflow.StateDraining {
			t.Fatalf("drain: %s %v, want DRAINING", got.State, err)
		}
		clk.Add(time.Minute)
		if got := get(t, c, j.ID); got.State != dataflow.StateDrained {
			t.Errorf("after the delay: %s, want DRAINED", got.State)
		}
	})
	t.Run("project quota", func(t *testing.T) {
		srv, c, _ := start(t, fakedataflow.WithProjectQuota(proj, 1))
		if _, err := c.Launch(ctx, launch("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Launch(ctx, launch("b")); code(err) != codes.ResourceExhausted {
			t.Errorf("second job with a quota of 1: %v, want RESOURCE_EXHAUSTED", err)
		}
		other := launch("b")
		other.Project = "proj-b" // the default quota, 25
		if _, err := c.Launch(ctx, other); err != nil {
			t.Errorf("another project: %v", err)
		}
		srv.SetProjectQuota(proj, 2)
		if _, err := c.Launch(ctx, launch("b")); err != nil {
			t.Errorf("after raising the quota to 2: %v", err)
		}
	})
	t.Run("clock replaced", func(t *testing.T) {
		srv, c, _ := start(t, fakedataflow.WithStartDelay(time.Minute))
		j, err := c.Launch(ctx, launch("a"))
		if err != nil {
			t.Fatal(err)
		}
		later := time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC)
		srv.SetTimeNow(func() time.Time { return later })
		if got := get(t, c, j.ID); got.State != dataflow.StateRunning || !got.StateTime.Equal(time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC)) {
			t.Errorf("on the new clock: %s since %s, want RUNNING since 12:01", got.State, got.StateTime)
		}
	})
	t.Run("faults added in order", func(t *testing.T) {
		srv, c, _ := start(t)
		srv.AddFault(fakedataflow.MethodGetJob, fakedataflow.Fault{Code: codes.Unavailable, Count: 1})
		srv.AddFault(fakedataflow.MethodGetJob, fakedataflow.Fault{Code: codes.Internal, Count: 1})
		var got []codes.Code
		for range 3 {
			_, err := c.Get(ctx, proj, region, "missing")
			got = append(got, code(err))
		}
		if want := []codes.Code{codes.Unavailable, codes.Internal, codes.NotFound}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("codes %v, want %v", got, want)
		}
		if n := srv.FaultsFired(fakedataflow.MethodGetJob); n != 2 {
			t.Errorf("%d faults fired, want 2", n)
		}
	})
}
