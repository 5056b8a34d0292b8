package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// rollback takes the given upgraded jobs back to their previous versions, in place
// (replacing them when the update back is incompatible and AllowReplace).
func (r *runner) rollback(ctx context.Context, items []*Item) []deploy.ItemResult {
	var out []*Item
	var todo []*Item
	for _, it := range items {
		rb := &Item{ItemResult: deploy.ItemResult{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
			Wave: it.Wave, Action: RollbackAction, From: it.Version, Version: it.From}}
		out = append(out, rb)
		switch {
		case it.created && it.Status == Failed:
			rb.Status, rb.Error = Skipped, "created by this rollout and failed: nothing to roll back"
			continue
		case it.created:
			rb.Status, rb.Error = Failed, "created by this rollout: no previous version (left running)"
			continue
		}
		if !it.prevKnown {
			rb.Status, rb.Error = Failed, "previous version unknown (the job it replaced had no template-version label): roll back with launcher rollback --to VERSION"
			continue
		}
		todo = append(todo, rb)
		rb.desired = rollbackJob(r.f, it.desired, it.From, it.Version, r.res.ID)
	}
	// Read the current job of each name; the ones that can be read are rolled back in
	// one apply.
	planned := make([]plan.Item, len(todo))
	// Reads at most Parallelism at once (the one limiter); a read cut off by ctx leaves its
	// job as it is, failed here and rolled back by the next rollback.
	reads := gcpclient.NewLimiter(r.opts.Parallelism)
	var wg sync.WaitGroup
	for i, rb := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, err := gcpclient.Limit1(ctx, reads, func(ctx context.Context) (*dataflow.Job, error) { return r.current(ctx, rb.desired) })
			if err != nil {
				rb.Status, rb.Error = Failed, err.Error()
				return
			}
			planned[i] = plan.Item{EventType: rb.EventType, JobName: rb.JobName, Project: rb.Project, Region: rb.Region,
				Action: plan.Update, Version: rb.Version, Current: cur, Desired: rb.desired}
			if cur == nil {
				// The upgraded job failed or is gone: launch the previous version anew.
				planned[i].Action = plan.Recreate
			}
		}()
	}
	wg.Wait()
	var launch []plan.Item
	var outs []*Item
	for i, rb := range todo {
		if rb.Status == "" {
			launch, outs = append(launch, planned[i]), append(outs, rb)
		}
	}
	r.apply(ctx, launch, outs)
	var res []deploy.ItemResult
	for _, rb := range out {
		if rb.Status != Upgraded && rb.Status != RolledBack && rb.Error == "" {
			rb.Error = "rollback failed"
		}
		if rb.Status == Upgraded {
			rb.Status = RolledBack
		}
		res = append(res, rb.ItemResult)
		r.opts.Progress(Event{Kind: EventJob, Item: snapshot(rb)})
	}
	r.res.RolledBack = append(r.res.RolledBack, res...)
	return res
}

// rollbackJob is the job a rollback launches: the fleet file's configuration of the
// event type with the previous version, labelled as rolled back.
func rollbackJob(f *fleet.Fleet, d fleet.Job, prev, from, id string) fleet.Job {
	d.Version = prev
	d.Template = fleet.ResolveTemplate(f.Template, prev)
	d.Labels = maps.Clone(d.Labels)
	d.Labels[fleet.LabelPipelineVersion] = fleet.LabelSafe(prev)
	delete(d.Labels, fleet.LabelTemplateVersion)
	if enc, ok := fleet.EncodeVersionLabel(prev); ok {
		d.Labels[fleet.LabelTemplateVersion] = enc
	}
	delete(d.Labels, fleet.LabelPreviousVersion)
	d.Labels[fleet.LabelRolloutID] = id
	d.Labels[fleet.LabelRolledBackFrom] = fleet.LabelSafe(from)
	return d
}

// current reads the active job of a name, with its labels; nil when there is none.
func (r *runner) current(ctx context.Context, d fleet.Job) (*dataflow.Job, error) {
	jobs, err := r.api.List(ctx, dataflow.ListRequest{Project: d.Project, Region: d.Region, Filter: dataflow.Active, Name: d.Name})
	if err != nil {
		return nil, fmt.Errorf("rollback %s: %w", d.Name, err)
	}
	for _, j := range jobs {
		if j.Name == d.Name && j.State.Active() {
			full, err := r.api.Get(ctx, d.Project, d.Region, j.ID)
			if err != nil {
				return nil, fmt.Errorf("rollback %s: %w", d.Name, err)
			}
			return &full, nil
		}
	}
	return nil, nil
}

// Rollback takes the jobs a rollout upgraded back to the versions they replaced, in
// place, from what their labels say: every active job of the fleet labelled with the
// rollout's id and a previous-version. id "" picks the newest rollout that has such
// jobs. to, when set, is the version to go back to for jobs whose previous version is
// not recorded exactly (launched before template-version labels). Jobs already rolled
// back carry no previous-version and are left alone, so an interrupted rollback is
// finished by running it again.
func Rollback(ctx context.Context, api dataflow.API, f *fleet.Fleet, id, to string, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	start := opts.Clock.Now()
	obs, err := plan.Observe(ctx, api, f, opts.Parallelism)
	if err != nil {
		return nil, fmt.Errorf("rollback: %w", err)
	}
	p := plan.Compute(f, obs, plan.Options{})
	upgraded := func(c *dataflow.Job) bool {
		return c != nil && c.State.Active() && c.Labels[fleet.LabelManagedBy] == fleet.ManagedByValue &&
			c.Labels[fleet.LabelFleet] == f.Name && c.Labels[fleet.LabelRolloutID] != "" &&
			(c.Labels[fleet.LabelPreviousVersion] != "" || (to != "" && c.Labels[fleet.LabelRolledBackFrom] == ""))
	}
	if id == "" {
		for _, it := range p.Items {
			if upgraded(it.Current) && it.Current.Labels[fleet.LabelRolloutID] > id {
				id = it.Current.Labels[fleet.LabelRolloutID]
			}
		}
	}
	res := &Result{ID: id, Fleet: f.Name, Version: f.Version}
	r := &runner{api: api, f: f, opts: opts, res: res, runID: deploy.NewRunID(opts.Clock.Now())}
	res.RunID = r.runID
	// Soaking protects running jobs from a bad version. When nothing runs yet (every change
	// creates or recreates a job), there is nothing to protect or roll back to: the waves
	// are checked once, without a soak.
	r.nothingToProtect = !res.Resumed && !slices.ContainsFunc(p.Items, func(it plan.Item) bool { return it.Action == plan.Update })
	var items []*Item
	for _, it := range p.Items {
		c := it.Current
		if id == "" || !upgraded(c) || c.Labels[fleet.LabelRolloutID] != id {
			continue
		}
		up := itemOf(it, 0, plan.Update, Upgraded)
		up.JobID, up.Version = c.ID, c.Labels[fleet.LabelPipelineVersion]
		if v := c.Labels[fleet.LabelTemplateVersion]; v != "" {
			up.Version = fleet.DecodeVersionLabel(v)
		}
		switch prev := c.Labels[fleet.LabelPreviousVersion]; {
		case prev != "":
			up.From, up.prevKnown = fleet.DecodeVersionLabel(prev), true
		case to != "":
			up.From, up.prevKnown = to, true
		}
		items = append(items, up)
	}
	if len(items) == 0 {
		res.Outcome = "no changes"
		if id == "" {
			res.Reason = "no job of the fleet was upgraded by a rollout"
		} else {
			res.Reason = "no job of rollout " + id + " is left to roll back"
		}
		res.Elapsed = opts.Clock.Now().Sub(start)
		return res, nil
	}
	opts.Progress(Event{Kind: EventRollback, Rollout: id, Count: len(items)})
	rb := r.rollback(ctx, items)
	failed := 0
	for _, it := range rb {
		if it.Status != RolledBack {
			failed++
		}
	}
	res.Outcome = "rolled back"
	res.Elapsed = opts.Clock.Now().Sub(start)
	if failed > 0 {
		res.Outcome, res.Reason = "stopped", fmt.Sprintf("%d of %d rollbacks failed", failed, len(rb))
		return res, fmt.Errorf("rollback %s: %d of %d jobs were not rolled back; run rollback again", id, failed, len(rb))
	}
	return res, ctx.Err()
}
