package fakedataflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"google.golang.org/grpc/codes"
)

// A job launched with the batch parameter is a batch job: QUEUED, PENDING, RUNNING for
// its run time, then DONE, releasing its name; it cannot be drained and ignores
// Streaming Engine. A job without the parameter stays a streaming job. A batch job can
// fail while it runs, with its error in its messages.
func TestBatchJobs(t *testing.T) {
	ctx := context.Background()
	srv, c, clk := start(t, fakedataflow.WithStartDelay(10*time.Second), fakedataflow.WithBatchParameter("input"),
		fakedataflow.WithBatchRunTime(time.Minute))
	live, err := c.Launch(ctx, launch("play-track"))
	if err != nil {
		t.Fatal(err)
	}
	req := launch("play-track-backfill")
	req.Parameters["input"] = "gs://archive/play-track/*.avro"
	req.Batch = true
	bf, err := c.Launch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	states := func(t *testing.T) (dataflow.Job, dataflow.Job) {
		t.Helper()
		l, err := c.Get(ctx, "proj-a", "europe-west1", live.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Get(ctx, "proj-a", "europe-west1", bf.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l, b
	}
	// The clock moves here, outside the steps: each step looks at one moment.
	t.Run("launched, a batch job is QUEUED without Streaming Engine, the other streaming", func(t *testing.T) {
		l, b := states(t)
		if l.Batch || !b.Batch || b.State != dataflow.StateQueued || b.StreamingEngine {
			t.Errorf("after launch: live batch=%v; backfill batch=%v %s streaming engine=%v, want a streaming and a QUEUED batch job without Streaming Engine",
				l.Batch, b.Batch, b.State, b.StreamingEngine)
		}
		for _, s := range srv.Jobs() {
			want := map[string]dataflowpb.JobType{live.ID: dataflowpb.JobType_JOB_TYPE_STREAMING, bf.ID: dataflowpb.JobType_JOB_TYPE_BATCH}[s.Job.Id]
			if s.Job.Type != want {
				t.Errorf("job %s is %s, want %s", s.Job.Name, s.Job.Type, want)
			}
		}
	})
	clk.Add(5 * time.Second)
	t.Run("PENDING after 5s", func(t *testing.T) {
		if _, b := states(t); b.State != dataflow.StatePending {
			t.Errorf("after 5s: backfill %s, want PENDING", b.State)
		}
	})
	clk.Add(5 * time.Second)
	t.Run("RUNNING after 10s", func(t *testing.T) {
		if _, b := states(t); b.State != dataflow.StateRunning {
			t.Errorf("after 10s: backfill %s, want RUNNING", b.State)
		}
	})
	t.Run("a batch job cannot be drained", func(t *testing.T) {
		if _, err := c.Drain(ctx, "proj-a", "europe-west1", bf.ID); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "only streaming jobs can be drained") {
			t.Errorf("drain of a batch job: %v, want FAILED_PRECONDITION", err)
		}
	})
	clk.Add(time.Minute - time.Millisecond)
	t.Run("RUNNING just before its run time", func(t *testing.T) {
		if _, b := states(t); b.State != dataflow.StateRunning {
			t.Errorf("just before its run time: backfill %s, want RUNNING", b.State)
		}
	})
	clk.Add(time.Millisecond)
	t.Run("DONE after its run time, the live job running on", func(t *testing.T) {
		l, b := states(t)
		if b.State != dataflow.StateDone || !b.StateTime.Equal(clk.Now()) || l.State != dataflow.StateRunning {
			t.Errorf("after its run time: backfill %s at %s, live %s; want DONE at %s, live RUNNING", b.State, b.StateTime, l.State, clk.Now())
		}
	})
	t.Run("the active jobs are the live job only", func(t *testing.T) {
		listed, err := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Active})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 || listed[0].ID != live.ID || listed[0].Batch {
			t.Errorf("active jobs after the backfill: %+v, want the live job only", listed)
		}
	})
	t.Run("the terminated jobs list the backfill as batch", func(t *testing.T) {
		all, err := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Terminated})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].ID != bf.ID || !all[0].Batch {
			t.Errorf("terminated jobs: %+v, want the backfill, listed as batch", all)
		}
	})

	t.Run("a second batch job, under the freed name, fails while it runs with its error", func(t *testing.T) {
		srv.SetBatchRunTime(time.Hour)
		again, err := c.Launch(ctx, req) // the name is free again
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(10 * time.Second)
		if err := srv.FailJob(again.ID); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
		j, err := c.Get(ctx, "proj-a", "europe-west1", again.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != dataflow.StateFailed || !strings.Contains(j.Error, "Workflow failed") {
			t.Errorf("failed batch job: %s %q, want FAILED with its error", j.State, j.Error)
		}
	})
}
