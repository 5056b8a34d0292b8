package fakedataflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dfapi "cloud.google.com/go/dataflow/apiv1beta3"
	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// rawJobs is Google's own jobs client on the fake, for requests the launcher's client
// never sends.
func rawJobs(t *testing.T, srv *fakedataflow.Server) *dfapi.JobsV1Beta3Client {
	t.Helper()
	c, err := dfapi.NewJobsV1Beta3Client(context.Background(), gcpclient.Options(srv.Addr, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSetWorkers: the autoscaling bounds of a running Streaming Engine job change in
// place, through UpdateJob with an update mask, and are refused where Dataflow refuses.
func TestSetWorkers(t *testing.T) {
	ctx := context.Background()
	const proj, region = "proj-a", "europe-west1"
	running := func(t *testing.T, c *dataflow.Client) dataflow.Job {
		req := launch("play-track")
		req.Environment.MaxWorkers = 10
		j, err := c.Launch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	t.Run("in place", func(t *testing.T) {
		srv, c, _ := start(t)
		j := running(t, c)
		got, err := c.SetWorkers(ctx, proj, region, j.ID, dataflow.Workers{Max: 20, Min: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != j.ID || got.State != dataflow.StateRunning || got.Workers != (dataflow.Workers{Max: 20, Min: 2}) {
			t.Errorf("SetWorkers: %s %s %+v, want the same job RUNNING with {20 2}", got.ID, got.State, got.Workers)
		}
		read, _ := c.Get(ctx, proj, region, j.ID)
		if read.Workers != (dataflow.Workers{Max: 20, Min: 2}) || !read.StreamingEngine {
			t.Errorf("GetJob after SetWorkers: %+v streaming engine %v", read.Workers, read.StreamingEngine)
		}
		if n := len(srv.Jobs()); n != 1 {
			t.Errorf("%d jobs, want 1: an in-place change launches none", n)
		}
		if pool := srv.Jobs()[0].Job.GetEnvironment().GetWorkerPools()[0]; pool.GetAutoscalingSettings().GetMaxNumWorkers() != 20 {
			t.Errorf("worker pool max %d, want 20", pool.GetAutoscalingSettings().GetMaxNumWorkers())
		}
	})
	t.Run("one bound keeps the other", func(t *testing.T) {
		_, c, _ := start(t)
		j := running(t, c)
		if _, err := c.SetWorkers(ctx, proj, region, j.ID, dataflow.Workers{Min: 3}); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Get(ctx, proj, region, j.ID); got.Workers != (dataflow.Workers{Max: 10, Min: 3}) {
			t.Errorf("after min only: %+v, want {10 3}", got.Workers)
		}
	})
	refusals := []struct {
		name string
		req  func(id string) *dataflowpb.UpdateJobRequest
		code codes.Code
		msg  string
	}{
		{"min above max", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{MinNumWorkers: proto.Int32(11)}, fakedataflow.MaskMinNumWorkers)
		}, codes.InvalidArgument, "greater than max_num_workers"},
		{"max over 1000", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{MaxNumWorkers: proto.Int32(1001)}, fakedataflow.MaskMaxNumWorkers)
		}, codes.InvalidArgument, "outside [1, 1000]"},
		{"max zero", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{MaxNumWorkers: proto.Int32(0)}, fakedataflow.MaskMaxNumWorkers)
		}, codes.InvalidArgument, "outside [1, 1000]"},
		{"path not updatable", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{}, "labels")
		}, codes.InvalidArgument, `update_mask path "labels" cannot be updated`},
		{"path in mask without value", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{}, fakedataflow.MaskMaxNumWorkers)
		}, codes.InvalidArgument, "in the update mask but not set"},
		{"hint out of range", func(id string) *dataflowpb.UpdateJobRequest {
			return maskReq(id, &dataflowpb.RuntimeUpdatableParams{WorkerUtilizationHint: proto.Float64(0.95)}, fakedataflow.MaskWorkerUtilizationHint)
		}, codes.InvalidArgument, "outside [0.1, 0.9]"},
		{"state and mask together", func(id string) *dataflowpb.UpdateJobRequest {
			r := maskReq(id, &dataflowpb.RuntimeUpdatableParams{MaxNumWorkers: proto.Int32(5)}, fakedataflow.MaskMaxNumWorkers)
			r.Job.RequestedState = dataflowpb.JobState_JOB_STATE_DRAINED
			return r
		}, codes.InvalidArgument, "cannot be given together"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, _ := start(t)
			j := running(t, c)
			_, err := rawJobs(t, srv).UpdateJob(ctx, tc.req(j.ID))
			if code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("UpdateJob: %v, want %s with %q", err, tc.code, tc.msg)
			}
			if got, _ := c.Get(ctx, proj, region, j.ID); got.Workers != (dataflow.Workers{Max: 10}) || got.State != dataflow.StateRunning {
				t.Errorf("after a refused update: %+v %s, want {10 0} RUNNING", got.Workers, got.State)
			}
		})
	}
	t.Run("starting job", func(t *testing.T) {
		_, c, _ := start(t, fakedataflow.WithStartDelay(time.Minute))
		j := running(t, c)
		if _, err := c.SetWorkers(ctx, proj, region, j.ID, dataflow.Workers{Max: 20}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "only be updated for a running job") {
			t.Errorf("SetWorkers of a QUEUED job: %v, want FAILED_PRECONDITION", err)
		}
	})
	t.Run("terminated job", func(t *testing.T) {
		_, c, _ := start(t)
		j := running(t, c)
		if _, err := c.Cancel(ctx, proj, region, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetWorkers(ctx, proj, region, j.ID, dataflow.Workers{Max: 20}); !dataflow.HasTerminated(err) {
			t.Errorf("SetWorkers of a cancelled job: %v, want FAILED_PRECONDITION Job has terminated", err)
		}
	})
	t.Run("not streaming engine", func(t *testing.T) {
		srv, _, _ := start(t)
		flex, err := dfapi.NewFlexTemplatesClient(ctx, gcpclient.Options(srv.Addr, nil)...)
		if err != nil {
			t.Fatal(err)
		}
		defer flex.Close()
		resp, err := flex.LaunchFlexTemplate(ctx, &dataflowpb.LaunchFlexTemplateRequest{ProjectId: proj, Location: region,
			LaunchParameter: &dataflowpb.LaunchFlexTemplateParameter{JobName: "appliance",
				Template:    &dataflowpb.LaunchFlexTemplateParameter_ContainerSpecGcsPath{ContainerSpecGcsPath: "gs://b/t/spec.json"},
				Environment: &dataflowpb.FlexTemplateRuntimeEnvironment{MaxWorkers: 10}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = rawJobs(t, srv).UpdateJob(ctx, maskReq(resp.GetJob().GetId(), &dataflowpb.RuntimeUpdatableParams{MaxNumWorkers: proto.Int32(20)}, fakedataflow.MaskMaxNumWorkers))
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Streaming Engine") {
			t.Errorf("UpdateJob of a job without Streaming Engine: %v, want FAILED_PRECONDITION", err)
		}
	})
}

func maskReq(id string, p *dataflowpb.RuntimeUpdatableParams, paths ...string) *dataflowpb.UpdateJobRequest {
	return &dataflowpb.UpdateJobRequest{ProjectId: "proj-a", Location: "europe-west1", JobId: id,
		Job: &dataflowpb.Job{RuntimeUpdatableParams: p}, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}
}

// AggregatedListJobs lists a project's jobs in every location and refuses a name filter.
func TestAggregatedListJobs(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := start(t)
	for _, region := range []string{"europe-west1", "us-central1"} {
		req := launch("a")
		req.Region = region
		if _, err := c.Launch(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	other := launch("b")
	other.Project = "proj-b"
	if _, err := c.Launch(ctx, other); err != nil {
		t.Fatal(err)
	}
	raw := rawJobs(t, srv)
	it := raw.AggregatedListJobs(ctx, &dataflowpb.ListJobsRequest{ProjectId: "proj-a"})
	jobs, err := gcpclient.Collect(it.Next)
	if err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, j := range jobs {
		locs = append(locs, j.GetLocation())
	}
	if strings.Join(locs, ",") != "us-central1,europe-west1" {
		t.Errorf("aggregated list of proj-a: %v, want us-central1,europe-west1 (newest first, one project)", locs)
	}
	name := "a"
	if _, err := raw.AggregatedListJobs(ctx, &dataflowpb.ListJobsRequest{ProjectId: "proj-a", Name: &name}).Next(); code(err) != codes.InvalidArgument {
		t.Errorf("aggregated list by name: %v, want INVALID_ARGUMENT", err)
	}
}
