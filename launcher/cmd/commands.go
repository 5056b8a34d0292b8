package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
)

type validateOptions struct {
	Templates bool
	Schemas   bool
	Timeout   time.Duration
}

func addValidate(root *cobra.Command, g *globalOptions, env Env) {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the fleet file and every schema it names",
		Long: `validate reads the fleet file and reports every problem at once, one per line, as
file:line: field: problem (unknown keys, bad names, duplicates, unreadable or invalid Avro
schemas, bad durations, a template without {version}, missing settings, a schema that
cannot read one of its previous_schemas). It makes no calls, unless:

  --templates  it also reads, from Cloud Storage, the Flex Template spec of every version
               the file pins and reports a version whose spec is missing or lacks a
               parameter;
  --schemas    it also reads, from Pub/Sub (PUBSUB_EMULATOR_HOST honoured), each event
               type's subscription, its topic's schema settings and the revisions of its
               schema, and reports a reader schema (the schema file, or the Pub/Sub schema's
               named or newest revision) that cannot read a revision the topic accepts
               (first_revision_id..last_revision_id; every revision when the topic has no
               schema and the event type names a Pub/Sub schema). An API it cannot reach
               is an error, never a skipped check.

A fleet that names a Pub/Sub schema is valid without --schemas only as far as the file
goes: validate says so on stderr.

Exit codes: 0 valid, 1 problems or an API error.`,
		Example: `  launcher validate -f fleet.yaml
  launcher validate -f fleet.yaml --templates --schemas
  launcher validate -f fleet.yaml -o json | jq '.problems[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	cmd.Flags().BoolVar(&o.Templates, "templates", false, "also check that every pinned version's Flex Template spec exists (reads Cloud Storage)")
	cmd.Flags().BoolVar(&o.Schemas, "schemas", false, "also check every reader schema against the schema revisions its topic accepts (reads Pub/Sub)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up the --templates and --schemas calls after this long")
	root.AddCommand(cmd)
}

// run is `launcher validate`.
func (o *validateOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	if o.Timeout <= 0 {
		return fmt.Errorf("validate: --timeout %s: want a positive duration", o.Timeout)
	}
	f, err := fleet.Load(g.Fleet)
	if err == nil {
		err = o.remote(ctx, g, env, f)
	}
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
}

// remote runs the checks that make calls (--templates, --schemas) on a valid fleet file and
// returns every problem they find at once, as a *fleet.ValidationError.
func (o *validateOptions) remote(ctx context.Context, g *globalOptions, env Env, f *fleet.Fleet) error {
	if !o.Schemas {
		for i, et := range f.EventTypes {
			if fleet.IsPubSubSchema(et.Schema) {
				g.logger(env).Warn("not checked: the revisions of a Pub/Sub schema are checked by validate --schemas",
					"field", fmt.Sprintf("event_types[%d].schema", i), "schema", et.Schema)
			}
		}
	}
	if !o.Templates && !o.Schemas {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var problems []fleet.Problem
	if o.Templates {
		err := checkTemplates(ctx, f)
		var verr *fleet.ValidationError
		switch {
		case errors.As(err, &verr):
			problems = verr.Problems
		case err != nil:
			return err
		}
	}
	if o.Schemas {
		more, err := checkSchemas(ctx, f, env, g.logger(env))
		if err != nil {
			return err
		}
		problems = append(problems, more...)
	}
	if len(problems) == 0 {
		return nil
	}
	slices.SortStableFunc(problems, func(a, b fleet.Problem) int { return a.Line - b.Line })
	return &fleet.ValidationError{Problems: problems}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	o.api.bind(cmd, false)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "plan to drain orphaned jobs")
	cmd.Flags().BoolVar(&o.DetailedExitcode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	root.AddCommand(cmd)
}

// run is `launcher plan`.
func (o *planOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	f, api, _, closeAPI, err := o.api.open(ctx, g, env)
	if err != nil {
		return err
	}
	defer closeAPI()
	obs, err := plan.Observe(ctx, api, f, o.api.Parallelism)
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
}

type deployOptions struct {
	api          apiOptions
	rollout      rolloutOptions
	Prune        bool
	SkipBlocked  bool
	Wait         bool
	WaitTimeout  time.Duration
	PollInterval time.Duration
	// PublishMetrics publishes the launcher's metrics after the deploy, so that jobs
	// that failed before they ran alert (see status.PublishAfterDeploy); on by default
	// when the fleet has an alerts project.
	PublishMetrics bool
	// publishAsked is set when --publish-metrics was given: then a fleet without an
	// alerts project is an error rather than a reason to skip.
	publishAsked bool
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

With a rollout: block in the fleet file (or --allow-replace), deploy rolls out instead,
wave by wave: the canaries, then waves of the given sizes, each followed by a soak during
which every upgraded job is watched (state, system lag, watermark age, dead-letter rate,
closed hours, against the alert thresholds or rollout.gate). A failed gate stops the
rollout and rolls the upgraded jobs back to their previous version, in place; the others
are not touched (exit 5). Updates are in place; one that Dataflow rejects as incompatible
is reported and left running, unless --allow-replace drains it and launches the new
version. An interrupted rollout is continued by the next deploy, from the jobs' labels.
Without a rollout: block the whole fleet is one wave, checked once, without a soak.

When the fleet has an alerts project (defaults.alerts.project, else defaults.project),
deploy then writes the launcher's metrics as it left the fleet (as status
--publish-metrics), so that a job that failed before it ran, or whose launch was refused,
raises the fleet's "jobs failed or missing" alert; --publish-metrics=false skips it. A
failure to publish is a warning and exit 1; the deploy itself is done.

Exit codes: 0 every job running (or started, with --wait=false), 1 a failure or timeout
(or the metrics could not be published),
2 blocked items were skipped (--skip-blocked), 3 refused because of blocked items,
5 a health gate failed and the upgraded jobs were rolled back.`,
		Example: `  launcher deploy -f fleet.yaml
  launcher deploy -f fleet.yaml --parallelism 32 --rate 10 --timeout 20m
  launcher deploy -f fleet.yaml --skip-blocked --prune
  launcher deploy -f fleet.yaml --wait=false -o json > result.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.publishAsked = cmd.Flags().Changed("publish-metrics") && o.PublishMetrics
			return runDeploy(cmd.Context(), env, g, o)
		},
	}
	o.api.bind(cmd, true)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "drain orphaned jobs (managed jobs of the fleet with no event type in the file)")
	cmd.Flags().BoolVar(&o.SkipBlocked, "skip-blocked", false, "apply the rest of the plan when some items are blocked")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait until every job is RUNNING")
	cmd.Flags().DurationVar(&o.WaitTimeout, "timeout", deploy.DefaultWaitTimeout, "how long --wait waits")
	cmd.Flags().DurationVar(&o.PollInterval, "poll-interval", deploy.DefaultPollInterval, "time between two polls while waiting (and between two health checks of a rollout)")
	cmd.Flags().BoolVar(&o.PublishMetrics, "publish-metrics", true, "after the deploy, write the jobs per version and status category to the alerts project's Cloud Monitoring (as status --publish-metrics), so that jobs that failed before they ran alert; skipped when the fleet has no alerts project")
	o.rollout.bind(cmd, true)
	root.AddCommand(cmd)
}

// publishAfterDeploy writes the launcher's metrics as the deploy left the fleet, when
// --publish-metrics is on (the default) and the fleet has an alerts project. It returns nil
// when it published or had nothing to do; an error, already logged as a warning, when it
// could not publish: the deploy is done all the same, and the command exits 1.
func publishAfterDeploy(ctx context.Context, env Env, logger *slog.Logger, f *fleet.Fleet, api dataflow.API, o *deployOptions) error {
	if !o.PublishMetrics || ctx.Err() != nil {
		return nil
	}
	project := f.AlertsProject()
	if project == "" {
		if o.publishAsked {
			_, err := alertsProject(f)
			return err
		}
		logger.Debug("no alerts project: the launcher's metrics are not published")
		return nil
	}
	err := func() error {
		mon, closeMon, err := dialMonitoring(ctx, env, logger, o.api.Retries)
		if err != nil {
			return err
		}
		defer closeMon()
		_, err = status.PublishAfterDeploy(ctx, api, mon, project, f, o.api.Parallelism, time.Now())
		return err
	}()
	if err != nil {
		logger.Warn("the deploy is done, but the launcher's metrics were not published: a job that failed before it ran raises no alert until they are (launcher status --publish-metrics)",
			"project", project, "err", err)
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("deploy: publish metrics to %s: %w", project, err)}
	}
	logger.Debug("published fleet metrics", "project", project)
	return nil
}

type statusOptions struct {
	api            apiOptions
	Health         bool
	PublishMetrics bool
	Watch          bool
	Interval       time.Duration
	Lookback       time.Duration
}

func (o *statusOptions) Validate() error {
	if err := o.api.Validate(); err != nil {
		return err
	}
	switch {
	case o.Watch && o.Interval < time.Second:
		return fmt.Errorf("--interval must be at least 1s")
	case o.Lookback <= 0:
		return fmt.Errorf("--lookback must be positive, got %s", o.Lookback)
	}
	return nil
}

func addStatus(root *cobra.Command, g *globalOptions, env Env) {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every event type's job, its state, version and (with --health) health",
		Long: `status shows, for every event type of the fleet file, its job, the job's state, the
version it runs, whether that is the pinned version (and configuration), and since when;
then a summary such as "300 jobs: 298 running v1.4.2, 1 drifted (v1-4-1), 1 failed".
Versions are read from the pipeline-version label, which holds a label-safe form of the
version (v1.4.1 becomes v1-4-1).

--health also judges every running job against the fleet file's alert thresholds: its
system lag and data watermark age (latest values from Cloud Monitoring, read in the
alerts project, whose metrics scope must hold the jobs' projects), whether it reports
metrics at all, and the last closed hour, read from the _SUCCESS manifests in its output
location (unhealthy when the next hour is overdue by more than closed_hour_margin).

--publish-metrics writes the custom metrics custom.googleapis.com/eventdelivery/jobs
(jobs per fleet, version and category) and .../jobs_off_pinned to the alerts project;
run it on a schedule so that the version-drift alert and the dashboard have data.

--watch redraws the report every --interval (in place on a terminal) until interrupted.

Set MONITORING_EMULATOR_HOST=host:port to read and write metrics on a fake.

Exit codes: 0 every job runs its pinned version (and, with --health, is healthy), 1 error,
2 some job does not run its pinned version, 4 (--health) some job is unhealthy, failed or
missing. With --watch: the code of the last report.`,
		Example: `  launcher status -f fleet.yaml
  launcher status -f fleet.yaml --health
  launcher status -f fleet.yaml --health --publish-metrics -o json > status.json   # from cron
  launcher status -f fleet.yaml --health --watch --interval 30s
  launcher status -f fleet.yaml -o json | jq '.jobs[] | select(.matches_pinned | not)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	o.api.bind(cmd, false)
	cmd.Flags().BoolVar(&o.Health, "health", false, "judge every running job's health (lag, watermark age, last closed hour); exit 4 when one is unhealthy")
	cmd.Flags().BoolVar(&o.PublishMetrics, "publish-metrics", false, "write jobs per version and jobs off the pinned version to Cloud Monitoring")
	cmd.Flags().BoolVar(&o.Watch, "watch", false, "refresh the report every --interval until interrupted")
	cmd.Flags().DurationVar(&o.Interval, "interval", 30*time.Second, "time between two reports with --watch")
	cmd.Flags().DurationVar(&o.Lookback, "lookback", 48*time.Hour, "how far back --health looks for the last closed bucket (as the pipeline's --lookback)")
	root.AddCommand(cmd)
}

// run is `launcher status`.
func (o *statusOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	f, api, logger, closeAPI, err := o.api.open(ctx, g, env)
	if err != nil {
		return err
	}
	defer closeAPI()
	var mon monitoring.API
	var project string
	if o.Health || o.PublishMetrics {
		if project, err = alertsProject(f); err != nil {
			return err
		}
		m, closeMon, err := dialMonitoring(ctx, env, logger, o.api.Retries)
		if err != nil {
			return err
		}
		defer closeMon()
		mon = m
	}
	once := func(ctx context.Context, w io.Writer) (int, error) {
		obs, err := plan.Observe(ctx, api, f, o.api.Parallelism)
		if err != nil {
			return ExitFailure, fmt.Errorf("status: %w", err)
		}
		r := status.Build(f, obs)
		now := time.Now()
		if o.Health {
			err := r.AddHealth(ctx, f, status.HealthOptions{
				Now: now, Metrics: mon, Project: project, Lookback: o.Lookback, Parallelism: o.api.Parallelism,
				Manifests: func(ctx context.Context, root string) (status.ManifestChecker, error) {
					return objstore.Open(ctx, root)
				},
			})
			if err != nil {
				return ExitFailure, fmt.Errorf("status: health: %w", err)
			}
		}
		if o.PublishMetrics {
			if err := r.Publish(ctx, mon, project, now); err != nil {
				return ExitFailure, fmt.Errorf("status: %w", err)
			}
			logger.Debug("published fleet metrics", "project", project)
		}
		if err := view.Status(w, g.format, r); err != nil {
			return ExitFailure, err
		}
		switch {
		case o.Health && !r.Healthy():
			return ExitUnhealthy, nil
		case !r.Converged():
			return ExitChanges, nil
		}
		return ExitOK, nil
	}
	if !o.Watch {
		code, err := once(ctx, env.Stdout)
		if err != nil || code != ExitOK {
			return &exitError{Code: code, Err: err}
		}
		return nil
	}
	code, err := watch(ctx, env, o.Interval, once)
	if err != nil || code != ExitOK {
		return &exitError{Code: code, Err: err}
	}
	return nil
}

// watch renders a report every interval until ctx ends: in place on a terminal (the
// screen is cleared before each report), one report after the other otherwise. An error
// is shown and the watch goes on. It returns the last report's exit code.
func watch(ctx context.Context, env Env, interval time.Duration, once func(context.Context, io.Writer) (int, error)) (int, error) {
	code := ExitOK
	for {
		var buf bytes.Buffer
		c, err := once(ctx, &buf)
		if ctx.Err() != nil {
			return code, nil
		}
		code = c
		view.Watched(env.Stdout, env.StdoutTerminal, buf.Bytes(), time.Now(), interval)
		if err != nil {
			fmt.Fprintln(env.Stderr, "launcher:", err)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return code, nil
		case <-t.C:
		}
	}
}
