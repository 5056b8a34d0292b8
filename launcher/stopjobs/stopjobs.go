// Package stopjobs drains or cancels chosen jobs of a fleet, or all of them. Only jobs
// labelled managed-by=eventdelivery and fleet=<fleet> are ever touched; a job of the same
// name launched by someone else is reported and left alone, and so is an event type whose
// in-place update is in progress: its two jobs are both active until the replacement
// runs, and stopping either one leaves the other running (cancelling the replacement
// leaves the old job running; draining the old job does not stop its replacement).
//
// # Drain and cancel
//
// A drain stops reading and finishes what is in flight: Dataflow pushes the watermark to
// the end and fires every open window, and the pipeline writes those files but leaves
// the manifests of hours that are not over yet to the job that replaces it (DESIGN.md,
// drain and replace). A cancel stops at once: elements buffered in the job (windows not
// yet written, acked Pub/Sub messages) are lost.
package stopjobs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"golang.org/x/sync/errgroup"
)

// Mode is drain or cancel.
type Mode string

// Modes.
const (
	Drain  Mode = "drain"
	Cancel Mode = "cancel"
)

// CancelWarning is what a person is told before a cancel.
const CancelWarning = "cancel stops the jobs at once: data in flight (elements buffered in open windows, Pub/Sub messages already acknowledged) is LOST. Prefer drain, which writes what it holds first."

// Target is one job to stop, or an event type that has none.
type Target struct {
	EventType string         `json:"event_type,omitempty"`
	JobName   string         `json:"job_name"`
	Project   string         `json:"project"`
	Region    string         `json:"region"`
	JobID     string         `json:"job_id,omitempty"`
	State     dataflow.State `json:"state,omitempty"`
	// Skip says why the event type is left alone (no active job, not ours, an update in
	// progress, stopping).
	Skip string `json:"skip,omitempty"`
	// Result is the outcome after Apply: the state the request left the job in, or the
	// error.
	Result string `json:"result,omitempty"`
	OK     bool   `json:"ok"`
}

// Select picks the targets: the named event types, or with all every event type and
// every orphaned job of the fleet. An unknown event type is an error. An event type is
// skipped, with the reason, when it has no active job, when its job is not managed by the
// fleet, while its in-place update is in progress, and when its job is stopping already.
func Select(f *fleet.Fleet, obs *plan.Observed, eventTypes []string, all bool) ([]Target, error) {
	p := plan.Compute(f, obs, plan.Options{})
	byName := map[string]plan.Item{}
	for _, it := range p.Items {
		byName[it.EventType] = it
	}
	var names []string
	if all {
		for _, it := range p.Items {
			names = append(names, it.EventType)
		}
	} else {
		for _, n := range eventTypes {
			if _, ok := byName[n]; !ok {
				return nil, fmt.Errorf("%q is not an event type of %s", n, f.Path)
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	var out []Target
	for _, n := range names {
		it := byName[n]
		t := Target{EventType: n, JobName: it.JobName, Project: it.Project, Region: it.Region}
		c := it.Current
		switch {
		case c == nil || !c.State.Active():
			t.Skip = "no active job"
		case c.Labels[fleet.LabelManagedBy] != fleet.ManagedByValue || c.Labels[fleet.LabelFleet] != f.Name:
			t.JobID, t.State = c.ID, c.State
			t.Skip = fmt.Sprintf("job %s is not managed by this fleet (no %s=%s, %s=%s labels): left alone", c.ID, fleet.LabelManagedBy, fleet.ManagedByValue, fleet.LabelFleet, f.Name)
		case it.Replacing != nil:
			t.JobID, t.State = c.ID, c.State
			t.Skip = fmt.Sprintf("update in progress: job %s (%s) takes over from %s (%s); stop the event type once the update is over", c.ID, c.State, it.Replacing.ID, it.Replacing.State)
		case c.State == dataflow.StateDraining || c.State == dataflow.StateCancelling:
			t.JobID, t.State = c.ID, c.State
			t.Skip = "already " + strings.ToLower(string(c.State))
		default:
			t.JobID, t.State = c.ID, c.State
		}
		out = append(out, t)
	}
	if all {
		for _, o := range p.Orphans {
			j := o.Job
			t := Target{EventType: j.Labels[fleet.LabelEventType], JobName: j.Name, Project: j.Project, Region: j.Region, JobID: j.ID, State: j.State}
			if j.State == dataflow.StateDraining || j.State == dataflow.StateCancelling {
				t.Skip = "already " + strings.ToLower(string(j.State))
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// Count returns how many targets will be stopped.
func Count(ts []Target) int {
	n := 0
	for _, t := range ts {
		if t.Skip == "" {
			n++
		}
	}
	return n
}

// Apply drains or cancels every target that is not skipped, with at most parallelism
// calls in flight, and records each outcome in the targets. It does not wait for the
// jobs to stop.
func Apply(ctx context.Context, api dataflow.API, ts []Target, mode Mode, parallelism int) error {
	api = dataflow.WithConcurrency(api, parallelism)
	var g errgroup.Group
	var mu sync.Mutex
	failed := 0
	for i := range ts {
		t := &ts[i]
		if t.Skip != "" {
			continue
		}
		g.Go(func() error {
			var j dataflow.Job
			var err error
			if mode == Cancel {
				j, err = api.Cancel(ctx, t.Project, t.Region, t.JobID)
			} else {
				j, err = api.Drain(ctx, t.Project, t.Region, t.JobID)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Result, failed = fmt.Sprintf("%s %s: %v", mode, t.JobName, err), failed+1
				return nil
			}
			t.OK, t.Result, t.State = true, string(j.State), j.State
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d requests failed", mode, failed, Count(ts))
	}
	return ctx.Err()
}
