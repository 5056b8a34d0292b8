package rollout

import (
	"context"
	"fmt"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// apply launches items (a wave, or a rollback) through the deploy engine, which retries,
// never launches a job twice and waits for the jobs to run, and records the outcome in
// outs (one per item). An update Dataflow rejects as incompatible, at the launch or once
// the new job started, is replaced when AllowReplace (the engine drains the old job and
// launches the new one under the same name), and reported Incompatible otherwise: the
// old job runs on.
func (r *runner) apply(ctx context.Context, items []plan.Item, outs []*Item) {
	res, _ := deploy.Apply(ctx, r.api, &plan.Plan{Items: items}, r.opts.engine(r.runID))
	var again []plan.Item
	var againOut []*Item
	for i, ir := range res.Items {
		out, it := outs[i], items[i]
		out.JobID = ir.JobID
		// A created job has no previous version, whether or not it came to run.
		out.created = it.Action == plan.Create || it.Action == plan.Recreate
		switch {
		case ir.Status == deploy.Running:
			out.Status = Upgraded
		case ir.Status == deploy.Started && r.opts.NoWait:
			out.Status = Started
		case ir.Status == deploy.Started:
			out.Status, out.Error = Failed, "not RUNNING: the wait was interrupted"
		case ir.Status == deploy.TimedOut:
			out.Status, out.Error = TimedOut, ir.Error
		case ir.Incompatible && r.opts.AllowReplace:
			r.opts.Progress(Event{Kind: EventReplacing, Item: snapshot(out), OldJob: it.Current.ID})
			it.Action = plan.Replace
			out.Action, out.JobID = plan.Replace, ""
			again, againOut = append(again, it), append(againOut, out)
		case ir.Incompatible:
			out.Status, out.Error = Incompatible, fmt.Sprintf("update not compatible, job %s left running: %s", it.Current.ID, ir.Error)
		default:
			out.Status, out.Error = Failed, ir.Error
		}
	}
	if len(again) > 0 {
		r.apply(ctx, again, againOut)
	}
}
