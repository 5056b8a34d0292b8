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
	var refs []JobRef
	for i, r := range res.Items {
		if r.Status == Started {
			pending = append(pending, i)
			refs = append(refs, JobRef{Project: r.Project, Region: r.Region, ID: r.JobID})
		}
	}
	if len(pending) == 0 {
		return nil
	}
	opts.Progress(Event{Kind: EventPhase, Phase: PhaseWait, Count: len(pending)})
	defer opts.Progress(Event{Kind: EventPhaseDone, Phase: PhaseWait})
	left, err := follow(ctx, api, refs, opts, func(k int, j dataflow.Job) bool {
		r := &res.Items[pending[k]]
		r.State = j.State
		switch {
		case j.State == dataflow.StateRunning:
			r.Status = Running
			opts.step(PhaseWait, *r)
		case !j.State.Active():
			r.Status, r.Error = Failed, fmt.Sprintf("job %s is %s", j.ID, j.State)
			if j.Error != "" {
				r.Error += ": " + j.Error
			}
			if j.Incompatible() {
				r.Incompatible = true
				r.Error += fmt.Sprintf(" (job %s runs on; deploy --allow-replace drains and replaces it)", j.Replaces)
			}
			opts.step(PhaseWait, *r)
		default:
			return false
		}
		return true
	})
	for _, k := range left {
		r := &res.Items[pending[k]]
		r.Status, r.Error = TimedOut, fmt.Sprintf("still %s after %s", r.State, opts.WaitTimeout)
	}
	return err
}

// ErrTimeout is returned by [WaitStopped] when the job has not stopped by the timeout.
var ErrTimeout = errors.New("timed out")

// WaitStopped follows one job until it has stopped (DONE, FAILED, CANCELLED, DRAINED,
// UPDATED), polling like a deploy's wait (opts.PollInterval on opts.Clock) for at most
// opts.WaitTimeout: the wait of a batch job, such as a backfill, and of a drain before a
// replace. seen, when set, is told of every read of the job. It returns the job as last
// read (from Get once it has stopped, so a FAILED job carries its error), and at the
// timeout an error wrapping ErrTimeout.
func WaitStopped(ctx context.Context, api dataflow.API, ref JobRef, opts Options, seen func(dataflow.Job)) (dataflow.Job, error) {
	opts = opts.WithDefaults()
	last := dataflow.Job{ID: ref.ID, Project: ref.Project, Region: ref.Region, State: dataflow.StateUnknown}
	left, err := follow(ctx, api, []JobRef{ref}, opts, func(_ int, j dataflow.Job) bool {
		last = j
		if seen != nil {
			seen(j)
		}
		return !j.State.Active()
	})
	switch {
	case err != nil:
		return last, err
	case len(left) > 0:
		return last, fmt.Errorf("job %s still %s after %s: %w", ref.ID, last.State, opts.WaitTimeout, ErrTimeout)
	}
	return last, nil
}

// follow polls jobs (States) every PollInterval until observe, given each job read, says
// it has settled, or WaitTimeout has passed on the Clock: the one poll loop of every wait.
// It returns the indexes into refs of the jobs still unsettled at the timeout (nil when
// all settled), and ctx's error when ctx ended. A failed poll is logged and repeated.
func follow(ctx context.Context, api dataflow.API, refs []JobRef, opts Options, observe func(k int, j dataflow.Job) bool) ([]int, error) {
	pending := make([]int, len(refs))
	for k := range refs {
		pending[k] = k
	}
	deadline := opts.Clock.Now().Add(opts.WaitTimeout)
	for {
		sub := make([]JobRef, len(pending))
		for n, k := range pending {
			sub[n] = refs[k]
		}
		states, err := States(ctx, api, sub)
		if err != nil {
			if ctx.Err() != nil {
				return pending, ctx.Err()
			}
			// A failed poll is not a failed job: the jobs it missed are polled again.
			opts.Logger.Warn("poll failed", "err", err)
		}
		var still []int
		for _, k := range pending {
			j, ok := states[refs[k].ID]
			if !ok || !observe(k, j) {
				still = append(still, k)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil, nil
		}
		now := opts.Clock.Now()
		if !now.Before(deadline) {
			return pending, nil
		}
		if err := opts.Clock.Sleep(ctx, min(opts.PollInterval, deadline.Sub(now))); err != nil {
			return pending, err
		}
	}
}
