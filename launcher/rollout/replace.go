package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// launch updates in place, or creates; on an incompatible update it replaces the job
// when allowed.
func (r *runner) launch(ctx context.Context, it plan.Item, out *Item) {
	if it.Action == plan.Replace {
		r.replace(ctx, it, out)
		return
	}
	dopts := r.launchOptions()
	res := deploy.Launch(ctx, r.api, it, dopts)
	if res.Status != deploy.Failed {
		out.Status, out.JobID = Upgraded, res.JobID
		out.created = it.Action != plan.Update
		return
	}
	if it.Action != plan.Update || !IsIncompatible(res.Err) {
		out.Status, out.Error = Failed, res.Error
		return
	}
	if !r.opts.AllowReplace {
		out.Status, out.Error = Incompatible, fmt.Sprintf("update rejected as incompatible, job %s left running: %v", it.Current.ID, grpcstatus.Convert(res.Err).Message())
		return
	}
	r.replace(ctx, it, out)
}

func (r *runner) launchOptions() deploy.Options {
	return deploy.Options{Parallelism: 1, Retry: r.opts.Retry, RunID: r.runID, Logger: r.opts.Logger}
}

// replace drains the item's running job, waits until it stopped and launches the new one
// under the same name.
func (r *runner) replace(ctx context.Context, it plan.Item, out *Item) {
	out.Action, out.JobID = "replace", ""
	if err := r.drain(ctx, it.Current); err != nil {
		out.Status, out.Error = Failed, err.Error()
		return
	}
	it.Action = plan.Recreate
	res := deploy.Launch(ctx, r.api, it, r.launchOptions())
	if res.Status == deploy.Failed {
		out.Status, out.Error = Failed, fmt.Sprintf("drained %s, then: %s", it.Current.ID, res.Error)
		return
	}
	out.Status, out.JobID = Upgraded, res.JobID
}

// IsIncompatible reports whether a launch error is Dataflow rejecting an in-place
// update because the new job graph is not compatible with the running one.
func IsIncompatible(err error) bool {
	st, ok := grpcstatus.FromError(err)
	if !ok || (st.Code() != codes.FailedPrecondition && st.Code() != codes.InvalidArgument) {
		return false
	}
	return strings.Contains(strings.ToLower(st.Message()), "not compatible")
}

// drain drains a job and waits until it has stopped.
func (r *runner) drain(ctx context.Context, j *dataflow.Job) error {
	fmt.Fprintf(r.opts.Progress, "  %s: update incompatible; draining %s before launching its replacement\n", j.Name, j.ID)
	// FAILED_PRECONDITION: it is draining or stopped already; the wait below tells.
	if _, err := r.api.Drain(ctx, j.Project, j.Region, j.ID); err != nil && grpcstatus.Code(err) != codes.FailedPrecondition {
		return fmt.Errorf("drain %s: %w", j.ID, err)
	}
	deadline := r.opts.Clock.Now().Add(r.opts.DrainTimeout)
	for {
		got, err := r.api.Get(ctx, j.Project, j.Region, j.ID)
		if err == nil && !got.State.Active() {
			if got.State != dataflow.StateDrained {
				return fmt.Errorf("drain %s: job is %s", j.ID, got.State)
			}
			return nil
		}
		if r.opts.Clock.Now().After(deadline) {
			return fmt.Errorf("drain %s: still %s after %s", j.ID, got.State, r.opts.DrainTimeout)
		}
		if err := r.opts.Clock.Sleep(ctx, r.opts.PollInterval); err != nil {
			return err
		}
	}
}

// withStatus returns the items in status st.
