package cmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
)

func addValidate(root *cobra.Command, g *globalOptions, env Env) {
	root.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Check the fleet file and every schema it names",
		Long: `validate reads the fleet file and reports every problem at once, one per line, as
file:line: field: problem (unknown keys, bad names, duplicates, unreadable or invalid Avro
schemas, bad durations, a template without {version}, missing settings). It makes no calls.

Exit codes: 0 valid, 1 problems.`,
		Example: `  launcher validate -f fleet.yaml
  launcher validate -f fleet.yaml -o json | jq '.problems[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := fleet.Load(g.Fleet)
			var verr *fleet.ValidationError
			if errors.As(err, &verr) {
				if rerr := view.Validation(env.Stdout, g.format, g.Fleet, nil, verr.Problems); rerr != nil {
					return rerr
				}
				return &exitError{Code: ExitFailure}
			}
			if err != nil {
				return err
			}
			return view.Validation(env.Stdout, g.format, g.Fleet, f, nil)
		},
	})
}

type planOptions struct {
	api              apiOptions
	Prune            bool
	DetailedExitcode bool
}

func addPlan(root *cobra.Command, g *globalOptions, env Env) {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what deploy would do to every event type",
		Long: `plan compares the fleet file with the jobs in every project and region it names and
prints, per event type, what deploy would do:

    +  create     no active job of that name
    ~  update     in place: the version or the configuration changed
  -/+  recreate   the last job failed or was cancelled
    !  blocked    a job of that name is not managed by eventdelivery, is draining, is not
                  running yet, or the project's max_active_jobs_per_project would be exceeded
    -  drain      (with --prune) a managed job of the fleet that no event type describes

Unchanged event types are counted in the summary line, and listed in -o json.

Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error,
2 changes (with --detailed-exitcode only).`,
		Example: `  launcher plan -f fleet.yaml
  launcher plan -f fleet.yaml --detailed-exitcode || echo "changes or error: $?"
  launcher plan -f fleet.yaml -o json | jq '.items[] | select(.action != "unchanged")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.api.Validate(); err != nil {
				return err
			}
			f, err := loadFleet(g)
			if err != nil {
				return err
			}
			logger := g.logger(env)
			api, closeAPI, err := o.api.dial(cmd.Context(), env, logger)
			if err != nil {
				return err
			}
			defer closeAPI()
			obs, err := plan.Observe(cmd.Context(), api, f, o.api.Parallelism)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			p := plan.Compute(f, obs, plan.Options{Prune: o.Prune})
			if err := view.Plan(env.Stdout, g.format, p); err != nil {
				return err
			}
			if o.DetailedExitcode && p.HasChanges() {
				return &exitError{Code: ExitChanges}
			}
			return nil
		},
	}
	o.api.bind(cmd, false)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "plan to drain orphaned jobs")
	cmd.Flags().BoolVar(&o.DetailedExitcode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	root.AddCommand(cmd)
}

type deployOptions struct {
	api          apiOptions
	Prune        bool
	SkipBlocked  bool
	Wait         bool
	WaitTimeout  time.Duration
	PollInterval time.Duration
}

func addDeploy(root *cobra.Command, g *globalOptions, env Env) {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Apply the plan: launch, update and recreate jobs, then wait for them to run",
		Long: `deploy computes the plan (see plan) and applies it to every event type concurrently
(--parallelism), within a client-side rate limit (--rate, --burst), retrying transient
errors with exponential backoff and jitter. A launch that reported an error but created
its job is recognised by the job's labels and counted as done: no job is launched twice.
With --wait (the default) it then waits until every job of the fleet is RUNNING.

Blocked items stop the deploy before any call, unless --skip-blocked. Orphaned jobs are
left alone unless --prune, which drains them. Running deploy again finishes exactly what
is left, so an interrupted or failed deploy is resumed by running it again.

Progress goes to stderr (a bar on a terminal, one line per job otherwise); the final
table and summary go to stdout.

Exit codes: 0 every job running (or started, with --wait=false), 1 a failure or timeout,
2 blocked items were skipped (--skip-blocked), 3 refused because of blocked items.`,
		Example: `  launcher deploy -f fleet.yaml
  launcher deploy -f fleet.yaml --parallelism 32 --rate 10 --timeout 20m
  launcher deploy -f fleet.yaml --skip-blocked --prune
  launcher deploy -f fleet.yaml --wait=false -o json > result.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.api.Validate(); err != nil {
				return err
			}
			f, err := loadFleet(g)
			if err != nil {
				return err
			}
			logger := g.logger(env)
			api, closeAPI, err := o.api.dial(cmd.Context(), env, logger)
			if err != nil {
				return err
			}
			defer closeAPI()
			obs, err := plan.Observe(cmd.Context(), api, f, o.api.Parallelism)
			if err != nil {
				return fmt.Errorf("deploy: plan: %w", err)
			}
			p := plan.Compute(f, obs, plan.Options{Prune: o.Prune})
			fmt.Fprintln(env.Stderr, p.Summary())
			res, err := deploy.Apply(cmd.Context(), api, p, deploy.Options{
				Parallelism:  o.api.Parallelism,
				Retry:        o.api.retry(logger),
				SkipBlocked:  o.SkipBlocked,
				Wait:         o.Wait,
				WaitTimeout:  o.WaitTimeout,
				PollInterval: o.PollInterval,
				Progress:     deploy.NewProgress(env.Stderr, env.Terminal),
				Logger:       logger,
			})
			var berr *deploy.BlockedError
			if errors.As(err, &berr) {
				return &exitError{Code: ExitBlocked, Err: berr}
			}
			if res != nil {
				if rerr := view.Deploy(env.Stdout, g.format, res); rerr != nil {
					return rerr
				}
			}
			if err != nil {
				return fmt.Errorf("deploy: %w", err)
			}
			c := res.Counts()
			switch {
			case c.Failed+c.TimedOut > 0:
				return &exitError{Code: ExitFailure, Err: fmt.Errorf("deploy: %d failed, %d timed out; run deploy again to finish what is left", c.Failed, c.TimedOut)}
			case c.Skipped > 0:
				return &exitError{Code: ExitChanges, Err: fmt.Errorf("deploy: %d blocked items skipped", c.Skipped)}
			}
			return nil
		},
	}
	o.api.bind(cmd, true)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "drain orphaned jobs (managed jobs of the fleet with no event type in the file)")
	cmd.Flags().BoolVar(&o.SkipBlocked, "skip-blocked", false, "apply the rest of the plan when some items are blocked")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait until every job is RUNNING")
	cmd.Flags().DurationVar(&o.WaitTimeout, "timeout", 15*time.Minute, "how long --wait waits")
	cmd.Flags().DurationVar(&o.PollInterval, "poll-interval", 5*time.Second, "time between two polls while waiting")
	root.AddCommand(cmd)
}

type statusOptions struct {
	api apiOptions
}

func addStatus(root *cobra.Command, g *globalOptions, env Env) {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every event type's job, its state and version",
		Long: `status shows, for every event type of the fleet file, its job, the job's state, the
version it runs, whether that is the pinned version (and configuration), and since when;
then a summary such as "300 jobs: 298 running v1.4.2, 1 drifted (v1-4-1), 1 failed".
Versions are read from the pipeline-version label, which holds a label-safe form of the
version (v1.4.1 becomes v1-4-1).

Exit codes: 0 every job runs its pinned version, 1 error, 2 some job does not.`,
		Example: `  launcher status -f fleet.yaml
  launcher status -f fleet.yaml -o json | jq '.jobs[] | select(.matches_pinned | not)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.api.Validate(); err != nil {
				return err
			}
			f, err := loadFleet(g)
			if err != nil {
				return err
			}
			logger := g.logger(env)
			api, closeAPI, err := o.api.dial(cmd.Context(), env, logger)
			if err != nil {
				return err
			}
			defer closeAPI()
			obs, err := plan.Observe(cmd.Context(), api, f, o.api.Parallelism)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			r := status.Build(f, obs)
			if err := view.Status(env.Stdout, g.format, r); err != nil {
				return err
			}
			if !r.Converged() {
				return &exitError{Code: ExitChanges}
			}
			return nil
		},
	}
	o.api.bind(cmd, false)
	root.AddCommand(cmd)
}
