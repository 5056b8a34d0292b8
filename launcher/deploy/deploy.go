// Package deploy applies a plan to Dataflow: it launches, updates and recreates hundreds of
// jobs concurrently, drains orphans when asked, and waits until every job of the fleet
// runs.
//
// # Behavior
//
//   - Blocked items stop the deploy before any call ([*BlockedError]) unless SkipBlocked.
//   - At most Parallelism launches are in flight; the rate of calls is limited by the
//     caller's decorated [dataflow.API] (see [dataflow.WithRateLimit]).
//   - Transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, INTERNAL) are retried with
//     exponential backoff and full jitter. Before every retry of a launch, and when a
//     launch reports ALREADY_EXISTS, the deployer lists the active jobs of that name and
//     reads their labels: a job with the fleet's labels, version and config hash is the
//     launch that failed but took effect, and is counted as done. A job is never launched
//     twice.
//   - A replace item (plan.Replace) drains its running job, waits until it has stopped
//     (DrainTimeout) and launches the new version under the same name.
//   - With Wait, every job of the plan (unchanged ones too) is polled until it is RUNNING,
//     fails, or WaitTimeout passes on the Clock.
//   - Progress ([Event]) tells each phase (the launches and drains, the wait) and each job
//     as it is done; a rollout tells its waves, soaks and gates in the same type, and
//     launcher/view.Progress renders both.
//   - Cancelling ctx stops new launches; running deploy again plans and finishes exactly
//     what is left.
//
// This is the one engine that launches and waits: a plain `launcher deploy` is one Apply
// of the whole plan (a rollout of one wave without soak), and [rollout] applies each wave
// and each rollback through Apply.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Options configure Apply.
type Options struct {
	// Parallelism is the most launches in flight (default 16).
	Parallelism int
	// Retry is the retry policy of launches.
	Retry dataflow.RetryPolicy
	// SkipBlocked applies the rest of the plan when some items are blocked.
	SkipBlocked bool
	// Wait waits for every job to be RUNNING.
	Wait bool
	// WaitTimeout bounds the wait (default 15m).
	WaitTimeout time.Duration
	// PollInterval is the time between two polls while waiting (default 5s).
	PollInterval time.Duration
	// DrainTimeout bounds the wait for a drain before a replace (default 30m).
	DrainTimeout time.Duration
	// Clock is the time waits follow (default the wall clock).
	Clock Clock
	// RunID is passed to every launched job as the run_id parameter (default: generated
	// from the clock and randomness).
	RunID string
	// Progress is told every phase and every finished item as it happens ([Event]);
	// nil tells no one.
	Progress func(Event)
	// Logger logs retries and failures (default slog.Default()).
	Logger *slog.Logger
}

// Status of one item after a deploy, a rollout or a rollback: one vocabulary for the one
// engine, so that launcher/view renders every result in one shape.
type Status string

// Statuses.
const (
	Running  Status = "running"  // the job runs
	Started  Status = "started"  // launched, not waited for
	Drained  Status = "draining" // an orphan asked to drain
	Failed   Status = "failed"   // the launch failed or the job failed
	TimedOut Status = "timeout"  // not RUNNING before the wait timeout
	Skipped  Status = "skipped"  // blocked, or not attempted because ctx ended

	// The statuses a rollout gives the items of its waves and rollbacks.
	Upgraded     Status = "upgraded"     // runs the new version (updated in place, created or replaced)
	Changed      Status = "changed"      // its worker bounds were changed on the running job
	Incompatible Status = "incompatible" // the update was rejected; the old job runs on
	RolledBack   Status = "rolled-back"  // runs its previous version again
)

// ItemResult is the outcome for one event type or orphan, of a deploy or (with Wave and
// From) of a rollout.
type ItemResult struct {
	EventType string         `json:"event_type,omitempty"`
	JobName   string         `json:"job_name"`
	Project   string         `json:"project"`
	Region    string         `json:"region"`
	Action    plan.Action    `json:"action"`
	Status    Status         `json:"status"`
	JobID     string         `json:"job_id,omitempty"`
	State     dataflow.State `json:"state,omitempty"`
	Version   string         `json:"version,omitempty"`
	// Wave is the 1-based rollout wave of the item; 0 outside a rollout.
	Wave int `json:"wave,omitempty"`
	// From is the version the job ran before a rollout's update or rollback.
	From string `json:"from,omitempty"`
	// Attempts counts launch calls.
	Attempts int `json:"attempts,omitempty"`
	// Recognised is set when the job was found created by a launch that reported an
	// error.
	Recognised bool `json:"recognised,omitempty"`
	// Incompatible is set when Dataflow rejected the in-place update as incompatible, at
	// the launch or once the new job had started: the old job runs on.
	Incompatible bool   `json:"incompatible,omitempty"`
	Error        string `json:"error,omitempty"`
	// Err is the last error of a failed launch, with its gRPC status.
	Err error `json:"-"`
}

// Result is the outcome of a deploy.
type Result struct {
	RunID   string        `json:"run_id"`
	Items   []ItemResult  `json:"items"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Counts of a result.
type Counts struct {
	Created, Updated, Recreated, Unchanged, Drained int
	Running, Started, Failed, TimedOut, Skipped     int
}

// Counts counts actions taken and final statuses.
func (r *Result) Counts() Counts {
	var c Counts
	for _, it := range r.Items {
		if it.Status != Skipped && it.Status != Failed {
			switch it.Action {
			case plan.Create:
				c.Created++
			case plan.Update:
				c.Updated++
			case plan.Recreate:
				c.Recreated++
			case plan.Unchanged:
				c.Unchanged++
			case plan.Drain:
				c.Drained++
			}
		}
		switch it.Status {
		case Running:
			c.Running++
		case Started:
			c.Started++
		case Failed:
			c.Failed++
		case TimedOut:
			c.TimedOut++
		case Skipped:
			c.Skipped++
		}
	}
	return c
}

// OK reports whether everything attempted succeeded and nothing was skipped.
func (r *Result) OK() bool {
	c := r.Counts()
	return c.Failed+c.TimedOut+c.Skipped == 0
}

// Summary is the deploy's one-line summary.
func (r *Result) Summary() string {
	c := r.Counts()
	s := fmt.Sprintf("Deploy: %d created, %d updated, %d recreated, %d unchanged", c.Created, c.Updated, c.Recreated, c.Unchanged)
	if c.Drained > 0 {
		s += fmt.Sprintf(", %d draining", c.Drained)
	}
	s += fmt.Sprintf("; %d running", c.Running)
	if c.Started > 0 {
		s += fmt.Sprintf(", %d started", c.Started)
	}
	s += fmt.Sprintf(", %d failed, %d timed out, %d skipped (%s).", c.Failed, c.TimedOut, c.Skipped, r.Elapsed.Round(10*time.Millisecond))
	return s
}

// BlockedError stops a deploy whose plan has blocked items.
type BlockedError struct {
	Items []plan.Item
}

func (e *BlockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy: %d blocked items (nothing was changed; fix them or use --skip-blocked):", len(e.Items))
	for _, it := range e.Items {
		fmt.Fprintf(&b, "\n  %s: %s", it.JobName, it.Reason)
	}
	return b.String()
}

// Defaults of Options' waits; the rollout's options and the CLI's flags (deploy, rollback)
// take theirs from here.
const (
	DefaultWaitTimeout  = 15 * time.Minute
	DefaultPollInterval = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Minute
)

// WithDefaults returns the options with every unset field at its default; the rollout
// takes its defaults from here too.
func (o Options) WithDefaults() Options {
	if o.Parallelism < 1 {
		o.Parallelism = 16
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RunID == "" {
		o.RunID = NewRunID(o.Clock.Now())
	}
	if o.Progress == nil {
		o.Progress = func(Event) {}
	}
	return o
}

// NewRunID returns a run id such as r20250301t120000-1a2b.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return "r" + now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// Apply carries out a plan. It returns a *BlockedError, without any call, when the plan
// has blocked items and SkipBlocked is off; otherwise a Result, and ctx's error if ctx
// ended.
func Apply(ctx context.Context, api dataflow.API, p *plan.Plan, opts Options) (*Result, error) {
	opts = opts.WithDefaults()
	start := opts.Clock.Now()
	if err := CheckBlocked(p, opts.SkipBlocked); err != nil {
		return nil, err
	}

	res := &Result{RunID: opts.RunID}
	for _, it := range p.Items {
		r := ItemResult{EventType: it.EventType, JobName: it.JobName, Project: it.Project, Region: it.Region,
			Action: it.Action, Version: it.Version}
		switch it.Action {
		case plan.Blocked:
			r.Status, r.Error = Skipped, "blocked: "+it.Reason
		case plan.Unchanged:
			r.Status, r.JobID, r.State = Started, it.Current.ID, it.Current.State
			if it.Current.State == dataflow.StateRunning {
				r.Status = Running
			}
		}
		res.Items = append(res.Items, r)
	}
	for _, o := range p.Orphans {
		if o.Action == plan.Drain {
			res.Items = append(res.Items, ItemResult{EventType: o.Job.Labels[fleet.LabelEventType], JobName: o.Job.Name,
				Project: o.Job.Project, Region: o.Job.Region, Action: plan.Drain, JobID: o.Job.ID, State: o.Job.State})
		}
	}

	// Launches and drains.
	var todo []int
	for i, r := range res.Items {
		if r.Status == "" {
			todo = append(todo, i)
		}
	}
	items := map[string]plan.Item{}
	for _, it := range p.Items {
		items[it.JobName+"\x00"+it.Project+"\x00"+it.Region] = it
	}
	opts.Progress(Event{Kind: EventPhase, Phase: PhaseApply, Count: len(todo)})
	var mu sync.Mutex
	// Items are started in plan order, each once it holds a slot; when ctx ends, the
	// items not started yet stay untouched (skipped below), for the next deploy.
	gcpclient.NewLimiter(opts.Parallelism).Each(ctx, len(todo), func(k int) {
		i := todo[k]
		if ctx.Err() != nil {
			return // ended between the acquire and now: left for the next deploy
		}
		mu.Lock()
		r := res.Items[i]
		mu.Unlock()
		if r.Action == plan.Drain {
			drain(ctx, api, &r, opts)
		} else {
			launch(ctx, api, items[r.JobName+"\x00"+r.Project+"\x00"+r.Region], &r, opts)
		}
		mu.Lock()
		res.Items[i] = r
		mu.Unlock()
		opts.step(PhaseApply, r)
	})
	opts.Progress(Event{Kind: EventPhaseDone, Phase: PhaseApply})
	for i := range res.Items {
		if res.Items[i].Status == "" {
			res.Items[i].Status, res.Items[i].Error = Skipped, "not attempted: "+context.Cause(ctx).Error()
		}
	}
	err := ctx.Err()
	if err == nil && opts.Wait {
		err = wait(ctx, api, res, opts)
	}
	res.Elapsed = opts.Clock.Now().Sub(start)
	return res, err
}

// CheckBlocked returns a *BlockedError naming the plan's blocked items, or nil when there
// are none or skip is set.
func CheckBlocked(p *plan.Plan, skip bool) error {
	var blocked []plan.Item
	for _, it := range p.Items {
		if it.Action == plan.Blocked {
			blocked = append(blocked, it)
		}
	}
	if len(blocked) > 0 && !skip {
		return &BlockedError{Items: blocked}
	}
	return nil
}

// LaunchRequest is the launch of job d's template with its parameters, run_id, environment
// and labels; update replaces the running job of its name in place. A backfill starts from
// it too.
func LaunchRequest(d fleet.Job, runID string, update bool) dataflow.LaunchRequest {
	params := maps.Clone(d.Parameters)
	params[fleet.ParamRunID] = runID
	return dataflow.LaunchRequest{
		Project:     d.Project,
		Region:      d.Region,
		JobName:     d.Name,
		Template:    d.Template,
		Parameters:  params,
		Environment: d.Environment,
		Labels:      maps.Clone(d.Labels),
		Update:      update,
	}
}

func launch(ctx context.Context, api dataflow.API, it plan.Item, r *ItemResult, opts Options) {
	switch it.Action {
	case plan.Replace:
		replace(ctx, api, it, r, opts)
		return
	case plan.InPlace:
		changeInPlace(ctx, api, it, r, opts)
		return
	}
	update := it.Action == plan.Update
	req := LaunchRequest(it.Desired, opts.RunID, update)
	policy := opts.Retry
	policy.OnRetry = func(attempt int, err error, wait time.Duration) {
		opts.Logger.Warn("launch failed, retrying", "job", it.JobName, "attempt", attempt, "code", status.Code(err).String(), "wait", wait.Round(time.Millisecond))
	}
	job, attempts, recognised, err := LaunchOnce(ctx, api, req, policy, func(j dataflow.Job) bool { return isLaunchOf(j, it.Desired) })
	r.Attempts, r.Recognised = attempts, recognised
	if err != nil {
		r.Status, r.Error, r.Err = Failed, fmt.Sprintf("deploy %s: launch: %v", it.EventType, err), err
		r.Incompatible = update && IsIncompatible(err)
		opts.Logger.Error("launch failed", "job", it.JobName, "attempts", r.Attempts, "err", err)
		return
	}
	r.Status, r.JobID, r.State = Started, job.ID, job.State
	if job.State == dataflow.StateRunning {
		r.Status = Running
	}
}

// LaunchOnce launches req with retries of transient errors (policy), and never twice:
// before every retry, and when the launch answers ALREADY_EXISTS, it looks for an active
// job of req's name that ours says is this launch (ours sees the job with its labels),
// which a launch that reported an error created all the same; that job is returned with
// recognised set. attempts counts launch calls. Deploy and backfill launch through it.
func LaunchOnce(ctx context.Context, api dataflow.API, req dataflow.LaunchRequest, policy dataflow.RetryPolicy, ours func(dataflow.Job) bool) (job dataflow.Job, attempts int, recognised bool, err error) {
	err = policy.Do(ctx, func(ctx context.Context) error {
		if attempts > 0 {
			// The previous attempt failed; it may have launched the job all the same.
			j, ok, err := recognise(ctx, api, req, ours)
			if err != nil {
				return err
			}
			if ok {
				job, recognised = j, true
				return nil
			}
		}
		attempts++
		j, err := api.Launch(ctx, req)
		if err == nil {
			job = j
			return nil
		}
		if status.Code(err) == codes.AlreadyExists {
			j, ok, rerr := recognise(ctx, api, req, ours)
			if rerr != nil {
				return errors.Join(err, rerr)
			}
			if ok {
				job, recognised = j, true
				return nil
			}
		}
		return err
	})
	return job, attempts, recognised, err
}

// isLaunchOf reports whether a job is exactly the one a deploy launches for d: the fleet's
// labels with the desired version and config hash.
func isLaunchOf(j dataflow.Job, d fleet.Job) bool {
	return j.Labels[fleet.LabelManagedBy] == fleet.ManagedByValue &&
		j.Labels[fleet.LabelFleet] == d.Labels[fleet.LabelFleet] &&
		j.Labels[fleet.LabelPipelineVersion] == d.Labels[fleet.LabelPipelineVersion] &&
		j.Labels[fleet.LabelConfigHash] == d.ConfigHash
}

// recognise looks for an active job of req's name that ours accepts, read with its labels.
func recognise(ctx context.Context, api dataflow.API, req dataflow.LaunchRequest, ours func(dataflow.Job) bool) (dataflow.Job, bool, error) {
	jobs, err := api.List(ctx, dataflow.ListRequest{Project: req.Project, Region: req.Region, Filter: dataflow.Active, Name: req.JobName})
	if err != nil {
		return dataflow.Job{}, false, fmt.Errorf("look for job %s: %w", req.JobName, err)
	}
	for _, j := range jobs {
		if j.Name != req.JobName || !j.State.Active() {
			continue
		}
		full, err := api.Get(ctx, req.Project, req.Region, j.ID)
		if err != nil {
			return dataflow.Job{}, false, fmt.Errorf("look for job %s: %w", req.JobName, err)
		}
		if ours(full) {
			return full, true, nil
		}
	}
	return dataflow.Job{}, false, nil
}

func drain(ctx context.Context, api dataflow.API, r *ItemResult, opts Options) {
	j, err := api.Drain(ctx, r.Project, r.Region, r.JobID)
	if err != nil {
		r.Status, r.Error = Failed, fmt.Sprintf("drain %s: %v", r.JobName, err)
		opts.Logger.Error("drain failed", "job", r.JobName, "err", err)
		return
	}
	r.Status, r.State = Drained, j.State
}

// LowerBound is the shortest possible time to launch n jobs when each launch takes
// latency, at most parallelism run at once, and launches are limited to rate per second
// with a burst: the slower of the two constraints, concurrency (ceil(n/parallelism) rounds
// of latency) and the rate limit (the last launch cannot start before (n-burst)/rate).
func LowerBound(n, parallelism int, latency time.Duration, rate float64, burst int) time.Duration {
	if n == 0 {
		return 0
	}
	rounds := (n + parallelism - 1) / parallelism
	byConcurrency := time.Duration(rounds) * latency
	var byRate time.Duration
	if rate > 0 && n > burst {
		byRate = time.Duration(float64(n-burst)/rate*float64(time.Second)) + latency
	}
	return max(byConcurrency, byRate)
}
