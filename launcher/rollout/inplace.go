package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// InPlaceError lists jobs whose worker-only change (plan.InPlace) failed; the rollout made
// no version change after it.
type InPlaceError struct {
	Jobs []string
}

func (e *InPlaceError) Error() string {
	return fmt.Sprintf("%d worker changes failed (%s); no version was rolled out: deploy again", len(e.Jobs), strings.Join(e.Jobs, ", "))
}

// changeInPlace makes the plan's worker-only changes on the running jobs, in one apply of
// the deploy engine before the waves: they change no version, so they need no wave, gate
// or rollback.
func changeInPlace(ctx context.Context, api dataflow.API, p *plan.Plan, opts Options, runID string) ([]deploy.ItemResult, error) {
	var todo []plan.Item
	for _, it := range p.Items {
		if it.Action == plan.InPlace {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	res, _ := deploy.Apply(ctx, api, &plan.Plan{Items: todo}, opts.engine(runID))
	var items []deploy.ItemResult
	var failed []string
	for i, ir := range res.Items {
		it := todo[i]
		out := *itemOf(it, 0, plan.InPlace, Changed)
		out.From, out.JobID = it.Version, ir.JobID
		if ir.Status == deploy.Failed {
			out.Status, out.Error = Failed, ir.Error
			failed = append(failed, it.JobName)
		}
		items = append(items, out.ItemResult)
	}
	if len(failed) > 0 {
		return items, &InPlaceError{Jobs: failed}
	}
	return items, nil
}
