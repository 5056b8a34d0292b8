package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/status"
)

// GateError says why a rollout stopped and rolled back.
type GateError struct {
	ID       string
	Wave     string
	Problems []string
	// RolledBack counts the jobs rolled back; Failed those whose rollback failed.
	RolledBack, Failed int
}

func (e *GateError) Error() string {
	s := fmt.Sprintf("rollout %s stopped at %s: health gate failed: %s; %d upgraded jobs rolled back, the others were not touched",
		e.ID, e.Wave, strings.Join(e.Problems, "; "), e.RolledBack)
	if e.Failed > 0 {
		s += fmt.Sprintf(" (%d rollbacks FAILED: run launcher rollback)", e.Failed)
	}
	return s
}

// soak watches every job upgraded so far for the soak time and stops the rollout at
// the first failed check.
func (r *runner) soak(ctx context.Context, wave string) error {
	if len(r.watched) == 0 {
		return nil
	}
	soak := r.soakTime()
	r.opts.Progress(Event{Kind: EventSoak, Wave: wave, Soak: soak, Count: len(r.watched)})
	end := r.opts.Clock.Now().Add(soak)
	for {
		problems, err := r.check(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A failed read is not a failed gate; it is logged and the check repeated.
			r.opts.Logger.Warn("health check failed", "err", err)
		} else if len(problems) > 0 {
			r.opts.Progress(Event{Kind: EventGateFailed, Wave: wave, Problems: problems})
			return r.stop(ctx, wave, problems)
		}
		if !r.opts.Clock.Now().Before(end) {
			r.opts.Progress(Event{Kind: EventHealthy, Wave: wave, Soak: soak})
			return nil
		}
		if err := r.opts.Clock.Sleep(ctx, min(r.opts.PollInterval, end.Sub(r.opts.Clock.Now()))); err != nil {
			return err
		}
	}
}

// check judges the watched jobs once.
func (r *runner) check(ctx context.Context) ([]string, error) {
	refs := make([]deploy.JobRef, len(r.watched))
	for i, it := range r.watched {
		refs[i] = deploy.JobRef{Project: it.Project, Region: it.Region, ID: it.JobID}
	}
	states, err := deploy.States(ctx, r.api, refs)
	if err != nil {
		return nil, err
	}
	var problems []string
	rep := &status.Report{Fleet: r.f.Name, Version: r.f.Version}
	created := map[string]bool{}
	for _, it := range r.watched {
		j := states[it.JobID]
		if j.State != dataflow.StateRunning {
			problems = append(problems, fmt.Sprintf("%s: job %s is %s", it.JobName, it.JobID, j.State))
			continue
		}
		created[it.EventType] = it.created
		rep.Rows = append(rep.Rows, status.Row{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
			JobID: it.JobID, State: j.State, Since: j.StateTime})
	}
	if h := r.opts.Health; h.Metrics != nil && len(rep.Rows) > 0 {
		base := status.HealthOptions{Now: r.opts.Clock.Now(), Metrics: h.Metrics, Project: h.Project, Manifests: h.Manifests,
			Lookback: h.Lookback, Parallelism: r.opts.Parallelism, Thresholds: r.f.GateAlerts}
		// Updated and replaced jobs continue their predecessor's output: their hours are
		// judged from the start. New event types get the usual grace.
		upd := base
		upd.JudgeYoung, upd.Only = true, func(row status.Row) bool { return !created[row.EventType] }
		if err := rep.AddHealth(ctx, r.f, upd); err != nil {
			return nil, err
		}
		if slices.Contains(slices.Collect(maps.Values(created)), true) {
			nw := base
			nw.Only = func(row status.Row) bool { return created[row.EventType] }
			if err := rep.AddHealth(ctx, r.f, nw); err != nil {
				return nil, err
			}
		}
		for _, row := range rep.Rows {
			if row.Health != nil && !row.Health.Healthy {
				problems = append(problems, row.JobName+": "+strings.Join(row.Health.Problems, ", "))
			}
		}
	}
	return problems, nil
}

// stop rolls back every job this rollout upgraded and returns the gate error.
func (r *runner) stop(ctx context.Context, wave string, problems []string) error {
	r.opts.Progress(Event{Kind: EventStop, Rollout: r.res.ID, Count: len(r.watched)})
	// Rolling back must happen even when the rollout's context was cancelled by a gate
	// timeout; it is bounded by its own waits.
	rb := r.rollback(context.WithoutCancel(ctx), r.watched)
	ge := &GateError{ID: r.res.ID, Wave: wave, Problems: problems}
	for _, it := range rb {
		switch it.Status {
		case RolledBack:
			ge.RolledBack++
		case Skipped: // nothing to undo
		default:
			ge.Failed++
		}
	}
	return ge
}
