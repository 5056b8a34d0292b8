package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"google.golang.org/grpc/status"
)

// changeInPlace carries out a plan.InPlace item: it sets the running job's worker bounds
// to the fleet's (Dataflow's runtime-updatable parameters), with the retry policy of
// launches; no job is launched and the job keeps its id.
func changeInPlace(ctx context.Context, api dataflow.API, it plan.Item, r *ItemResult, opts Options) {
	policy := opts.Retry
	policy.OnRetry = func(attempt int, err error, wait time.Duration) {
		opts.Logger.Warn("worker change failed, retrying", "job", it.JobName, "attempt", attempt, "code", status.Code(err).String(), "wait", wait.Round(time.Millisecond))
	}
	var job dataflow.Job
	err := policy.Do(ctx, func(ctx context.Context) (err error) {
		r.Attempts++
		job, err = api.SetWorkers(ctx, it.Project, it.Region, it.Current.ID, dataflow.Workers{Max: it.Desired.Environment.MaxWorkers})
		return err
	})
	if err != nil {
		r.Status, r.Error, r.Err = Failed, fmt.Sprintf("deploy %s: change workers of %s in place: %v", it.EventType, it.Current.ID, err), err
		opts.Logger.Error("worker change failed", "job", it.JobName, "id", it.Current.ID, "attempts", r.Attempts, "err", err)
		return
	}
	r.Status, r.JobID, r.State = Started, job.ID, job.State
	if job.State == dataflow.StateRunning {
		r.Status = Running
	}
}
