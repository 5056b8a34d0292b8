// Package status reports every event type's job: its state, the version it runs, whether
// that is the pinned version, and since when, with a one-line summary for people and an
// answer for scripts ([Report.Converged]).
package status

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// Category sorts a job for the summary.
type Category string

// Categories.
const (
	Running  Category = "running"  // RUNNING the pinned version and configuration
	Drifted  Category = "drifted"  // RUNNING another version or configuration
	Starting Category = "starting" // QUEUED or PENDING
	Stopping Category = "stopping" // DRAINING or CANCELLING
	Failed   Category = "failed"   // the last job FAILED or was CANCELLED
	Missing  Category = "missing"  // no job, or the last one was drained or updated away
	Foreign  Category = "foreign"  // an active job of that name not managed by this fleet
)

// Row is one event type.
type Row struct {
	EventType string         `json:"event_type"`
	JobName   string         `json:"job_name"`
	Project   string         `json:"project"`
	Region    string         `json:"region"`
	JobID     string         `json:"job_id,omitempty"`
	State     dataflow.State `json:"state"`
	// Version is the version the job runs, as its label says ("" when unknown).
	Version string `json:"version"`
	// Pinned is the version the fleet file pins for this event type.
	Pinned string `json:"pinned"`
	// MatchesPinned is set when the job runs the pinned version and configuration.
	MatchesPinned bool      `json:"matches_pinned"`
	Since         time.Time `json:"since"`
	Category      Category  `json:"category"`
	Detail        string    `json:"detail,omitempty"`
	// Health is set by [Report.AddHealth] for running jobs.
	Health *Health `json:"health,omitempty"`
}

// Report is the status of a fleet.
type Report struct {
	Fleet   string         `json:"fleet"`
	Version string         `json:"version"`
	Rows    []Row          `json:"jobs"`
	Orphans []dataflow.Job `json:"orphans"`
	// Backfills are the fleet's active backfill jobs (launcher backfill), listed apart:
	// they are not the event types' jobs and count for nothing above.
	Backfills []dataflow.Job `json:"backfills,omitempty"`
}

// Build reports on every event type of a fleet from an observation.
func Build(f *fleet.Fleet, obs *plan.Observed) *Report {
	p := plan.Compute(f, obs, plan.Options{})
	r := &Report{Fleet: f.Name, Version: f.Version}
	for _, it := range p.Items {
		d := it.Desired
		row := Row{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
			Pinned: d.Version, State: "NONE"}
		if c := it.Current; c != nil {
			row.JobID, row.State, row.Since = c.ID, c.State, c.StateTime
			if c.Labels != nil {
				row.Version = c.Labels[fleet.LabelPipelineVersion]
				if row.Version == fleet.LabelSafe(d.Version) {
					row.Version = d.Version
				}
			}
		}
		cur := it.Current
		switch {
		case cur == nil || (!cur.State.Active() && cur.State != dataflow.StateFailed && cur.State != dataflow.StateCancelled):
			row.Category = Missing
		case !cur.State.Active():
			row.Category = Failed
		case cur.Labels[fleet.LabelManagedBy] != fleet.ManagedByValue || cur.Labels[fleet.LabelFleet] != f.Name:
			row.Category, row.Detail = Foreign, "not managed by this fleet"
		case cur.State == dataflow.StateDraining || cur.State == dataflow.StateCancelling:
			row.Category = Stopping
		case cur.Labels[fleet.LabelPipelineVersion] != fleet.LabelSafe(d.Version):
			row.Category, row.Detail = Drifted, "version "+row.Version
			if cur.State.Starting() {
				row.Category = Starting
			}
		case cur.Labels[fleet.LabelConfigHash] != d.ConfigHash:
			row.Category, row.Detail = Drifted, "config "+cur.Labels[fleet.LabelConfigHash]
			if cur.State.Starting() {
				row.Category = Starting
			}
		case cur.State == dataflow.StateRunning:
			row.Category, row.MatchesPinned = Running, true
		default:
			row.Category = Starting
		}
		switch {
		case it.Replacing != nil:
			row.Detail = fmt.Sprintf("update in progress: replaces %s (%s)", it.Replacing.ID, it.Replacing.State)
		case it.FailedUpdate != nil && row.Category == Drifted:
			row.Detail += fmt.Sprintf("; update to %s FAILED (%s)", d.Version, it.FailedUpdate.ID)
		}
		r.Rows = append(r.Rows, row)
	}
	for _, o := range p.Orphans {
		r.Orphans = append(r.Orphans, o.Job)
	}
	for _, j := range obs.Jobs {
		if j.State.Active() && fleet.IsBackfill(j.Labels, f.Name) {
			r.Backfills = append(r.Backfills, j)
		}
	}
	slices.SortFunc(r.Backfills, func(a, b dataflow.Job) int { return strings.Compare(a.Name, b.Name) })
	return r
}

// Converged reports whether every event type runs its pinned version.
func (r *Report) Converged() bool {
	for _, row := range r.Rows {
		if !row.MatchesPinned {
			return false
		}
	}
	return true
}

// Summary is a line such as "300 jobs: 298 running v1.4.2, 1 drifted (v1.4.1), 1 failed".
func (r *Report) Summary() string {
	running := map[string]int{}
	drifted := map[string]int{}
	other := map[Category]int{}
	for _, row := range r.Rows {
		switch row.Category {
		case Running:
			running[row.Pinned]++
		case Drifted:
			drifted[row.Detail]++
		default:
			other[row.Category]++
		}
	}
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(running)) {
		parts = append(parts, fmt.Sprintf("%d running %s", running[v], v))
	}
	if len(running) == 0 {
		parts = append(parts, "0 running "+r.Version)
	}
	for _, d := range slices.Sorted(maps.Keys(drifted)) {
		parts = append(parts, fmt.Sprintf("%d drifted (%s)", drifted[d], strings.TrimPrefix(d, "version ")))
	}
	for _, c := range []Category{Starting, Stopping, Failed, Missing, Foreign} {
		if other[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", other[c], c))
		}
	}
	s := fmt.Sprintf("%d jobs: %s", len(r.Rows), strings.Join(parts, ", "))
	if n := r.Unhealthy(); n > 0 {
		s += fmt.Sprintf("; %d unhealthy", n)
	}
	if len(r.Orphans) > 0 {
		s += fmt.Sprintf("; %d orphaned", len(r.Orphans))
	}
	if len(r.Backfills) > 0 {
		s += fmt.Sprintf("; %d backfills running", len(r.Backfills))
	}
	return s
}
