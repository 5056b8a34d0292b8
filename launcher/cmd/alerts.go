package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dashboard"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
)

// monitoringOptions are the flags of the commands that call Cloud Monitoring.
type monitoringOptions struct {
	Retries int
}

func (o *monitoringOptions) bind(cmd *cobra.Command) {
	cmd.Flags().IntVar(&o.Retries, "retries", 6, "most attempts per call on transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...)")
}

func (o *monitoringOptions) Validate() error {
	if o.Retries < 1 {
		return fmt.Errorf("--retries must be at least 1")
	}
	return nil
}

// dialMonitoring connects to Cloud Monitoring (or MONITORING_EMULATOR_HOST) with retries.
func dialMonitoring(ctx context.Context, env Env, logger *slog.Logger, retries int) (monitoring.API, func(), error) {
	host := emulatorHost(env, logger, "MONITORING_EMULATOR_HOST", "Cloud Monitoring")
	c, err := monitoring.Dial(ctx, monitoring.Config{EmulatorHost: host})
	if err != nil {
		return nil, nil, err
	}
	api := monitoring.WithRetry(c, (&apiOptions{Retries: retries}).retry(logger))
	return api, func() { c.Close() }, nil
}

// loadFleet is how a command that calls Cloud Monitoring starts: it checks the flags, loads
// the fleet file and reads its alerts project.
func (o *monitoringOptions) loadFleet(g *globalOptions) (*fleet.Fleet, string, error) {
	if err := o.Validate(); err != nil {
		return nil, "", err
	}
	f, err := loadFleet(g)
	if err != nil {
		return nil, "", err
	}
	project, err := alertsProject(f)
	if err != nil {
		return nil, "", err
	}
	return f, project, nil
}

// alertsProject returns the fleet's alerts project or a usage error.
func alertsProject(f *fleet.Fleet) (string, error) {
	p := f.AlertsProject()
	if p == "" {
		return "", &exitError{Code: ExitFailure, Err: fmt.Errorf("no alerts project: set defaults.alerts.project (or defaults.project) in %s", f.Path)}
	}
	return p, nil
}

type alertsOptions struct {
	mon              monitoringOptions
	DetailedExitcode bool
}

func addAlerts(root *cobra.Command, g *globalOptions, env Env) {
	parent := &cobra.Command{
		Use:   "alerts",
		Short: "Keep the fleet's Cloud Monitoring alert policies in sync with the fleet file",
		Long: `alerts keeps one Cloud Monitoring alert policy per signal for the whole fleet, in the
alerts project (defaults.alerts.project, else defaults.project): system lag, data
watermark age, job failed or missing, no hour closed, dead letters, subscription backlog,
and version drift. Each policy's condition groups by job, so one policy covers every job
of the fleet; event types with overridden thresholds or channels share a policy per
distinct setting. Policies carry the user labels managed-by=eventdelivery and
fleet=<fleet>; policies without them are never changed.

Set MONITORING_EMULATOR_HOST=host:port to talk to a fake (go run ./launcher/fakegcp).
See docs/operations.md for what each alert means and what to do when it fires.`,
		Args: cobra.NoArgs,
	}
	planOpts := &alertsOptions{}
	planCmd := &cobra.Command{
		Use:   "plan",
		Short: "Show which alert policies apply would create, update or delete",
		Long: `plan compares the policies the fleet file describes with the fleet's policies in the
alerts project and prints one line per change:

    +  create   no policy of the fleet with this key
    ~  update   the policy differs (the lines below it say how)
    -  delete   the fleet file no longer describes it (or a duplicate)

and checks that every notification channel exists and is enabled (a problem stops apply).

Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error or a problem,
2 changes (with --detailed-exitcode only).`,
		Example: `  launcher alerts plan -f fleet.yaml
  launcher alerts plan -f fleet.yaml --detailed-exitcode
  launcher alerts plan -f fleet.yaml -o json | jq '.changes[] | select(.action != "unchanged")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return planOpts.runPlan(cmd.Context(), g, env) },
	}
	planOpts.mon.bind(planCmd)
	planCmd.Flags().BoolVar(&planOpts.DetailedExitcode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")

	applyOpts := &alertsOptions{}
	applyCmd := &cobra.Command{
		Use:   "apply",
		Short: "Create, update and delete the fleet's alert policies",
		Long: `apply computes the plan (see alerts plan) and applies it: it makes sure the launcher's
custom metrics exist (for the drift policy), then creates, updates and deletes the fleet's
policies one call at a time. Policies without the fleet's labels are never touched. A
second apply changes nothing. A missing or disabled notification channel stops apply
before any change.

Progress goes to stderr; the applied changes and the summary go to stdout.

Exit codes: 0 success, 1 error (nothing or only part was applied; run it again).`,
		Example: `  launcher alerts apply -f fleet.yaml
  launcher alerts apply -f fleet.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return applyOpts.runApply(cmd.Context(), g, env) },
	}
	applyOpts.mon.bind(applyCmd)
	parent.AddCommand(planCmd, applyCmd)
	root.AddCommand(parent)
}

// runApply is `launcher alerts apply`.
func (o *alertsOptions) runApply(ctx context.Context, g *globalOptions, env Env) error {
	p, api, closeAPI, err := alertsPlan(ctx, g, env, o.mon)
	if err != nil {
		return err
	}
	defer closeAPI()
	logger := g.logger(env)
	fmt.Fprintln(env.Stderr, p.Summary())
	res, err := alerts.Apply(ctx, api, p, alerts.Options{OnChange: func(c alerts.Change, err error) {
		if err != nil {
			logger.Error("alert policy", "action", c.Action, "key", c.Key, "err", err)
			return
		}
		logger.Info("alert policy", "action", c.Action, "key", c.Key, "name", c.Name)
	}})
	var perr *alerts.ProblemsError
	if errors.As(err, &perr) {
		return &exitError{Code: ExitFailure, Err: perr}
	}
	if rerr := view.AlertsApply(env.Stdout, g.format, res); rerr != nil {
		return rerr
	}
	if err != nil {
		return fmt.Errorf("alerts apply: %w", err)
	}
	return nil
}

// runPlan is `launcher alerts plan`.
func (o *alertsOptions) runPlan(ctx context.Context, g *globalOptions, env Env) error {
	p, _, closeAPI, err := alertsPlan(ctx, g, env, o.mon)
	if err != nil {
		return err
	}
	defer closeAPI()
	if err := view.AlertsPlan(env.Stdout, g.format, p); err != nil {
		return err
	}
	if len(p.Problems) > 0 {
		return &exitError{Code: ExitFailure, Err: &alerts.ProblemsError{Problems: p.Problems}}
	}
	if o.DetailedExitcode && p.HasChanges() {
		return &exitError{Code: ExitChanges}
	}
	return nil
}

// alertsPlan loads the fleet, reads the alerts project and computes the plan; the caller
// closes the API.
func alertsPlan(ctx context.Context, g *globalOptions, env Env, o monitoringOptions) (*alerts.Plan, monitoring.API, func(), error) {
	f, project, err := o.loadFleet(g)
	if err != nil {
		return nil, nil, nil, err
	}
	desired, err := alerts.Desired(f)
	if err != nil {
		return nil, nil, nil, &exitError{Code: ExitFailure, Err: err}
	}
	api, closeAPI, err := dialMonitoring(ctx, env, g.logger(env), o.Retries)
	if err != nil {
		return nil, nil, nil, err
	}
	current, problems, err := alerts.Observe(ctx, api, project, desired)
	if err != nil {
		closeAPI()
		return nil, nil, nil, fmt.Errorf("alerts: %w", err)
	}
	return alerts.Compute(f, project, desired, current, problems), api, closeAPI, nil
}

type dashboardOptions struct {
	mon    monitoringOptions
	DryRun bool
}

func addDashboard(root *cobra.Command, g *globalOptions, env Env) {
	parent := &cobra.Command{
		Use:   "dashboard",
		Short: "Keep the fleet's Cloud Monitoring dashboard in sync with the fleet file",
		Args:  cobra.NoArgs,
	}
	o := &dashboardOptions{}
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Create or update the fleet's dashboard",
		Long: `apply creates, or updates in place, one Cloud Monitoring dashboard for the fleet in the
alerts project (defaults.alerts.project, else defaults.project): system lag and data
watermark age of the worst ten jobs, hours closed, dead letters, duplicates and skewed
events per minute, jobs per pipeline version and jobs off the pinned version. The
dashboard is found by its labels managed-by=eventdelivery and fleet=<fleet>; no other
dashboard is touched. The version charts need status --publish-metrics on a schedule.

Exit codes: 0 success, 1 error.`,
		Example: `  launcher dashboard apply -f fleet.yaml
  launcher dashboard apply -f fleet.yaml --dry-run -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	o.mon.bind(apply)
	apply.Flags().BoolVar(&o.DryRun, "dry-run", false, "say what would be done, change nothing")
	parent.AddCommand(apply)
	root.AddCommand(parent)
}

// run is `launcher dashboard apply`.
func (o *dashboardOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	f, project, err := o.mon.loadFleet(g)
	if err != nil {
		return err
	}
	api, closeAPI, err := dialMonitoring(ctx, env, g.logger(env), o.mon.Retries)
	if err != nil {
		return err
	}
	defer closeAPI()
	res, err := dashboard.Apply(ctx, api, project, f, o.DryRun)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return view.Dashboard(env.Stdout, g.format, res, o.DryRun)
}
