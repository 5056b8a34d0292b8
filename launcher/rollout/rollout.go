// Package rollout upgrades a fleet the way a careful operator would: a few canaries
// first, then wider waves, watching the upgraded jobs for a soak time after each wave and
// rolling them back by itself when their health degrades.
//
// # Behavior
//
//   - The waves come from the fleet file's `rollout:` block ([fleet.Fleet.Waves]): the
//     canaries, then waves of the given sizes, over every event type in a fixed order,
//     so that a resumed rollout finds the same waves. A wave with nothing to change is
//     skipped.
//   - Each changed job is updated in place (same name, state kept). When Dataflow
//     rejects the update as incompatible (FAILED_PRECONDITION or INVALID_ARGUMENT saying
//     the new job is not compatible), the job is reported and left running, unless
//     AllowReplace: then it is drained (DRAINING → DRAINED) and the new version launched
//     under the same name. The successor closes the hours the drained job left open
//     (DESIGN.md, drain and replace).
//   - After each wave the jobs upgraded so far are watched for the soak time: every poll
//     checks that they run and judges their health ([status.Report.AddHealth]: system
//     lag, watermark age, dead-letter rate, closed hours) against the alert thresholds,
//     overridden by `rollout.gate`. The first failed check stops the rollout: the
//     upgraded jobs are rolled back to their previous version, in place, the others are
//     left untouched, and Run returns a [*GateError].
//   - Every job a rollout launches carries its id (rollout-id) and the version it
//     replaced (previous-version); a rollback launches carry rolled-back-from. A rollout
//     that was interrupted is continued by the next Run, which adopts the id from the
//     labels and first soaks the jobs already upgraded; [Rollback] rolls back whatever
//     the labels say was upgraded. No local state is needed.
//   - Each wave, and each rollback, is applied by the deploy engine ([deploy.Apply]): the
//     same launches, retries, never-twice rule, waits, statuses (a job not RUNNING within
//     StartTimeout is "timeout", as in a plain deploy), defaults and progress. A plain
//     deploy is one Apply of the whole plan: a rollout of one wave without soak.
//   - Time goes through [deploy.Clock], so tests drive the waits and the soak with the
//     fakes' clocks.
//
// # Files
//
// waves.go runs the waves and resumes an interrupted rollout; apply.go applies a wave or
// a rollback through the engine and replaces incompatible updates (the drain and launch
// are the engine's, deploy/replace.go); gate.go soaks and judges health; rollback.go
// takes upgraded jobs back; progress.go has the rollout's kinds of the engine's progress
// events (deploy.Event), which the engine of each wave and rollback tells too
// (launcher/view.Progress renders them all, and view.Rollout the results).
package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
)

// Health says where the gate reads health from. A nil Metrics judges job states only.
type Health struct {
	Metrics monitoring.API
	// Project is the alerts project, whose metrics scope holds the jobs.
	Project string
	// Manifests opens an output root to look for _SUCCESS manifests; nil skips closed
	// hours.
	Manifests func(ctx context.Context, root string) (status.ManifestChecker, error)
	Lookback  time.Duration
}

// Options configure Run and Rollback.
type Options struct {
	// Parallelism is the most launches and drains in flight (default 16).
	Parallelism int
	Retry       dataflow.RetryPolicy
	// AllowReplace drains and replaces a job whose in-place update Dataflow rejects as
	// incompatible.
	AllowReplace bool
	// SkipBlocked goes on when the plan has blocked items (they are left alone).
	SkipBlocked bool
	// Force rolls out a version that an earlier rollout rolled back.
	Force bool
	// ID names a new rollout (default generated from the clock).
	ID string
	// PollInterval is the time between two checks while waiting or soaking (default
	// deploy's, 5s).
	PollInterval time.Duration
	// StartTimeout bounds the wait for a wave's jobs to run (default deploy's, 15m).
	StartTimeout time.Duration
	// DrainTimeout bounds the wait for a drain before a replace (default deploy's, 30m).
	DrainTimeout time.Duration
	// NoWait launches without waiting for the jobs to run (deploy --wait=false). It is
	// refused, before any call, unless the rollout is one wave without soak: a wave's
	// gate needs its jobs running.
	NoWait bool
	// Soak overrides the fleet file's soak time when positive.
	Soak   time.Duration
	Health Health
	Clock  deploy.Clock
	// Progress is told every step as it happens, the engine's of each wave and rollback
	// too (launcher/view.Progress renders them); nil tells no one.
	Progress func(Event)
	Logger   *slog.Logger
}

// withDefaults takes the defaults the options share with deploy from deploy.
func (o Options) withDefaults() Options {
	d := o.engine("").WithDefaults()
	o.Parallelism, o.PollInterval, o.StartTimeout, o.DrainTimeout = d.Parallelism, d.PollInterval, d.WaitTimeout, d.DrainTimeout
	o.Clock, o.Logger, o.Progress = d.Clock, d.Logger, d.Progress
	return o
}

// checkNoWait refuses NoWait for a rollout of more than one wave or with a soak.
func (o Options) checkNoWait(f *fleet.Fleet) error {
	if !o.NoWait {
		return nil
	}
	soak := o.Soak
	if soak <= 0 && f.Rollout != nil {
		soak = f.Rollout.Soak
	}
	if n := len(f.Waves()); n > 1 || soak > 0 {
		return fmt.Errorf("rollout: --wait=false launches without waiting, but this rollout has %d waves and a soak of %s: each wave's gate needs its jobs running (drop --wait=false)", n, soak)
	}
	return nil
}

// engine is the options of the deploy engine that launches a wave or a rollback.
func (o Options) engine(runID string) deploy.Options {
	return deploy.Options{Parallelism: o.Parallelism, Retry: o.Retry, Wait: !o.NoWait, WaitTimeout: o.StartTimeout,
		PollInterval: o.PollInterval, DrainTimeout: o.DrainTimeout, RunID: runID, Clock: o.Clock, Progress: o.Progress, Logger: o.Logger}
}

// Status of one job in a rollout: the engine's ([deploy.Status]).
type Status = deploy.Status

// Statuses of a rollout's items.
const (
	Upgraded     = deploy.Upgraded
	Changed      = deploy.Changed
	Incompatible = deploy.Incompatible
	Started      = deploy.Started
	Failed       = deploy.Failed
	TimedOut     = deploy.TimedOut
	RolledBack   = deploy.RolledBack
	Skipped      = deploy.Skipped
)

// RollbackAction is the action of an item a rollback takes back to its previous version.
const RollbackAction plan.Action = "rollback"

// Item is what happened to one event type's job: the engine's item result (its Wave and
// From set, Version the version it goes to), with what a rollback needs to know of it.
type Item struct {
	deploy.ItemResult

	desired fleet.Job
	created bool
	// prevKnown is set when From is the exact previous version (from its
	// template-version label), not just its label-safe form.
	prevKnown bool
}

// itemOf is the Item that records what happens to a plan item's job in a wave (0 outside
// one), going to the plan's version.
func itemOf(it plan.Item, wave int, action plan.Action, st Status) *Item {
	return &Item{ItemResult: deploy.ItemResult{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
		Wave: wave, Action: action, Status: st, Version: it.Version}, desired: it.Desired}
}

// Wave is one wave's outcome.
type Wave struct {
	Index      int      `json:"index"`
	Name       string   `json:"name"`
	EventTypes []string `json:"event_types"`
	Changed    int      `json:"changed"`
	// Outcome is "healthy", "skipped" (nothing to change), "gate failed", "not started".
	Outcome  string   `json:"outcome"`
	Problems []string `json:"problems,omitempty"`
}

// Result is a rollout's or rollback's outcome: a deploy's result (its Items are every job
// the rollout acted on, each with its wave, in wave order) with the rollout's waves and
// rollbacks, so that a plain deploy and a rollout report in one shape.
type Result struct {
	deploy.Result
	ID      string `json:"rollout_id"`
	Fleet   string `json:"fleet"`
	Version string `json:"version"`
	Resumed bool   `json:"resumed"`
	Waves   []Wave `json:"waves"`
	// RolledBack are the jobs a failed gate (or Rollback) took back.
	RolledBack []deploy.ItemResult `json:"rolled_back"`
	// Outcome is "complete", "no changes", "rolled back" or "stopped".
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// Summary is the one-line summary.
func (r *Result) Summary() string {
	n := map[Status]int{}
	for _, it := range r.Items {
		n[it.Status]++
	}
	s := fmt.Sprintf("Rollout %s (%s): %s; %d upgraded", r.ID, r.Version, r.Outcome, n[Upgraded])
	if n[Changed] > 0 {
		s += fmt.Sprintf(", %d changed in place", n[Changed])
	}
	if n[Started] > 0 {
		s += fmt.Sprintf(", %d started", n[Started])
	}
	s += fmt.Sprintf(", %d incompatible, %d failed", n[Incompatible], n[Failed])
	if n[TimedOut] > 0 {
		s += fmt.Sprintf(", %d timed out", n[TimedOut])
	}
	s += fmt.Sprintf(", %d rolled back; %d waves", len(r.RolledBack), len(r.Waves))
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s + "."
}

// IncompatibleError lists jobs whose in-place update was rejected and that were left
// running their old version (without AllowReplace).
type IncompatibleError struct {
	Jobs []string
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("%d jobs were not updated: Dataflow rejected the in-place update as incompatible, the old jobs run on (%s); deploy --allow-replace drains and replaces them",
		len(e.Jobs), strings.Join(e.Jobs, ", "))
}

// RolledBackError refuses to roll out a version an earlier rollout rolled back.
type RolledBackError struct {
	Version string
	Jobs    []string
}

func (e *RolledBackError) Error() string {
	return fmt.Sprintf("version %s was rolled back (jobs %s carry rolled-back-from); fix the version in the fleet file, or deploy --force to try it again (launcher rollback finishes an interrupted rollback)",
		e.Version, strings.Join(e.Jobs, ", "))
}
