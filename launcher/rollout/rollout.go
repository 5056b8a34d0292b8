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
//   - Time goes through [Clock], so tests drive the soak with the fakes' clocks.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// Clock is the time a rollout waits with.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

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
	// PollInterval is the time between two checks while waiting or soaking (default 30s).
	PollInterval time.Duration
	// StartTimeout bounds the wait for a wave's jobs to run (default 15m).
	StartTimeout time.Duration
	// DrainTimeout bounds the wait for a drain before a replace (default 30m).
	DrainTimeout time.Duration
	// Soak overrides the fleet file's soak time when positive.
	Soak   time.Duration
	Health Health
	Clock  Clock
	// Progress receives one line per wave event; nil discards them.
	Progress io.Writer
	Logger   *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Parallelism < 1 {
		o.Parallelism = 16
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 15 * time.Minute
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Status of one job in a rollout.
type Status string

// Statuses.
const (
	Upgraded     Status = "upgraded"     // runs the new version (updated in place, created or replaced)
	Incompatible Status = "incompatible" // the update was rejected; the old job runs on
	Failed       Status = "failed"       // the launch, drain or start failed
	RolledBack   Status = "rolled-back"  // runs its previous version again
)

// Item is what happened to one event type's job.
type Item struct {
	EventType string `json:"event_type"`
	JobName   string `json:"job_name"`
	Project   string `json:"project"`
	Region    string `json:"region"`
	// Wave is the 1-based wave the event type belongs to.
	Wave int `json:"wave"`
	// Action is update (in place), replace (drain and launch), create, recreate or
	// rollback.
	Action string `json:"action"`
	Status Status `json:"status"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	JobID  string `json:"job_id,omitempty"`
	Error  string `json:"error,omitempty"`

	project, region string
	desired         fleet.Job
	since           time.Time
	created         bool
	// prevKnown is set when From is the exact previous version (from its
	// template-version label), not just its label-safe form.
	prevKnown bool
	// planned is what was launched, for a replace after a late incompatible update.
	planned plan.Item
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

// Result is a rollout's or rollback's outcome.
type Result struct {
	ID      string `json:"rollout_id"`
	Fleet   string `json:"fleet"`
	Version string `json:"version"`
	Resumed bool   `json:"resumed"`
	Waves   []Wave `json:"waves"`
	Items   []Item `json:"items"`
	// RolledBack are the jobs a failed gate (or Rollback) took back.
	RolledBack []Item `json:"rolled_back"`
	// Outcome is "complete", "no changes", "rolled back" or "stopped".
	Outcome string        `json:"outcome"`
	Reason  string        `json:"reason,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Summary is the one-line summary.
func (r *Result) Summary() string {
	n := map[Status]int{}
	for _, it := range r.Items {
		n[it.Status]++
	}
	s := fmt.Sprintf("Rollout %s (%s): %s; %d upgraded, %d incompatible, %d failed, %d rolled back; %d waves",
		r.ID, r.Version, r.Outcome, n[Upgraded], n[Incompatible], n[Failed], len(r.RolledBack), len(r.Waves))
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s + "."
}

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

type key struct{ project, region, name string }

// Run rolls the fleet out wave by wave. It returns a *deploy.BlockedError before any
// call when the plan has blocked items (unless SkipBlocked), a *RolledBackError when the
// version was rolled back before (unless Force), a *GateError when a gate failed and
// the upgraded jobs were rolled back, an *IncompatibleError when jobs were left on their
// old version; with a Result in every case but the first two.
func Run(ctx context.Context, api dataflow.API, f *fleet.Fleet, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	start := opts.Clock.Now()
	obs, err := plan.Observe(ctx, api, f, opts.Parallelism)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	p := plan.Compute(f, obs, plan.Options{AllowReplace: opts.AllowReplace})
	var blocked []plan.Item
	for _, it := range p.Items {
		if it.Action == plan.Blocked {
			blocked = append(blocked, it)
		}
	}
	if len(blocked) > 0 && !opts.SkipBlocked {
		return nil, &deploy.BlockedError{Items: blocked}
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
		res.Elapsed = opts.Clock.Now().Sub(start)
		return res, nil
	}
	r := &runner{api: api, f: f, opts: opts, res: res, runID: deploy.NewRunID(opts.Clock.Now())}
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
				done = append(done, &Item{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
					Wave: waveOf[it.EventType], Action: "update", Status: Upgraded, To: it.Version, JobID: c.ID,
					From: fleet.DecodeVersionLabel(c.Labels[fleet.LabelPreviousVersion]), prevKnown: true, desired: it.Desired, since: c.StateTime})
			}
		}
		fmt.Fprintf(opts.Progress, "rollout %s: resuming; %d jobs were upgraded before the interruption: soaking them first\n", res.ID, len(done))
		r.watched = done
		if gerr := r.soak(ctx, "resumed rollout"); gerr != nil {
			return r.finish(start, gerr)
		}
	} else {
		fmt.Fprintf(opts.Progress, "rollout %s: %d event types to change in %d waves, soak %s per wave\n", res.ID, pending, len(waves), r.soakTime())
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
			fmt.Fprintf(opts.Progress, "%s: %d event types, nothing to change\n", w.Name, len(names))
			continue
		}
		fmt.Fprintf(opts.Progress, "%s: upgrading %d of %d event types\n", w.Name, len(todo), len(names))
		launched := r.upgrade(ctx, todo, i+1)
		if ctx.Err() != nil {
			return r.finish(start, ctx.Err())
		}
		var failed []string
		for _, it := range launched {
			switch it.Status {
			case Incompatible:
				incompatible = append(incompatible, it.JobName)
			case Failed:
				failed = append(failed, it.JobName+": "+it.Error)
			}
		}
		if len(failed) > 0 {
			w.Outcome, w.Problems = "gate failed", failed
			return r.finish(start, r.stop(ctx, w.Name, failed))
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
	slices.SortStableFunc(r.res.Items, func(a, b Item) int { return a.Wave - b.Wave })
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
	out := make([]*Item, len(todo))
	var g errgroup.Group
	g.SetLimit(r.opts.Parallelism)
	for i, it := range todo {
		g.Go(func() error {
			out[i] = r.upgradeOne(ctx, it, wave)
			return nil
		})
	}
	_ = g.Wait()
	r.waitRunning(ctx, withStatus(out, Upgraded))
	for _, it := range out {
		r.res.Items = append(r.res.Items, *it)
		if it.JobID != "" && it.Status != Incompatible {
			// Launched: watched, and rolled back on a failed gate, even when it did not
			// start.
			r.watched = append(r.watched, it)
		}
		mark := "ok"
		if it.Status != Upgraded {
			mark = strings.ToUpper(string(it.Status))
		}
		msg := fmt.Sprintf("  [%s] %s %s: %s %s", mark, it.JobName, it.Action, it.From+" → "+it.To, it.JobID)
		if it.Error != "" {
			msg += ": " + it.Error
		}
		fmt.Fprintln(r.opts.Progress, strings.TrimRight(msg, " "))
	}
	return out
}

func (r *runner) upgradeOne(ctx context.Context, it plan.Item, wave int) *Item {
	d := it.Desired
	d.Labels = maps.Clone(d.Labels)
	d.Labels[fleet.LabelRolloutID] = r.res.ID
	prev := previous(it.Current)
	inPlace := it.Action == plan.Update || it.Action == plan.Replace
	if prev != "" && inPlace {
		d.Labels[fleet.LabelPreviousVersion] = prev
	}
	out := &Item{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region, Wave: wave,
		Action: string(it.Action), To: it.Version, desired: it.Desired}
	if prev != "" {
		out.From, out.prevKnown = fleet.DecodeVersionLabel(prev), true
	} else if it.Current != nil && inPlace {
		out.From = it.Current.Labels[fleet.LabelPipelineVersion]
	}
	it.Desired = d
	out.planned = it
	r.launch(ctx, it, out)
	return out
}

// launch updates in place, or creates; on an incompatible update it replaces the job
// when allowed.
func (r *runner) launch(ctx context.Context, it plan.Item, out *Item) {
	if it.Action == plan.Replace {
		r.replace(ctx, it, out)
		return
	}
	dopts := r.launchOptions()
	res := deploy.Launch(ctx, r.api, it, dopts)
	if res.Status != deploy.Failed {
		out.Status, out.JobID = Upgraded, res.JobID
		out.created = it.Action != plan.Update
		return
	}
	if it.Action != plan.Update || !IsIncompatible(res.Err) {
		out.Status, out.Error = Failed, res.Error
		return
	}
	if !r.opts.AllowReplace {
		out.Status, out.Error = Incompatible, fmt.Sprintf("update rejected as incompatible, job %s left running: %v", it.Current.ID, grpcstatus.Convert(res.Err).Message())
		return
	}
	r.replace(ctx, it, out)
}

func (r *runner) launchOptions() deploy.Options {
	return deploy.Options{Parallelism: 1, Retry: r.opts.Retry, RunID: r.runID, Logger: r.opts.Logger}
}

// replace drains the item's running job, waits until it stopped and launches the new one
// under the same name.
func (r *runner) replace(ctx context.Context, it plan.Item, out *Item) {
	out.Action, out.JobID = "replace", ""
	if err := r.drain(ctx, it.Current); err != nil {
		out.Status, out.Error = Failed, err.Error()
		return
	}
	it.Action = plan.Recreate
	res := deploy.Launch(ctx, r.api, it, r.launchOptions())
	if res.Status == deploy.Failed {
		out.Status, out.Error = Failed, fmt.Sprintf("drained %s, then: %s", it.Current.ID, res.Error)
		return
	}
	out.Status, out.JobID = Upgraded, res.JobID
}

// IsIncompatible reports whether a launch error is Dataflow rejecting an in-place
// update because the new job graph is not compatible with the running one.
func IsIncompatible(err error) bool {
	st, ok := grpcstatus.FromError(err)
	if !ok || (st.Code() != codes.FailedPrecondition && st.Code() != codes.InvalidArgument) {
		return false
	}
	return strings.Contains(strings.ToLower(st.Message()), "not compatible")
}

// drain drains a job and waits until it has stopped.
func (r *runner) drain(ctx context.Context, j *dataflow.Job) error {
	fmt.Fprintf(r.opts.Progress, "  %s: update incompatible; draining %s before launching its replacement\n", j.Name, j.ID)
	// FAILED_PRECONDITION: it is draining or stopped already; the wait below tells.
	if _, err := r.api.Drain(ctx, j.Project, j.Region, j.ID); err != nil && grpcstatus.Code(err) != codes.FailedPrecondition {
		return fmt.Errorf("drain %s: %w", j.ID, err)
	}
	deadline := r.opts.Clock.Now().Add(r.opts.DrainTimeout)
	for {
		got, err := r.api.Get(ctx, j.Project, j.Region, j.ID)
		if err == nil && !got.State.Active() {
			if got.State != dataflow.StateDrained {
				return fmt.Errorf("drain %s: job is %s", j.ID, got.State)
			}
			return nil
		}
		if r.opts.Clock.Now().After(deadline) {
			return fmt.Errorf("drain %s: still %s after %s", j.ID, got.State, r.opts.DrainTimeout)
		}
		if err := r.opts.Clock.Sleep(ctx, r.opts.PollInterval); err != nil {
			return err
		}
	}
}

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
func (r *runner) soak(ctx context.Context, wave string) error {
	if len(r.watched) == 0 {
		return nil
	}
	soak := r.soakTime()
	fmt.Fprintf(r.opts.Progress, "%s: soaking %s, watching %d upgraded jobs\n", wave, soak, len(r.watched))
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
			fmt.Fprintf(r.opts.Progress, "%s: health gate FAILED: %s\n", wave, strings.Join(problems, "; "))
			return r.stop(ctx, wave, problems)
		}
		if !r.opts.Clock.Now().Before(end) {
			fmt.Fprintf(r.opts.Progress, "%s: healthy after %s\n", wave, soak)
			return nil
		}
		if err := r.opts.Clock.Sleep(ctx, min(r.opts.PollInterval, end.Sub(r.opts.Clock.Now()))); err != nil {
			return err
		}
	}
}

// check judges the watched jobs once.
func (r *runner) check(ctx context.Context) ([]string, error) {
	states, err := r.states(ctx, r.watched)
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
	fmt.Fprintf(r.opts.Progress, "rollout %s: stopping; rolling back %d upgraded jobs in place\n", r.res.ID, len(r.watched))
	// Rolling back must happen even when the rollout's context was cancelled by a gate
	// timeout; it is bounded by its own waits.
	rb := r.rollback(context.WithoutCancel(ctx), r.watched)
	ge := &GateError{ID: r.res.ID, Wave: wave, Problems: problems}
	for _, it := range rb {
		if it.Status == RolledBack {
			ge.RolledBack++
		} else {
			ge.Failed++
		}
	}
	return ge
}

// rollback takes the given upgraded jobs back to their previous versions, in place
// (replacing them when the update back is incompatible and AllowReplace).
func (r *runner) rollback(ctx context.Context, items []*Item) []Item {
	var out []*Item
	var todo []*Item
	for _, it := range items {
		rb := &Item{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region, Wave: it.Wave,
			Action: "rollback", From: it.To, To: it.From}
		out = append(out, rb)
		if it.created {
			rb.Status, rb.Error = Failed, "created by this rollout: no previous version (left running)"
			continue
		}
		if !it.prevKnown {
			rb.Status, rb.Error = Failed, "previous version unknown (the job it replaced had no template-version label): roll back with launcher rollback --to VERSION"
			continue
		}
		todo = append(todo, rb)
		rb.desired = rollbackJob(r.f, it.desired, it.From, it.To, r.res.ID)
	}
	var g errgroup.Group
	g.SetLimit(r.opts.Parallelism)
	for _, rb := range todo {
		g.Go(func() error {
			cur, err := r.current(ctx, rb.desired)
			if err != nil {
				rb.Status, rb.Error = Failed, err.Error()
				return nil
			}
			it := plan.Item{EventType: rb.EventType, JobName: rb.JobName, Project: rb.Project, Region: rb.Region,
				Action: plan.Update, Version: rb.To, Current: cur, Desired: rb.desired}
			if cur == nil {
				// The upgraded job failed or is gone: launch the previous version anew.
				it.Action = plan.Recreate
			}
			r.launch(ctx, it, rb)
			if rb.Status == Upgraded {
				rb.Status = RolledBack
			}
			return nil
		})
	}
	_ = g.Wait()
	r.waitRunning(ctx, withStatus(todo, RolledBack))
	var res []Item
	for _, rb := range out {
		if rb.Status == Failed && rb.Error == "" {
			rb.Error = "rollback failed"
		}
		if rb.Status == Upgraded {
			rb.Status = RolledBack
		}
		res = append(res, *rb)
		mark := "ok"
		if rb.Status != RolledBack {
			mark = "FAILED"
		}
		fmt.Fprintf(r.opts.Progress, "  [%s] %s rollback %s → %s %s%s\n", mark, rb.JobName, rb.From, rb.To, rb.JobID, errSuffix(rb.Error))
	}
	r.res.RolledBack = append(r.res.RolledBack, res...)
	return res
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
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
		up := &Item{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
			Action: "update", Status: Upgraded, JobID: c.ID, To: c.Labels[fleet.LabelPipelineVersion], desired: it.Desired}
		if v := c.Labels[fleet.LabelTemplateVersion]; v != "" {
			up.To = fleet.DecodeVersionLabel(v)
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
	fmt.Fprintf(opts.Progress, "rollback %s: %d jobs back to their previous versions, in place\n", id, len(items))
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
