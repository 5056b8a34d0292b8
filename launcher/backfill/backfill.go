// Package backfill launches a replay of one event type's archive as a batch Dataflow job
// (launcher backfill): the event type's pinned pipeline version, from the same Flex
// Template and with the event type's own parameters, but reading `input` instead of its
// subscription, writing into a chosen output, over a span of buckets [from, to).
//
// # Never the live job
//
// A backfill is named backfill-<fleet>-<event type>-<from>-<suffix>, outside the fleet's
// own prefix `<fleet>-` (see [fleet.BackfillPrefix]), and labelled managed-by, fleet,
// event-type, pipeline-version, template-version and backfill=<run id> (with
// backfill-from and backfill-to), but no config-hash: plan, deploy (--prune included),
// status, rollouts, rollback, drain and cancel never take it for an event type's job or
// an orphan, and the fleet's alert policies, which select jobs by name, never see it. It
// launches one job and calls nothing on any other.
//
// # Where it writes
//
// Into a new output, normally: a replay meant to rebuild history is compared with, or
// replaces, what the live job wrote. Writing into the live job's own output is refused
// unless asked for (IntoLiveOutput): the pipeline never changes an hour another run has
// closed and refuses hours the live job still has open, so what it can add there is the
// hours that are missing, which downstream then reads. Only then is the event type's
// notify_topic passed on; a backfill into a new output announces nothing to the live
// output's consumers.
//
// # Following it
//
// [Follow] polls the job to its end with the deploy engine's wait ([deploy.WaitStopped])
// and [Hours] reads the manifests of [from, to) back (package hours), telling the hours
// this backfill closed (the manifest carries its run id) from those another run had
// closed, which it left as they were, and those still without a manifest.
package backfill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/output"
)

// Request is what a backfill is asked to do.
type Request struct {
	EventType string
	// Input is the archive to replay: a gs:// path or glob.
	Input string
	// Output is the gs:// folder the replayed buckets go under (<output>/<event type>/…).
	Output string
	// From and To are the span of buckets replayed, [From, To): bucket starts, RFC3339 or
	// 2026-12-01T10 (UTC); both or neither (then the whole input is replayed).
	From, To string
	// IntoLiveOutput allows Output to be the event type's live output.
	IntoLiveOutput bool
}

// Backfill is a validated backfill, ready to launch.
type Backfill struct {
	EventType string `json:"event_type"`
	JobName   string `json:"job_name"`
	Project   string `json:"project"`
	Region    string `json:"region"`
	Version   string `json:"version"`
	Template  string `json:"template"`
	RunID     string `json:"run_id"`
	Input     string `json:"input"`
	Output    string `json:"output"`
	// From and To are the span, RFC3339 ("" when the whole input is replayed).
	From           string            `json:"from,omitempty"`
	To             string            `json:"to,omitempty"`
	IntoLiveOutput bool              `json:"into_live_output"`
	Parameters     map[string]string `json:"parameters"`
	Labels         map[string]string `json:"labels"`
	// LiveJob is the name of the event type's live job, which the backfill leaves alone.
	LiveJob string `json:"live_job"`

	from, to int64
	target   output.Target
	launch   dataflow.LaunchRequest
}

// Span reports the span [from, to) in Unix ms; ok is false when the whole input is
// replayed.
func (b *Backfill) Span() (from, to int64, ok bool) { return b.from, b.to, b.From != "" }

// Target is where the backfill's buckets are.
func (b *Backfill) Target() output.Target { return b.target }

// LaunchRequest is the launch the backfill makes.
func (b *Backfill) LaunchRequest() dataflow.LaunchRequest { return b.launch }

// MaxSpan is the most buckets one backfill replays (a year and a month of hours): a span
// longer than that is more likely a typo than a plan, and its hours are read back one by
// one.
const MaxSpan = 24 * 400

// Prepare validates a request against the fleet at time now and returns the backfill it
// launches, under runID (deploy.NewRunID): every problem is an error naming the flag.
func Prepare(f *fleet.Fleet, r Request, runID string, now time.Time) (*Backfill, error) {
	var live *fleet.Job
	var names []string
	for _, j := range f.Jobs() {
		names = append(names, j.EventType)
		if j.EventType == r.EventType {
			live = &j
		}
	}
	switch {
	case r.EventType == "":
		return nil, errors.New("--event-type is required")
	case live == nil:
		return nil, fmt.Errorf("--event-type %q: not an event type of %s (it has %s)", r.EventType, f.Path, strings.Join(names, ", "))
	case r.Input == "":
		return nil, errors.New("--input is required: the archive to replay, a gs:// path or glob")
	case !strings.HasPrefix(r.Input, "gs://"):
		return nil, fmt.Errorf("--input %q: must be a gs:// path or glob (the Dataflow workers read it)", r.Input)
	case r.Output == "":
		return nil, errors.New("--output is required: the gs:// folder the replayed hours go under")
	case !strings.HasPrefix(r.Output, "gs://"):
		return nil, fmt.Errorf("--output %q: must be a gs:// folder (the Dataflow workers write it)", r.Output)
	case (r.From == "") != (r.To == ""):
		return nil, errors.New("--from and --to go together: the span [from, to) of hours to replay")
	}
	liveOutput := live.Parameters[fleet.ParamOutput]
	same := strings.TrimSuffix(r.Output, "/") == strings.TrimSuffix(liveOutput, "/")
	switch {
	case same && !r.IntoLiveOutput:
		return nil, fmt.Errorf("--output %s is the live output of %s (job %s): give --into-live-output to fill its missing hours "+
			"(hours already closed there stay as they are, hours the live job has open are refused), or write into a new output to rebuild history",
			r.Output, r.EventType, live.Name)
	case !same && r.IntoLiveOutput:
		return nil, fmt.Errorf("--into-live-output: --output %s is not the live output of %s (%s)", r.Output, r.EventType, liveOutput)
	}

	d := *live
	d.Parameters = maps.Clone(live.Parameters)
	delete(d.Parameters, fleet.ParamSubscription)
	if !same {
		// The live output's consumers hear of the live output's hours only.
		delete(d.Parameters, fleet.ParamNotifyTopic)
	}
	d.Parameters[fleet.ParamOutput] = r.Output
	d.Parameters[fleet.ParamInput] = r.Input
	b := &Backfill{EventType: r.EventType, Project: d.Project, Region: d.Region, Version: d.Version, Template: d.Template,
		RunID: runID, Input: r.Input, Output: r.Output, IntoLiveOutput: r.IntoLiveOutput, LiveJob: live.Name}
	b.target = d.OutputTarget()
	labels := maps.Clone(live.Labels)
	delete(labels, fleet.LabelConfigHash) // not a live configuration
	labels[fleet.LabelBackfill] = runID
	from := "all"
	if r.From != "" {
		l := b.target.Layout
		var err error
		if b.from, err = hours.ParseHour(r.From, l); err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
		if b.to, err = hours.ParseHour(r.To, l); err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
		switch current := l.Start(now.UnixMilli()); {
		case b.from >= b.to:
			return nil, fmt.Errorf("--from %s is not before --to %s", output.Format(b.from), output.Format(b.to))
		case (b.to-b.from)/l.Width.Milliseconds() > MaxSpan:
			return nil, fmt.Errorf("--from %s --to %s: %d buckets, more than %d in one backfill; split it",
				output.Format(b.from), output.Format(b.to), (b.to-b.from)/l.Width.Milliseconds(), MaxSpan)
		case b.to > current:
			return nil, fmt.Errorf("--to %s: the hours from %s on are not over yet (it is %s); an archive can only replay hours that ended",
				output.Format(b.to), output.Format(current), now.UTC().Format(time.RFC3339))
		}
		b.From, b.To = output.Format(b.from), output.Format(b.to)
		d.Parameters[fleet.ParamReplayFrom], d.Parameters[fleet.ParamReplayTo] = b.From, b.To
		from = labelTime(b.from)
		labels[fleet.LabelBackfillFrom], labels[fleet.LabelBackfillTo] = from, labelTime(b.to)
	}
	d.Labels = labels
	d.Name = JobName(f.Name, r.EventType, from, runID)
	b.JobName = d.Name
	b.launch = deploy.LaunchRequest(d, runID, false)
	b.launch.Batch = true
	b.Parameters, b.Labels = b.launch.Parameters, b.launch.Labels
	return b, nil
}

// JobName is the name of a backfill: backfill-<fleet>-<event type>-<from>-<suffix>, from
// as 20261201t1000 (or "all"), the suffix the random end of the run id.
func JobName(fleetName, eventType, from, runID string) string {
	suffix := runID[strings.LastIndexByte(runID, '-')+1:]
	return fleet.BackfillPrefix(fleetName) + eventType + "-" + from + "-" + suffix
}

func labelTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(fleet.BackfillLabelTime) }

// Result is what became of a backfill.
type Result struct {
	*Backfill
	JobID      string `json:"job_id,omitempty"`
	ConsoleURL string `json:"console_url,omitempty"`
	// State is the job's state as last read (the launch's answer has none: UNKNOWN).
	State dataflow.State `json:"state,omitempty"`
	// Recognised is set when the launch reported an error but created the job.
	Recognised bool `json:"recognised,omitempty"`
	// Error is why the job failed (its last error message), or did not stop in time.
	Error string `json:"error,omitempty"`
	// Hours are the buckets of the span after the job ended, oldest first.
	Hours []Hour `json:"hours,omitempty"`
}

// Launch launches the backfill's job, retrying transient errors by retry and never
// twice: a job of its name labelled with its run id is the launch that took effect.
func Launch(ctx context.Context, api dataflow.API, b *Backfill, retry dataflow.RetryPolicy) (*Result, error) {
	j, _, recognised, err := deploy.LaunchOnce(ctx, api, b.launch, retry, func(j dataflow.Job) bool {
		return j.Labels[fleet.LabelBackfill] == b.RunID
	})
	if err != nil {
		return nil, fmt.Errorf("backfill %s: launch %s: %w", b.EventType, b.JobName, err)
	}
	return &Result{Backfill: b, JobID: j.ID, ConsoleURL: dataflow.ConsoleURL(b.Project, b.Region, j.ID), State: j.State, Recognised: recognised}, nil
}

// Follow waits until the backfill's job has stopped, with the deploy engine's wait (its
// Clock, PollInterval and WaitTimeout), telling seen of every state change; it records
// the last state and, for a job that did not end DONE, why. The error is ctx's, a
// timeout's (deploy.ErrTimeout), or a failed or cancelled job's.
func Follow(ctx context.Context, api dataflow.API, r *Result, opts deploy.Options, seen func(dataflow.Job)) error {
	last := r.State
	j, err := deploy.WaitStopped(ctx, api, deploy.JobRef{Project: r.Project, Region: r.Region, ID: r.JobID}, opts, func(j dataflow.Job) {
		if j.State != last && seen != nil {
			seen(j)
		}
		last = j.State
	})
	r.State = j.State
	switch {
	case err != nil:
		r.Error = err.Error()
		return fmt.Errorf("backfill %s: %w", r.JobName, err)
	case j.State != dataflow.StateDone:
		r.Error = fmt.Sprintf("job %s is %s", j.ID, j.State)
		if j.Error != "" {
			r.Error += ": " + j.Error
		}
		return fmt.Errorf("backfill %s: %s", r.JobName, r.Error)
	}
	return nil
}

// HourState is what became of one bucket of a backfill's span.
type HourState string

// States of a bucket of the span.
const (
	// Closed: this backfill closed it (its manifest carries the backfill's run id).
	Closed HourState = "closed"
	// AlreadyClosed: another run had closed it; the backfill left it as it was.
	AlreadyClosed HourState = "already-closed"
	// NotClosed: no manifest.
	NotClosed HourState = "not-closed"
)

// Hour is one bucket of the span.
type Hour struct {
	Start string    `json:"start"`
	State HourState `json:"state"`
	// RunID is the run whose manifest closed it.
	RunID       string `json:"run_id,omitempty"`
	ClosedAt    string `json:"closed_at,omitempty"`
	Records     int64  `json:"records"`
	Duplicates  int64  `json:"duplicates"`
	Skewed      int64  `json:"skewed"`
	DeadLetters int64  `json:"dead_letters"`
	Manifest    string `json:"manifest"`
}

// Counts of a span's hours.
type Counts struct {
	Closed, AlreadyClosed, NotClosed int
	Records                          int64
}

// Count counts the result's hours by state, and the records of those it closed.
func (r *Result) Count() Counts {
	var c Counts
	for _, h := range r.Hours {
		switch h.State {
		case Closed:
			c.Closed++
			c.Records += h.Records
		case AlreadyClosed:
			c.AlreadyClosed++
		default:
			c.NotClosed++
		}
	}
	return c
}

// Hours reads the manifests of the backfill's span from st (the store of its output) and
// records each hour in the result, with at most parallelism reads in flight. Without a
// span it records nothing.
func Hours(ctx context.Context, st output.Store, r *Result, parallelism int) error {
	from, to, ok := r.Span()
	if !ok {
		return nil
	}
	t := r.Target()
	ms, err := hours.Manifests(ctx, st, t, from, to, parallelism)
	if err != nil {
		return fmt.Errorf("backfill %s: read the hours: %w", r.JobName, err)
	}
	r.Hours = make([]Hour, len(ms))
	for k, m := range ms {
		start := from + int64(k)*t.Layout.Width.Milliseconds()
		h := Hour{Start: output.Format(start), State: NotClosed, Manifest: t.ManifestPath(start)}
		if m != nil {
			h.State, h.RunID, h.ClosedAt = AlreadyClosed, m.RunID, m.ClosedAt
			h.Records, h.Duplicates, h.Skewed, h.DeadLetters = m.Records, m.Duplicates, m.Skewed, m.Invalid
			if m.RunID == r.RunID {
				h.State = Closed
			}
		}
		r.Hours[k] = h
	}
	return nil
}

// Summary is one line such as "Backfill backfill-…: DONE; 22 hours closed (81230
// records), 2 already closed, 0 not closed."
func (r *Result) Summary() string {
	s := fmt.Sprintf("Backfill %s (%s): %s", r.JobName, cmp.Or(r.JobID, "not launched"), cmp.Or(string(r.State), "UNKNOWN"))
	if r.Error != "" {
		s += ": " + r.Error
	}
	if _, _, ok := r.Span(); ok && len(r.Hours) > 0 {
		c := r.Count()
		s += fmt.Sprintf("; %d hours closed (%d records), %d already closed, %d not closed", c.Closed, c.Records, c.AlreadyClosed, c.NotClosed)
	}
	return s + "."
}
