// Package plan compares a fleet file with the jobs that run in Dataflow and decides, per
// event type, what deploy has to do.
//
// # Observing
//
// [Observe] lists every job in each project and region the fleet names (Dataflow lists
// summaries only) and reads the labels of the active jobs whose names start with
// `<fleet>-`, concurrently, so that the planner knows which jobs are its own.
//
// # Deciding
//
// [Compute] is a pure function of the fleet and the observation. Per event type:
//
//   - create: no job of that name is active (and the last one, if any, did not fail);
//   - update: the active job is ours but runs another version or configuration (in-place
//     update, same name); a changed schema is shown field by field, against the schema
//     the job was launched with (its schema_json pipeline option);
//   - in-place: the active job is ours, RUNNING on Streaming Engine, runs the desired
//     version and configuration, and only its max_workers differs: deploy changes it on
//     the running job (Dataflow's runtime-updatable parameters), launching nothing;
//   - unchanged: the active job is ours and matches;
//   - recreate: the last job of that name FAILED or was CANCELLED;
//   - replace (only with AllowReplace): Dataflow found the update to exactly this version
//     and configuration not compatible (the replacement job FAILED saying so, the old job
//     runs on): drain the old job and launch anew;
//   - blocked: the active job of that name is not managed by eventdelivery (or belongs to
//     another fleet), is draining or cancelling, cannot be updated yet because it is not
//     RUNNING (an update in progress included), its update was found not compatible
//     (without AllowReplace), or launching it would take its project past
//     max_active_jobs_per_project.
//
// A name is judged by its newest active job. During an in-place update two jobs of one
// name are active: the old one runs until its replacement (a new id, Job.Replaces set)
// runs. The replacement is the newest, whatever order the listing gives; the item shows
// the update in progress ([Item.Replacing]) and never plans a second one.
//
// Managed active jobs of the fleet that match no event type are orphans; they are left
// alone unless the plan is computed with Prune, which drains them. A backfill (labelled
// backfill, named backfill-<fleet>-…) is neither an event type's job nor an orphan:
// Observe reads its labels, for status to list it, and Compute leaves it out.
package plan

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"golang.org/x/sync/errgroup"
)

// Action is what deploy does for one event type.
type Action string

// Actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	InPlace   Action = "in-place"
	Unchanged Action = "unchanged"
	Recreate  Action = "recreate"
	Replace   Action = "replace"
	Blocked   Action = "blocked"
	Drain     Action = "drain"
	Keep      Action = "keep"
)

// Symbol is the action's column in a plan, as Terraform prints it.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update, InPlace:
		return "~"
	case Recreate, Replace:
		return "-/+"
	case Blocked:
		return "!"
	case Drain:
		return "-"
	}
	return ""
}

// Item is the plan for one event type.
type Item struct {
	EventType string `json:"event_type"`
	JobName   string `json:"job_name"`
	Project   string `json:"project"`
	Region    string `json:"region"`
	Action    Action `json:"action"`
	// Blocks is the action a blocked item would have taken.
	Blocks Action `json:"blocks,omitempty"`
	Reason string `json:"reason"`
	// Version is the version the job should run.
	Version string `json:"version"`
	// Current is the job of that name the decision is based on, if any.
	Current *dataflow.Job `json:"current,omitempty"`
	// Replacing is set while an in-place update is in progress: the old job, which runs
	// until Current (its replacement) runs.
	Replacing *dataflow.Job `json:"replacing,omitempty"`
	// FailedUpdate is the replacement job of the last in-place update to this version
	// and configuration when it FAILED and Current runs on.
	FailedUpdate *dataflow.Job `json:"failed_update,omitempty"`
	// Desired is the effective configuration from the fleet file.
	Desired fleet.Job `json:"-"`
}

// Orphan is a managed job of the fleet that no event type of the file describes.
type Orphan struct {
	Job    dataflow.Job `json:"job"`
	Action Action       `json:"action"` // Keep, or Drain with Prune
}

// Quota is the active job count of one project before and after the plan.
type Quota struct {
	Project string `json:"project"`
	Active  int    `json:"active"`
	After   int    `json:"after"`
	Limit   int    `json:"limit"`
}

// Plan is the whole plan.
type Plan struct {
	Fleet   string   `json:"fleet"`
	Version string   `json:"version"`
	Items   []Item   `json:"items"`
	Orphans []Orphan `json:"orphans"`
	Quotas  []Quota  `json:"quotas"`
	// Starts is what the deploy starts per project and region, for CPU and IP quotas.
	Starts []Start `json:"starts"`
}

// Counts per action.
type Counts struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	InPlace   int `json:"in_place"`
	Unchanged int `json:"unchanged"`
	Recreate  int `json:"recreate"`
	Replace   int `json:"replace"`
	Blocked   int `json:"blocked"`
	// Updating counts the in-place updates in progress to the desired version (unchanged
	// items whose job has not yet taken over).
	Updating int `json:"updating"`
	Drain    int `json:"drain"`
	Orphans  int `json:"orphans"`
}

// Counts counts the plan's actions.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, it := range p.Items {
		switch it.Action {
		case Create:
			c.Create++
		case Update:
			c.Update++
		case InPlace:
			c.InPlace++
		case Unchanged:
			c.Unchanged++
			if it.Replacing != nil {
				c.Updating++
			}
		case Recreate:
			c.Recreate++
		case Replace:
			c.Replace++
		case Blocked:
			c.Blocked++
		}
	}
	for _, o := range p.Orphans {
		c.Orphans++
		if o.Action == Drain {
			c.Drain++
		}
	}
	return c
}

// HasChanges reports whether the fleet differs from what runs: anything to create, update,
// recreate, replace or drain, blocked, or an update still in progress.
func (p *Plan) HasChanges() bool {
	c := p.Counts()
	return c.Create+c.Update+c.InPlace+c.Recreate+c.Replace+c.Drain+c.Blocked+c.Updating > 0
}

// Summary is the plan's one-line summary.
func (p *Plan) Summary() string {
	c := p.Counts()
	if !p.HasChanges() {
		s := "No changes."
		if c.Orphans > 0 {
			s += fmt.Sprintf(" %d orphaned jobs left alone (deploy --prune drains them).", c.Orphans)
		}
		return s
	}
	s := fmt.Sprintf("Plan: %d to create, %d to update, %d to recreate", c.Create, c.Update, c.Recreate)
	if c.InPlace > 0 {
		s += fmt.Sprintf(", %d to change in place", c.InPlace)
	}
	if c.Replace > 0 {
		s += fmt.Sprintf(", %d to replace", c.Replace)
	}
	if c.Drain > 0 {
		s += fmt.Sprintf(", %d to drain", c.Drain)
	}
	s += fmt.Sprintf(", %d blocked", c.Blocked)
	if c.Updating > 0 {
		s += fmt.Sprintf(", %d updates in progress (deploy waits for them)", c.Updating)
	}
	s += "."
	if n := c.Orphans - c.Drain; n > 0 {
		s += fmt.Sprintf(" %d orphaned jobs left alone (deploy --prune drains them).", n)
	}
	return s
}

// Location is a project and region.
type Location struct {
	Project string
	Region  string
}

// Observed is what runs in the fleet's projects and regions.
type Observed struct {
	// Jobs holds every listed job; active jobs whose names start with `<fleet>-` carry
	// their labels.
	Jobs []dataflow.Job
}

// Locations returns the project/region pairs a fleet uses, sorted.
func Locations(jobs []fleet.Job) []Location {
	var locs []Location
	for _, j := range jobs {
		l := Location{j.Project, j.Region}
		if !slices.Contains(locs, l) {
			locs = append(locs, l)
		}
	}
	slices.SortFunc(locs, func(a, b Location) int {
		return strings.Compare(a.Project+"/"+a.Region, b.Project+"/"+b.Region)
	})
	return locs
}

// Observe lists the jobs in every location of the fleet and reads the labels of the
// fleet's active jobs, with at most parallelism calls in flight.
func Observe(ctx context.Context, api dataflow.API, f *fleet.Fleet, parallelism int) (*Observed, error) {
	api = dataflow.WithConcurrency(api, parallelism)
	locs := Locations(f.Jobs())
	lists := make([][]dataflow.Job, len(locs))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range locs {
		g.Go(func() error {
			jobs, err := api.List(gctx, dataflow.ListRequest{Project: l.Project, Region: l.Region, Filter: dataflow.All})
			if err != nil {
				return fmt.Errorf("list jobs in %s/%s: %w", l.Project, l.Region, err)
			}
			lists[i] = jobs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []dataflow.Job
	for _, l := range lists {
		all = append(all, l...)
	}
	prefix, backfills := f.Name+"-", fleet.BackfillPrefix(f.Name)
	// The newest create time per name: a FAILED job that new may be a failed update,
	// whose labels, replaced job and error only GetJob gives.
	newest := map[key]time.Time{}
	for _, j := range all {
		k := key{j.Project, j.Region, j.Name}
		if t, ok := newest[k]; !ok || j.CreateTime.After(t) {
			newest[k] = j.CreateTime
		}
	}
	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	for i := range all {
		j := all[i]
		failedLast := j.State == dataflow.StateFailed && !j.CreateTime.Before(newest[key{j.Project, j.Region, j.Name}])
		ours := strings.HasPrefix(j.Name, prefix) && (j.State.Active() || failedLast)
		backfill := strings.HasPrefix(j.Name, backfills) && j.State.Active() // for status to list
		if !(ours || backfill) || j.Labels != nil {
			continue
		}
		g.Go(func() error {
			full, err := api.Get(gctx, j.Project, j.Region, j.ID)
			if err != nil {
				return fmt.Errorf("get job %s (%s): %w", j.Name, j.ID, err)
			}
			if full.Labels == nil {
				full.Labels = map[string]string{}
			}
			mu.Lock()
			all[i] = full
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &Observed{Jobs: all}, nil
}

// Options change how a plan is computed.
type Options struct {
	// Prune drains orphaned jobs.
	Prune bool
	// AllowReplace plans Replace (drain and launch anew) for a job whose in-place update
	// Dataflow found not compatible; without it such a job is blocked.
	AllowReplace bool
}

type key struct{ project, region, name string }

// Compute decides what to do for every event type of the fleet.
func Compute(f *fleet.Fleet, obs *Observed, opts Options) *Plan {
	desired := f.Jobs()
	p := &Plan{Fleet: f.Name, Version: f.Version}

	// The job each name is judged by: its newest active job, else its newest job.
	active := map[key][]dataflow.Job{}
	all := map[key][]dataflow.Job{}
	activeIn := map[string]int{}
	for _, j := range obs.Jobs {
		k := key{j.Project, j.Region, j.Name}
		if j.State.Active() {
			active[k] = append(active[k], j)
			activeIn[j.Project]++
		}
		all[k] = append(all[k], j)
	}
	for k := range all {
		newestFirst(all[k])
		newestFirst(active[k])
	}

	wanted := map[key]bool{}
	for _, d := range desired {
		k := key{d.Project, d.Region, d.Name}
		wanted[k] = true
		it := Item{EventType: d.EventType, JobName: d.Name, Project: d.Project, Region: d.Region, Version: d.Version, Desired: d}
		if len(active[k]) > 0 {
			judge(f, d, &it, active[k], all[k][0], opts)
		} else if last, ok := first(all[k]); ok && (last.State == dataflow.StateFailed || last.State == dataflow.StateCancelled) {
			it.Current = &last
			it.Action = Recreate
			it.Reason = fmt.Sprintf("last job %s is %s since %s", last.ID, last.State, last.StateTime.UTC().Format("2006-01-02 15:04"))
		} else {
			it.Action = Create
			it.Reason = "no active job"
			if last, ok := first(all[k]); ok {
				it.Current = &last
				it.Reason = fmt.Sprintf("last job %s is %s", last.ID, last.State)
			}
		}
		p.Items = append(p.Items, it)
	}

	// Quota: new jobs per project must fit next to what is active there.
	limits := map[string]int{}
	for _, d := range desired {
		if l, ok := limits[d.Project]; !ok || d.MaxActiveJobsPerProject < l {
			limits[d.Project] = d.MaxActiveJobsPerProject
		}
	}
	after := map[string]int{}
	for proj := range limits {
		after[proj] = activeIn[proj]
	}
	for i := range p.Items {
		it := &p.Items[i]
		if it.Action != Create && it.Action != Recreate {
			continue
		}
		if after[it.Project]+1 > limits[it.Project] {
			it.Blocks, it.Action = it.Action, Blocked
			it.Reason = fmt.Sprintf("quota: project %s has %d active jobs and max_active_jobs_per_project is %d", it.Project, activeIn[it.Project], limits[it.Project])
			continue
		}
		after[it.Project]++
	}
	for _, proj := range slices.Sorted(maps.Keys(limits)) {
		p.Quotas = append(p.Quotas, Quota{Project: proj, Active: activeIn[proj], After: after[proj], Limit: limits[proj]})
	}

	p.Starts = starts(p.Items)

	for _, j := range obs.Jobs {
		if !j.State.Active() || wanted[key{j.Project, j.Region, j.Name}] ||
			j.Labels[fleet.LabelManagedBy] != fleet.ManagedByValue || j.Labels[fleet.LabelFleet] != f.Name ||
			fleet.IsBackfill(j.Labels, f.Name) {
			continue
		}
		o := Orphan{Job: j, Action: Keep}
		if opts.Prune && j.State != dataflow.StateDraining && j.State != dataflow.StateCancelling {
			o.Action = Drain
		}
		p.Orphans = append(p.Orphans, o)
	}
	slices.SortFunc(p.Orphans, func(a, b Orphan) int { return strings.Compare(a.Job.Name, b.Job.Name) })
	return p
}

// newestFirst sorts one name's jobs newest first: a replacement before the job it
// replaces, otherwise by create time; ties keep the listing's order.
func newestFirst(jobs []dataflow.Job) {
	slices.SortStableFunc(jobs, func(a, b dataflow.Job) int {
		switch {
		case a.Replaces != "" && a.Replaces == b.ID:
			return -1
		case b.Replaces != "" && b.Replaces == a.ID:
			return 1
		}
		return b.CreateTime.Compare(a.CreateTime)
	})
}

func first(jobs []dataflow.Job) (dataflow.Job, bool) {
	if len(jobs) == 0 {
		return dataflow.Job{}, false
	}
	return jobs[0], true
}

// judge decides an item whose name has active jobs (newest first); last is the name's
// newest job of all.
func judge(f *fleet.Fleet, d fleet.Job, it *Item, active []dataflow.Job, last dataflow.Job, opts Options) {
	cur := active[0]
	it.Current = &cur
	for _, o := range active[1:] {
		if cur.Replaces != "" && o.ID == cur.Replaces {
			it.Replacing = &o
		}
	}
	it.Action, it.Reason = judgeActive(f, d, cur)
	if it.Replacing != nil {
		it.Reason = fmt.Sprintf("update in progress: job %s (%s) takes over from %s; %s", cur.ID, cur.State, it.Replacing.ID, it.Reason)
	}
	if (it.Action == Update || it.Action == InPlace) && cur.State != dataflow.StateRunning {
		it.Blocks, it.Action = it.Action, Blocked
		it.Reason = fmt.Sprintf("%s; job %s is %s and only a running job can be updated: deploy again once it runs", it.Reason, cur.ID, cur.State)
		return
	}
	if it.Action != Update || last.State != dataflow.StateFailed || last.Replaces != cur.ID ||
		last.Labels[fleet.LabelPipelineVersion] != fleet.LabelSafe(d.Version) || last.Labels[fleet.LabelConfigHash] != d.ConfigHash {
		return
	}
	// The update to exactly this version and configuration was tried, and its
	// replacement job failed; the old job runs on.
	it.FailedUpdate = &last
	switch {
	case !last.Incompatible():
		it.Reason = fmt.Sprintf("%s; the last update attempt %s FAILED: %s", it.Reason, last.ID, last.Error)
	case opts.AllowReplace:
		it.Action = Replace
		it.Reason = fmt.Sprintf("%s; the update is not compatible (job %s FAILED: %s): drain %s and launch anew", it.Reason, last.ID, last.Error, cur.ID)
	default:
		it.Blocks, it.Action = Update, Blocked
		it.Reason = fmt.Sprintf("%s; the update is not compatible (job %s FAILED: %s), job %s runs on: deploy --allow-replace drains and replaces it",
			it.Reason, last.ID, last.Error, cur.ID)
	}
}

func judgeActive(f *fleet.Fleet, d fleet.Job, cur dataflow.Job) (Action, string) {
	switch {
	case cur.Labels[fleet.LabelManagedBy] != fleet.ManagedByValue:
		return Blocked, fmt.Sprintf("job %s of that name is not managed by eventdelivery (no %s=%s label); rename or remove it",
			cur.ID, fleet.LabelManagedBy, fleet.ManagedByValue)
	case cur.Labels[fleet.LabelFleet] != f.Name:
		return Blocked, fmt.Sprintf("job %s of that name belongs to fleet %q", cur.ID, cur.Labels[fleet.LabelFleet])
	case cur.State == dataflow.StateDraining || cur.State == dataflow.StateCancelling:
		return Blocked, fmt.Sprintf("job %s is %s; deploy again once it has stopped", cur.ID, cur.State)
	}
	var why []string
	if v := cur.Labels[fleet.LabelPipelineVersion]; v != fleet.LabelSafe(d.Version) {
		why = append(why, fmt.Sprintf("version %s → %s", v, d.Version))
	}
	h := cur.Labels[fleet.LabelConfigHash]
	legacy := d.LaunchedBefore(h, cur.Workers.Max)
	if h != d.ConfigHash && !legacy {
		why = append(why, fmt.Sprintf("config %s → %s", h, d.ConfigHash))
		if s := schemaChange(cur, d); s != "" {
			why = append(why, s)
		}
	}
	if len(why) > 0 {
		return Update, strings.Join(why, ", ")
	}
	if want := d.Environment.MaxWorkers; want != 0 && cur.Workers.Max != 0 && cur.Workers.Max != want {
		// The config hash leaves the worker bounds out: a change of them alone is made
		// on the running job, or, without Streaming Engine, by an update.
		why := fmt.Sprintf("max_workers %d → %d", cur.Workers.Max, want)
		switch {
		case !cur.StreamingEngine:
			return Update, why + " (not a Streaming Engine job: by an update)"
		case legacy:
			// Its label holds its max_workers: an in-place change would leave it stale.
			return Update, why + " (launched by an earlier launcher: by an update, which relabels it)"
		}
		return InPlace, why + " (in place, on the running job)"
	}
	if cur.State != dataflow.StateRunning {
		return Unchanged, fmt.Sprintf("%s, starting", cur.State)
	}
	return Unchanged, "running " + d.Version
}

// schemaChange says how the event type's schema differs from the one its job was launched
// with, read from the job's pipeline options (schema_json, as Dataflow records the
// template's parameters): `schema +country -legacy ~ms_played int→long`; "" when it is
// the same. When the job's options do not hold it, it says so rather than guess.
func schemaChange(cur dataflow.Job, d fleet.Job) string {
	old, ok := cur.Options[fleet.ParamSchemaJSON]
	switch {
	case !ok:
		return "schema: the running job's is unknown (not in its pipeline options)"
	case old == d.Parameters[fleet.ParamSchemaJSON]:
		return ""
	}
	c, err := codec.Diff(old, d.Parameters[fleet.ParamSchemaJSON])
	switch {
	case err != nil:
		return fmt.Sprintf("schema changed (the running job's does not parse: %v)", err)
	case c.Empty():
		return "schema changed (no field added, removed or promoted)"
	}
	return "schema " + c.String()
}
