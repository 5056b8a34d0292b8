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
	states := func() (dataflow.Job, dataflow.Job) {
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
	l, b := states()
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
	clk.Add(5 * time.Second)
	if _, b = states(); b.State != dataflow.StatePending {
		t.Errorf("after 5s: backfill %s, want PENDING", b.State)
	}
	clk.Add(5 * time.Second)
	if _, b = states(); b.State != dataflow.StateRunning {
		t.Errorf("after 10s: backfill %s, want RUNNING", b.State)
	}
	if _, err := c.Drain(ctx, "proj-a", "europe-west1", bf.ID); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "only streaming jobs can be drained") {
		t.Errorf("drain of a batch job: %v, want FAILED_PRECONDITION", err)
	}
	clk.Add(time.Minute - time.Millisecond)
	if _, b = states(); b.State != dataflow.StateRunning {
		t.Errorf("just before its run time: backfill %s, want RUNNING", b.State)
	}
	clk.Add(time.Millisecond)
	l, b = states()
	if b.State != dataflow.StateDone || !b.StateTime.Equal(clk.Now()) || l.State != dataflow.StateRunning {
		t.Errorf("after its run time: backfill %s at %s, live %s; want DONE at %s, live RUNNING", b.State, b.StateTime, l.State, clk.Now())
	}
	listed, err := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Active})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != live.ID || listed[0].Batch {
		t.Errorf("active jobs after the backfill: %+v, want the live job only", listed)
	}
	all, err := c.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.Terminated})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != bf.ID || !all[0].Batch {
		t.Errorf("terminated jobs: %+v, want the backfill, listed as batch", all)
	}

	// A second batch job fails while it runs.
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
}
