package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"golang.org/x/sync/errgroup"
)

// withStatus returns the items in status st.
func withStatus(items []*Item, st Status) []*Item {
	var out []*Item
	for _, it := range items {
		if it.Status == st {
			out = append(out, it)
		}
	}
	return out
}

// waitRunning polls until every item's job runs, stops or the start timeout passes;
// those that do not run are marked failed.
func (r *runner) waitRunning(ctx context.Context, items []*Item) {
	deadline := r.opts.Clock.Now().Add(r.opts.StartTimeout)
	pending := slices.Clone(items)
	for len(pending) > 0 {
		states, err := r.states(ctx, pending)
		if err != nil {
			r.opts.Logger.Warn("poll failed", "err", err)
		}
		var still, replace []*Item
		for _, it := range pending {
			j, ok := states[it.JobID]
			switch {
			case !ok:
				still = append(still, it)
			case j.State == dataflow.StateRunning:
				it.since = j.StateTime
			case j.Incompatible() && it.Action == string(plan.Update):
				// Dataflow accepted the update, then found it not compatible: the old
				// job runs on.
				if !r.opts.AllowReplace {
					it.Status, it.Error = Incompatible, fmt.Sprintf("update not compatible, job %s left running: %s", j.Replaces, j.Error)
					continue
				}
				replace = append(replace, it)
			case !j.State.Active():
				it.Status, it.Error = Failed, fmt.Sprintf("job %s is %s", j.ID, j.State)
			default:
				still = append(still, it)
			}
		}
		if len(replace) > 0 {
			var g errgroup.Group
			g.SetLimit(r.opts.Parallelism)
			for _, it := range replace {
				g.Go(func() error { r.replace(ctx, it.planned, it); return nil })
			}
			_ = g.Wait()
			still = append(still, withStatus(replace, Upgraded)...)
			if d := r.opts.Clock.Now().Add(r.opts.StartTimeout); d.After(deadline) {
				deadline = d
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		if r.opts.Clock.Now().After(deadline) || ctx.Err() != nil {
			for _, it := range pending {
				it.Status, it.Error = Failed, fmt.Sprintf("not RUNNING after %s", r.opts.StartTimeout)
			}
			return
		}
		if r.opts.Clock.Sleep(ctx, r.opts.PollInterval) != nil {
			continue
		}
	}
}

// states reads the jobs of items: one listing per location, and a Get for each job no
// longer active.
func (r *runner) states(ctx context.Context, items []*Item) (map[string]dataflow.Job, error) {
	byLoc := map[plan.Location][]*Item{}
	for _, it := range items {
		l := plan.Location{Project: it.Project, Region: it.Region}
		byLoc[l] = append(byLoc[l], it)
	}
	out := map[string]dataflow.Job{}
	var errs []error
	for l, its := range byLoc {
		jobs, err := r.api.List(ctx, dataflow.ListRequest{Project: l.Project, Region: l.Region, Filter: dataflow.Active})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, j := range jobs {
			out[j.ID] = j
		}
		for _, it := range its {
			if _, ok := out[it.JobID]; !ok {
				j, err := r.api.Get(ctx, it.Project, it.Region, it.JobID)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out[j.ID] = j
			}
		}
	}
	return out, errors.Join(errs...)
}

// soak watches every job upgraded so far for the soak time and stops the rollout at
// the first failed check.
