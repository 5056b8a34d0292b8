package cmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/backfill"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
)

// backfillOptions are the flags of `backfill`.
type backfillOptions struct {
	api          apiOptions
	req          backfill.Request
	Format       string
	Wait         bool
	WaitTimeout  time.Duration
	PollInterval time.Duration
	DryRun       bool
	RunID        string
	// clock is the time the wait follows (tests give the fakes' clock).
	clock deploy.Clock
}

func (o *backfillOptions) Validate() error {
	switch {
	case o.WaitTimeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", o.WaitTimeout)
	case o.PollInterval <= 0:
		return fmt.Errorf("--poll-interval must be positive, got %s", o.PollInterval)
	case o.RunID != "" && !runIDRe.MatchString(o.RunID):
		return fmt.Errorf("--run-id %q: want lower-case letters, digits and '-', at most 63, as r20261202t053000-1a2b (it is a label and ends the job name)", o.RunID)
	}
	return o.api.Validate()
}

var runIDRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func addBackfill(root *cobra.Command, g *globalOptions, env Env) {
	o := &backfillOptions{clock: deploy.RealClock{}}
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Replay an archive of one event type on Dataflow, as a batch job next to the live one",
		Long: `backfill launches the event type's pinned pipeline version from the same Flex Template
as its live job, with the same parameters, but as a batch job that reads --input (a gs://
glob of archived messages) instead of the subscription, writes into --output and, with
--from and --to, replays the buckets [from, to) only (bucket starts, RFC3339 or
2026-12-01T10 in UTC; --to no later than the current hour).

The job is named backfill-<fleet>-<event type>-<from>-<id> and labelled backfill=<run id>
(and backfill-from, backfill-to) besides managed-by, fleet, event-type and
pipeline-version: plan, deploy, status, rollouts, drain, cancel and the alert policies
never take it for the live job or an orphan. It calls nothing on any other job.

--output is normally a new folder. The live job's own output is refused unless
--into-live-output: hours closed there stay as they are and hours the live job has open
are refused by the pipeline, so what a backfill adds there is missing hours.

It prints the job id and its console page. --wait follows the job to its end (every
--poll-interval, for at most --timeout), then reads the manifests of [from, to) back and
shows per hour whether this backfill closed it, another run had (left as it was), or it
has no manifest. --dry-run shows the launch and calls nothing. Running it again with the
same --run-id launches nothing new while that backfill's job is active (it is recognised
by its labels); once it has stopped, the same replay runs again under the same run id,
which, as the pipeline's run_id says, changes nothing it had closed.

Exit codes: 0 launched (with --wait: DONE, every hour of the span closed), 1 error
(bad flags, launch refused, the job FAILED or was cancelled, --timeout passed),
2 (--wait) DONE but some hour of the span has no manifest.`,
		Example: `  launcher backfill -f fleet.yaml --event-type play-track --input 'gs://archive/play-track/2026/12/01/*.avro' \
      --output gs://rebuild/raw --from 2026-12-01T00 --to 2026-12-02T00 --wait
  launcher backfill -f fleet.yaml --event-type play-track --input 'gs://archive/play-track/*.avro' \
      --output gs://B/raw --into-live-output --from 2026-12-01T10 --to 2026-12-01T12 --dry-run
  launcher backfill -f fleet.yaml --event-type play-track --input 'gs://archive/play-track/2026/12/*.avro' --output gs://rebuild/raw -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	o.api.bind(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&o.req.EventType, "event-type", "", "the event type to replay (required)")
	fl.StringVar(&o.req.Input, "input", "", "gs:// path or glob of the archive to replay (required)")
	// --output is the destination here, as the pipeline's flag; -o stays the format.
	fl.StringVar(&o.req.Output, "output", "", "gs:// folder the replayed hours go under (required)")
	fl.StringVarP(&o.Format, "output-format", "o", "table", "output format: table or json")
	fl.StringVar(&o.req.From, "from", "", "first bucket to replay: RFC3339 or 2026-12-01T10 (UTC); with --to")
	fl.StringVar(&o.req.To, "to", "", "end of the span, exclusive; with --from")
	fl.BoolVar(&o.req.IntoLiveOutput, "into-live-output", false, "allow --output to be the event type's live output (fills missing hours there)")
	fl.BoolVar(&o.Wait, "wait", false, "follow the job to its end and report the hours it closed")
	fl.DurationVar(&o.WaitTimeout, "timeout", 24*time.Hour, "how long --wait waits")
	fl.DurationVar(&o.PollInterval, "poll-interval", 30*time.Second, "time between two reads of the job while waiting")
	fl.BoolVar(&o.DryRun, "dry-run", false, "show the job it would launch; call nothing")
	fl.StringVar(&o.RunID, "run-id", "", "the backfill's run id (its files, label and job name end); give the same one to launch the same backfill again safely (default: generated)")
	root.AddCommand(cmd)
}

// run is `launcher backfill`.
func (o *backfillOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	fail := func(err error) error { return &exitError{Code: ExitFailure, Err: err} }
	format, err := view.ParseFormat(o.Format)
	if err != nil {
		return fail(fmt.Errorf("--output-format: %w", err))
	}
	if err := o.Validate(); err != nil {
		return fail(err)
	}
	f, err := loadFleet(g)
	if err != nil {
		return err
	}
	now := o.clock.Now()
	runID := o.RunID
	if runID == "" {
		runID = deploy.NewRunID(now)
	}
	b, err := backfill.Prepare(f, o.req, runID, now)
	if err != nil {
		return fail(fmt.Errorf("backfill: %w", err))
	}
	if o.DryRun {
		return view.BackfillPlan(env.Stdout, format, b)
	}
	logger := g.logger(env)
	api, closeAPI, err := o.api.dial(ctx, env, logger)
	if err != nil {
		return fail(err)
	}
	defer closeAPI()
	res, err := backfill.Launch(ctx, api, b, o.api.retry(logger))
	if err != nil {
		return fail(err)
	}
	if err := view.BackfillLaunched(env.Stdout, format, res); err != nil {
		return err
	}
	if !o.Wait {
		if format == view.JSON {
			return view.BackfillResult(env.Stdout, format, res)
		}
		return nil
	}
	opts := deploy.Options{Clock: o.clock, PollInterval: o.PollInterval, WaitTimeout: o.WaitTimeout, Logger: logger}
	ferr := backfill.Follow(ctx, api, res, opts, func(j dataflow.Job) {
		logger.Info("backfill", "job", res.JobName, "state", j.State)
	})
	if ferr != nil && (ctx.Err() != nil || errors.Is(ferr, deploy.ErrTimeout)) {
		// Only the wait stopped: the job runs on.
		_ = view.BackfillResult(env.Stdout, format, res)
		return fail(fmt.Errorf("%w; job %s runs on: %s", ferr, res.JobID, res.ConsoleURL))
	}
	// The job has stopped: what it closed is in the output, DONE or not.
	if _, _, ok := res.Span(); ok {
		st, err := openStore(ctx, res.Output)
		if err != nil {
			return fail(errors.Join(ferr, fmt.Errorf("open %s: %w", res.Output, err)))
		}
		defer st.Close()
		if err := backfill.Hours(ctx, st, res, o.api.Parallelism); err != nil {
			return fail(errors.Join(ferr, err))
		}
	}
	if err := view.BackfillResult(env.Stdout, format, res); err != nil {
		return err
	}
	switch {
	case ferr != nil:
		return fail(ferr)
	case res.Count().NotClosed > 0:
		return &exitError{Code: ExitChanges, Err: fmt.Errorf("backfill %s: DONE, but %d hours of [%s, %s) have no manifest", res.JobName, res.Count().NotClosed, res.From, res.To)}
	}
	return nil
}
