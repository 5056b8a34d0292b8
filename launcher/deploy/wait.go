package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// JobRef names one job to read.
type JobRef struct {
	Project, Region, ID string
}

// States reads jobs the way a wait polls them: one listing of the active jobs per
// location, and a Get for each job no longer active. A job that could not be read is
// missing from the map, and the error joins what failed.
func States(ctx context.Context, api dataflow.API, jobs []JobRef) (map[string]dataflow.Job, error) {
	byLoc := map[plan.Location][]JobRef{}
	var locs []plan.Location
	for _, j := range jobs {
		l := plan.Location{Project: j.Project, Region: j.Region}
		if _, ok := byLoc[l]; !ok {
			locs = append(locs, l)
		}
		byLoc[l] = append(byLoc[l], j)
	}
	out := map[string]dataflow.Job{}
	var errs []error
	for _, l := range locs {
		active, err := api.List(ctx, dataflow.ListRequest{Project: l.Project, Region: l.Region, Filter: dataflow.Active})
		if err != nil {
			errs = append(errs, fmt.Errorf("list jobs in %s/%s: %w", l.Project, l.Region, err))
			continue
		}
		for _, j := range active {
			out[j.ID] = j
		}
		for _, ref := range byLoc[l] {
			if _, ok := out[ref.ID]; ok {
				continue
			}
			j, err := api.Get(ctx, ref.Project, ref.Region, ref.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("get job %s: %w", ref.ID, err))
				continue
			}
			out[j.ID] = j
		}
	}
	return out, errors.Join(errs...)
}

// wait polls until every started job is RUNNING, has stopped, or WaitTimeout has passed
// on the clock: the one wait of a deploy, a rollout's wave and a rollback.
func wait(ctx context.Context, api dataflow.API, res *Result, opts Options) error {
	var pending []int
	for i, r := range res.Items {
		if r.Status == Started {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	opts.Progress.Start("wait for RUNNING", len(pending))
	defer opts.Progress.Finish()
	deadline := opts.Clock.Now().Add(opts.WaitTimeout)
	for {
		refs := make([]JobRef, len(pending))
		for k, i := range pending {
			r := res.Items[i]
			refs[k] = JobRef{Project: r.Project, Region: r.Region, ID: r.JobID}
		}
		states, err := States(ctx, api, refs)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A failed poll is not a failed job: the jobs it missed are polled again.
			opts.Logger.Warn("poll failed", "err", err)
		}
		var still []int
		for _, i := range pending {
			r := &res.Items[i]
			j, ok := states[r.JobID]
			if !ok {
				still = append(still, i)
				continue
			}
			r.State = j.State
			switch {
			case j.State == dataflow.StateRunning:
				r.Status = Running
				opts.Progress.Step(r.JobName, "running", true)
			case !j.State.Active():
				r.Status, r.Error = Failed, fmt.Sprintf("job %s is %s", j.ID, j.State)
				if j.Error != "" {
					r.Error += ": " + j.Error
				}
				if j.Incompatible() {
					r.Incompatible = true
					r.Error += fmt.Sprintf(" (job %s runs on; deploy --allow-replace drains and replaces it)", j.Replaces)
				}
				opts.Progress.Step(r.JobName, string(j.State), false)
			default:
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		now := opts.Clock.Now()
		if !now.Before(deadline) {
			for _, i := range pending {
				r := &res.Items[i]
				r.Status, r.Error = TimedOut, fmt.Sprintf("still %s after %s", r.State, opts.WaitTimeout)
			}
			return nil
		}
		if err := opts.Clock.Sleep(ctx, min(opts.PollInterval, deadline.Sub(now))); err != nil {
			return err
		}
	}
}
