package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
)

// rolloutOptions are the flags deploy and rollback share for rollouts.
type rolloutOptions struct {
	AllowReplace bool
	Force        bool
	Soak         time.Duration
	GateHours    bool
}

func (o *rolloutOptions) bind(cmd *cobra.Command, deploy bool) {
	cmd.Flags().BoolVar(&o.AllowReplace, "allow-replace", false, "when Dataflow rejects an in-place update as incompatible, drain the job and launch the new version under the same name")
	cmd.Flags().BoolVar(&o.GateHours, "gate-hours", true, "the health gate also judges closed hours from the output's _SUCCESS manifests (reads Cloud Storage)")
	if deploy {
		cmd.Flags().BoolVar(&o.Force, "force", false, "roll out a version an earlier rollout rolled back")
		cmd.Flags().DurationVar(&o.Soak, "soak", 0, "soak time per wave, instead of the fleet file's rollout.soak")
	}
}

func (o *rolloutOptions) Validate() error {
	if o.Soak < 0 {
		return fmt.Errorf("--soak must not be negative")
	}
	return nil
}

// rolloutDeps dials what a rollout needs: the health gate's Monitoring client (in the
// alerts project) and manifest reader.
func rolloutDeps(ctx context.Context, env Env, logger *slog.Logger, f *fleet.Fleet, o *rolloutOptions, retries int) (rollout.Health, func(), error) {
	project := f.AlertsProject()
	if project == "" {
		logger.Warn("no alerts project: the health gate judges job states only")
		return rollout.Health{}, func() {}, nil
	}
	mon, closeMon, err := dialMonitoring(ctx, env, logger, retries)
	if err != nil {
		return rollout.Health{}, nil, err
	}
	h := rollout.Health{Metrics: mon, Project: project}
	if o.GateHours {
		h.Manifests = func(ctx context.Context, root string) (status.ManifestChecker, error) {
			return objstore.Open(ctx, root)
		}
	}
	return h, closeMon, nil
}

func renderRollout(env Env, g *globalOptions, res *rollout.Result) error {
	return view.Rollout(env.Stdout, g.format, res)
}

// runDeploy is the deploy command: one apply of the whole plan, or, when the fleet file
// has a rollout: block (or --allow-replace), a rollout; both end in finishDeploy.
func runDeploy(ctx context.Context, env Env, g *globalOptions, o *deployOptions) error {
	f, api, logger, closeAPI, err := o.api.open(ctx, g, env)
	if err != nil {
		return err
	}
	defer closeAPI()
	if f.Rollout != nil || o.rollout.AllowReplace {
		return runRollout(ctx, env, g, f, api, o, logger)
	}
	obs, err := plan.Observe(ctx, api, f, o.api.Parallelism)
	if err != nil {
		return fmt.Errorf("deploy: plan: %w", err)
	}
	p := plan.Compute(f, obs, plan.Options{Prune: o.Prune})
	fmt.Fprintln(env.Stderr, p.Summary())
	res, err := deploy.Apply(ctx, api, p, deploy.Options{
		Parallelism:  o.api.Parallelism,
		Retry:        o.api.retry(logger),
		SkipBlocked:  o.SkipBlocked,
		Wait:         o.Wait,
		WaitTimeout:  o.WaitTimeout,
		PollInterval: o.PollInterval,
		Progress:     view.Progress(env.Stderr, env.Terminal),
		Logger:       logger,
	})
	return finishDeploy(ctx, env, g, f, api, o, logger, deployed{Result: res}, err)
}

// runRollout is deploy when the fleet file has a rollout: block (or --allow-replace).
func runRollout(ctx context.Context, env Env, g *globalOptions, f *fleet.Fleet, api dataflow.API, o *deployOptions, logger *slog.Logger) error {
	if err := o.rollout.Validate(); err != nil {
		return err
	}
	if o.Prune {
		msg := "deploy: --prune is not available with --allow-replace; run deploy --prune without --allow-replace, or drain orphans with launcher drain"
		if f.Rollout != nil {
			msg = "deploy: --prune is not available with a rollout; run it without a rollout: block, or drain orphans with launcher drain"
		}
		return &exitError{Code: ExitFailure, Err: errors.New(msg)}
	}
	health, closeHealth, err := rolloutDeps(ctx, env, logger, f, &o.rollout, o.api.Retries)
	if err != nil {
		return err
	}
	defer closeHealth()
	res, err := rollout.Run(ctx, api, f, rollout.Options{
		Parallelism:  o.api.Parallelism,
		Retry:        o.api.retry(logger),
		AllowReplace: o.rollout.AllowReplace,
		SkipBlocked:  o.SkipBlocked,
		Force:        o.rollout.Force,
		PollInterval: o.PollInterval,
		StartTimeout: o.WaitTimeout,
		NoWait:       !o.Wait,
		Soak:         o.rollout.Soak,
		Health:       health,
		Progress:     view.Progress(env.Stderr, env.Terminal),
		Logger:       logger,
	})
	return finishDeploy(ctx, env, g, f, api, o, logger, deployedRollout(res), err)
}

// deployed is what the engine returned to deploy: a plain deploy's result, or a rollout's,
// which holds one (rollout.Result embeds deploy.Result). Result is nil when the engine
// refused before any call.
type deployed struct {
	*deploy.Result
	// rollout is set for a rollout, which renders with its waves and rollbacks.
	rollout *rollout.Result
}

// deployedRollout is a rollout's result (nil or not) as deploy's ending reads it.
func deployedRollout(res *rollout.Result) deployed {
	if res == nil {
		return deployed{}
	}
	return deployed{Result: &res.Result, rollout: res}
}

// render writes the result to stdout: a rollout's waves and jobs, or a deploy's jobs.
func (d deployed) render(env Env, g *globalOptions) error {
	if d.rollout != nil {
		return renderRollout(env, g, d.rollout)
	}
	return view.Deploy(env.Stdout, g.format, d.Result)
}

// finishDeploy is deploy's one ending after the engine, a plain deploy's or a rollout's: a
// refusal for blocked items exits 3 at once; otherwise the result is rendered, the
// launcher's metrics published (publishAfterDeploy), and the exit code says what the engine
// left: 5 a failed gate rolled back, 1 an error, a failure or a timeout, 2 skipped items,
// else the publish's.
func finishDeploy(ctx context.Context, env Env, g *globalOptions, f *fleet.Fleet, api dataflow.API, o *deployOptions, logger *slog.Logger, res deployed, err error) error {
	var berr *deploy.BlockedError
	if errors.As(err, &berr) {
		return &exitError{Code: ExitBlocked, Err: berr}
	}
	if res.Result != nil {
		if rerr := res.render(env, g); rerr != nil {
			return rerr
		}
	}
	perr := publishAfterDeploy(ctx, env, logger, f, api, o)
	var ge *rollout.GateError
	switch {
	case errors.As(err, &ge):
		return &exitError{Code: ExitRolledBack, Err: fmt.Errorf("deploy: %w", err)}
	case err != nil:
		return fmt.Errorf("deploy: %w", err)
	}
	// A rollout that returned no error has no failed, timed-out or skipped items: these
	// exits are a plain deploy's.
	c := res.Counts()
	switch {
	case c.Failed+c.TimedOut > 0:
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("deploy: %d failed, %d timed out; run deploy again to finish what is left", c.Failed, c.TimedOut)}
	case c.Skipped > 0:
		return &exitError{Code: ExitChanges, Err: fmt.Errorf("deploy: %d blocked items skipped", c.Skipped)}
	}
	return perr
}

type rollbackOptions struct {
	api          apiOptions
	rollout      rolloutOptions
	ID           string
	To           string
	PollInterval time.Duration
	Timeout      time.Duration
}

func (o *rollbackOptions) Validate() error {
	if err := o.api.Validate(); err != nil {
		return err
	}
	if o.PollInterval <= 0 {
		return fmt.Errorf("--poll-interval must be positive")
	}
	return nil
}

// runRollback is the rollback command.
func runRollback(ctx context.Context, env Env, g *globalOptions, o *rollbackOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	f, api, logger, closeAPI, err := o.api.open(ctx, g, env)
	if err != nil {
		return err
	}
	defer closeAPI()
	res, err := rollout.Rollback(ctx, api, f, o.ID, o.To, rollout.Options{
		Parallelism:  o.api.Parallelism,
		Retry:        o.api.retry(logger),
		AllowReplace: o.rollout.AllowReplace,
		PollInterval: o.PollInterval,
		StartTimeout: o.Timeout,
		Progress:     view.Progress(env.Stderr, env.Terminal),
		Logger:       logger,
	})
	if res != nil {
		if rerr := renderRollout(env, g, res); rerr != nil {
			return rerr
		}
	}
	return err
}

func addRollback(root *cobra.Command, g *globalOptions, env Env) {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Take the jobs a rollout upgraded back to their previous versions, in place",
		Long: `rollback finds, from the jobs' labels, every running job of the fleet that a rollout
upgraded (rollout-id and previous-version labels) and updates it in place back to the
version it replaced, with the fleet file's configuration. It does what deploy does by
itself when a health gate fails. Jobs the rollout did not touch, and jobs already rolled
back, are left alone, so an interrupted rollback is finished by running it again.

--rollout picks a rollout by id (default: the newest one that has upgraded jobs). --to
gives the version to go back to for jobs whose previous version is not recorded exactly.
When Dataflow rejects the update back as incompatible, --allow-replace drains the job and
launches the previous version under the same name.

A rolled-back version is not rolled out again by deploy unless --force: fix the version in
the fleet file first.

Exit codes: 0 rolled back (or nothing to roll back), 1 error or a rollback that failed.`,
		Example: `  launcher rollback -f fleet.yaml
  launcher rollback -f fleet.yaml --rollout r20260301t120000-1a2b --allow-replace
  launcher rollback -f fleet.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd.Context(), env, g, o)
		},
	}
	o.api.bind(cmd, true)
	cmd.Flags().BoolVar(&o.rollout.AllowReplace, "allow-replace", false, "when the update back is rejected as incompatible, drain the job and launch the previous version")
	cmd.Flags().StringVar(&o.ID, "rollout", "", "the rollout to roll back (default: the newest with upgraded jobs)")
	cmd.Flags().StringVar(&o.To, "to", "", "version to go back to when a job's previous version is not recorded exactly")
	cmd.Flags().DurationVar(&o.PollInterval, "poll-interval", deploy.DefaultPollInterval, "time between two polls while waiting")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", deploy.DefaultWaitTimeout, "how long to wait for the rolled-back jobs to run")
	root.AddCommand(cmd)
}

type stopOptions struct {
	api apiOptions
	All bool
	Yes bool
}

func (o *stopOptions) Validate(args []string) error {
	if err := o.api.Validate(); err != nil {
		return err
	}
	switch {
	case o.All && len(args) > 0:
		return fmt.Errorf("name event types or --all, not both")
	case !o.All && len(args) == 0:
		return fmt.Errorf("name the event types to stop, or --all for the whole fleet")
	}
	return nil
}

func addStop(root *cobra.Command, g *globalOptions, env Env, mode stopjobs.Mode) {
	o := &stopOptions{}
	long := map[stopjobs.Mode]string{
		stopjobs.Drain: `drain asks the jobs of the named event types (or, with --all, every job of the fleet,
orphans included) to drain: they stop reading, finish and write what they hold, and
stop. Hours that are not over yet are left open, to be closed by the job that replaces
them (launcher deploy recreates drained event types). It does not wait for the drains.`,
		stopjobs.Cancel: `cancel stops the jobs of the named event types (or, with --all, every job of the fleet,
orphans included) at once. ` + stopjobs.CancelWarning,
	}[mode]
	cmd := &cobra.Command{
		Use:   string(mode) + " [EVENT TYPE...]",
		Short: map[stopjobs.Mode]string{stopjobs.Drain: "Drain chosen jobs of the fleet, or all of them", stopjobs.Cancel: "Cancel chosen jobs of the fleet, or all of them (in-flight data is lost)"}[mode],
		Long: long + `

Only jobs labelled managed-by=eventdelivery and fleet=<fleet> are touched. The command
lists the jobs and asks for confirmation on a terminal; --yes confirms in scripts (without
a terminal and without --yes it refuses).

Exit codes: 0 requested, 1 error, refused, or a request that failed.`,
		Example: fmt.Sprintf(`  launcher %[1]s -f fleet.yaml play-track search-query
  launcher %[1]s -f fleet.yaml --all --yes`, mode),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), g, env, mode, args) },
	}
	o.api.bind(cmd, true)
	cmd.Flags().BoolVar(&o.All, "all", false, "every job of the fleet, orphans included")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation (scripts)")
	root.AddCommand(cmd)
}

// run is `launcher drain` and `launcher cancel`.
func (o *stopOptions) run(ctx context.Context, g *globalOptions, env Env, mode stopjobs.Mode, args []string) error {
	if err := o.Validate(args); err != nil {
		return err
	}
	f, api, _, closeAPI, err := o.api.open(ctx, g, env)
	if err != nil {
		return err
	}
	defer closeAPI()
	obs, err := plan.Observe(ctx, api, f, o.api.Parallelism)
	if err != nil {
		return fmt.Errorf("%s: %w", mode, err)
	}
	targets, err := stopjobs.Select(f, obs, args, o.All)
	if err != nil {
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("%s: %w", mode, err)}
	}
	n := stopjobs.Count(targets)
	if mode == stopjobs.Cancel && n > 0 {
		view.CancelWarning(env.Stderr)
	}
	if n > 0 && !o.Yes {
		if !env.StdinTerminal || env.Stdin == nil {
			return &exitError{Code: ExitFailure, Err: fmt.Errorf("%s: refusing to %s %d jobs without confirmation: not a terminal; pass --yes", mode, mode, n)}
		}
		view.StopPrompt(env.Stderr, mode, f.Name, targets)
		answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		if strings.TrimSpace(strings.ToLower(answer)) != "yes" {
			return &exitError{Code: ExitFailure, Err: fmt.Errorf("%s: not confirmed; nothing was changed", mode)}
		}
	}
	aerr := stopjobs.Apply(ctx, api, targets, mode, o.api.Parallelism)
	if err := view.Stop(env.Stdout, g.format, mode, targets); err != nil {
		return err
	}
	return aerr
}
