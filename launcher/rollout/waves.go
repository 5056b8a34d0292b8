package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// Run rolls the fleet out wave by wave. It returns a *deploy.BlockedError before any
// call when the plan has blocked items (unless SkipBlocked), a *RolledBackError when the
// version was rolled back before (unless Force), a *GateError when a gate failed and
// the upgraded jobs were rolled back, an *IncompatibleError when jobs were left on their
// old version; with a Result in every case but the first two.
func Run(ctx context.Context, api dataflow.API, f *fleet.Fleet, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	start := opts.Clock.Now()
	if err := opts.checkNoWait(f); err != nil {
		return nil, err
	}
	obs, err := plan.Observe(ctx, api, f, opts.Parallelism)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	p := plan.Compute(f, obs, plan.Options{AllowReplace: opts.AllowReplace})
	if err := deploy.CheckBlocked(p, opts.SkipBlocked); err != nil {
		return nil, err
	}
	res := &Result{Fleet: f.Name, Version: f.Version}
	items := map[string]plan.Item{}
	var rolledBack []string
	for _, it := range p.Items {
		items[it.EventType] = it
		if it.Action == plan.Update && it.Current.Labels[fleet.LabelRolledBackFrom] == fleet.LabelSafe(it.Version) {
			rolledBack = append(rolledBack, it.JobName)
		}
	}
	if len(rolledBack) > 0 && !opts.Force {
		return nil, &RolledBackError{Version: f.Version, Jobs: rolledBack}
	}
	changed, err := changeInPlace(ctx, api, p, opts, deploy.NewRunID(opts.Clock.Now()))
	res.Items = append(res.Items, changed...)
	if err != nil {
		res.ID, res.Outcome = cmp.Or(opts.ID, deploy.NewRunID(opts.Clock.Now())), "stopped"
		res.Elapsed = opts.Clock.Now().Sub(start)
		return res, err
	}

	// Jobs this rollout already upgraded (an interrupted run): newest rollout id of the
	// fleet's jobs that run their target and name a previous version.
	// It is the same rollout when a job still to update runs the version those jobs
	// replaced; a finished rollout followed by a configuration change is not resumed.
	var done []*Item
	prevs := map[string]map[string]bool{}
	for _, it := range p.Items {
		c := it.Current
		if it.Action != plan.Unchanged || c == nil || c.Labels[fleet.LabelRolloutID] == "" || c.Labels[fleet.LabelPreviousVersion] == "" {
			continue
		}
		id := c.Labels[fleet.LabelRolloutID]
		if prevs[id] == nil {
			prevs[id] = map[string]bool{}
		}
		prevs[id][c.Labels[fleet.LabelPreviousVersion]] = true
	}
	ids := map[string]bool{}
	pending := 0
	for _, it := range p.Items {
		if !changes(it.Action) {
			continue
		}
		pending++
		if it.Action == plan.Update {
			for id, pv := range prevs {
				if pv[it.Current.Labels[fleet.LabelTemplateVersion]] {
					ids[id] = true
				}
			}
		}
	}
	res.ID = opts.ID
	if len(ids) > 0 && pending > 0 {
		res.ID = slices.Max(slices.Collect(maps.Keys(ids)))
		res.Resumed = true
	}
	if res.ID == "" {
		res.ID = deploy.NewRunID(opts.Clock.Now())
	}
	if pending == 0 {
		res.Outcome = "no changes"
		if len(changed) > 0 {
			res.Outcome = "changed in place"
		}
		res.Elapsed = opts.Clock.Now().Sub(start)
		return res, nil
	}
	r := &runner{api: api, f: f, opts: opts, res: res, runID: deploy.NewRunID(opts.Clock.Now())}
	res.RunID = r.runID
	// Soaking protects running jobs from a bad version. When nothing runs yet (every change
	// creates or recreates a job), there is nothing to protect or roll back to: the waves
	// are checked once, without a soak.
	r.nothingToProtect = !res.Resumed && !slices.ContainsFunc(p.Items, func(it plan.Item) bool { return it.Action == plan.Update })

	waves := f.Waves()
	waveOf := map[string]int{}
	for i, names := range waves {
		_, canaries := f.Order()
		name := fmt.Sprintf("wave %d/%d", i+1, len(waves))
		if i == 0 && canaries > 0 {
			name += " (canaries)"
		}
		res.Waves = append(res.Waves, Wave{Index: i + 1, Name: name, EventTypes: names, Outcome: "not started"})
		for _, n := range names {
			waveOf[n] = i + 1
		}
	}
	if res.Resumed {
		for _, it := range p.Items {
			c := it.Current
			if it.Action == plan.Unchanged && c.Labels[fleet.LabelRolloutID] == res.ID && c.Labels[fleet.LabelPreviousVersion] != "" {
				up := itemOf(it, waveOf[it.EventType], plan.Update, Upgraded)
				up.JobID, up.From, up.prevKnown = c.ID, fleet.DecodeVersionLabel(c.Labels[fleet.LabelPreviousVersion]), true
				done = append(done, up)
			}
		}
		opts.Progress(Event{Kind: EventResume, Rollout: res.ID, Count: len(done)})
		r.watched = done
		if opts.NoWait {
			// Nothing is soaked without waiting (a rollout of one wave without soak).
		} else if gerr := r.soak(ctx, "resumed rollout"); gerr != nil {
			return r.finish(start, gerr)
		}
	} else {
		opts.Progress(Event{Kind: EventStart, Rollout: res.ID, Count: pending, Waves: len(waves), Soak: r.soakTime()})
	}
	var incompatible []string
	for i, names := range waves {
		w := &res.Waves[i]
		var todo []plan.Item
		for _, n := range names {
			if it := items[n]; changes(it.Action) {
				todo = append(todo, it)
			}
		}
		w.Changed = len(todo)
		if len(todo) == 0 {
			w.Outcome = "skipped"
			opts.Progress(Event{Kind: EventWaveSkipped, Wave: w.Name, Of: len(names)})
			continue
		}
		opts.Progress(Event{Kind: EventWave, Wave: w.Name, Count: len(todo), Of: len(names)})
		launched := r.upgrade(ctx, todo, i+1)
		if ctx.Err() != nil {
			return r.finish(start, ctx.Err())
		}
		var failed []string
		for _, it := range launched {
			switch it.Status {
			case Incompatible:
				incompatible = append(incompatible, it.JobName)
			case Failed, TimedOut:
				failed = append(failed, it.JobName+": "+it.Error)
			}
		}
		if len(failed) > 0 {
			w.Outcome, w.Problems = "gate failed", failed
			return r.finish(start, r.stop(ctx, w.Name, failed))
		}
		if opts.NoWait {
			w.Outcome = "started"
			continue
		}
		if gerr := r.soak(ctx, w.Name); gerr != nil {
			w.Outcome = "gate failed"
			var ge *GateError
			if errors.As(gerr, &ge) {
				w.Problems = ge.Problems
			}
			return r.finish(start, gerr)
		}
		w.Outcome = "healthy"
	}
	if len(incompatible) > 0 {
		res.Outcome, res.Reason = "stopped", fmt.Sprintf("%d jobs left on their old version (incompatible update)", len(incompatible))
		return r.finish(start, &IncompatibleError{Jobs: incompatible})
	}
	res.Outcome = "complete"
	if opts.NoWait {
		res.Outcome = "started"
	}
	return r.finish(start, nil)
}

func changes(a plan.Action) bool {
	return a == plan.Update || a == plan.Create || a == plan.Recreate || a == plan.Replace
}

type runner struct {
	// nothingToProtect: no job of the fleet runs a version this rollout replaces.
	nothingToProtect bool
	api              dataflow.API
	f                *fleet.Fleet
	opts             Options
	res              *Result
	watched          []*Item
	// runID is passed to every job this run launches (run_id): file names carry it, so
	// a job and the one it replaces never write the same file.
	runID string
}

func (r *runner) soakTime() time.Duration {
	if r.nothingToProtect {
		return 0
	}
	if r.opts.Soak > 0 {
		return r.opts.Soak
	}
	if r.f.Rollout != nil {
		return r.f.Rollout.Soak
	}
	// Without a rollout: block the fleet is one wave, checked once.
	return 0
}

func (r *runner) finish(start time.Time, err error) (*Result, error) {
	r.res.Elapsed = r.opts.Clock.Now().Sub(start)
	var ge *GateError
	switch {
	case errors.As(err, &ge):
		r.res.Outcome, r.res.Reason = "rolled back", strings.Join(ge.Problems, "; ")
	case err != nil && r.res.Outcome == "":
		r.res.Outcome, r.res.Reason = "stopped", err.Error()
	}
	slices.SortStableFunc(r.res.Items, func(a, b deploy.ItemResult) int { return a.Wave - b.Wave })
	return r.res, err
}

// previous returns the encoded version the current job runs, for its successor's
// previous-version label.
func previous(c *dataflow.Job) string {
	if c == nil {
		return ""
	}
	return c.Labels[fleet.LabelTemplateVersion]
}

// upgrade launches one wave and waits for its jobs to run.
func (r *runner) upgrade(ctx context.Context, todo []plan.Item, wave int) []*Item {
	items := make([]plan.Item, len(todo))
	out := make([]*Item, len(todo))
	for i, it := range todo {
		items[i], out[i] = r.prepare(it, wave)
	}
	r.apply(ctx, items, out)
	for _, it := range out {
		r.res.Items = append(r.res.Items, it.ItemResult)
		if it.JobID != "" && it.Status != Incompatible {
			// Launched: watched, and rolled back on a failed gate, even when it did not
			// start.
			r.watched = append(r.watched, it)
		}
		r.opts.Progress(Event{Kind: EventJob, Item: snapshot(it)})
	}
	return out
}

// prepare labels a wave's item with the rollout and the version it replaces, and
// returns it with the Item that records its outcome.
func (r *runner) prepare(it plan.Item, wave int) (plan.Item, *Item) {
	d := it.Desired
	d.Labels = maps.Clone(d.Labels)
	d.Labels[fleet.LabelRolloutID] = r.res.ID
	prev := previous(it.Current)
	inPlace := it.Action == plan.Update || it.Action == plan.Replace
	if prev != "" && inPlace {
		d.Labels[fleet.LabelPreviousVersion] = prev
	}
	out := itemOf(it, wave, it.Action, "")
	if prev != "" {
		out.From, out.prevKnown = fleet.DecodeVersionLabel(prev), true
	} else if it.Current != nil && inPlace {
		out.From = it.Current.Labels[fleet.LabelPipelineVersion]
	}
	it.Desired = d
	return it, out
}
