// Package cmd wires the launcher's commands (cobra): flags live in option structs, each
// command validates them, builds its dependencies, makes one call into a domain package
// (fleet, plan, deploy, status) and renders the result (view).
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"golang.org/x/time/rate"
)

// Exit codes of the launcher.
const (
	ExitOK = 0
	// ExitFailure: invalid fleet file, bad flags, an API error, a failed launch or a job
	// that did not reach RUNNING.
	ExitFailure = 1
	// ExitChanges: `plan --detailed-exitcode` found changes; `status` found a job not
	// running its pinned version; `deploy --skip-blocked` left blocked items; `hours`
	// found a missing hour, `hours wait` timed out, `hours verify` found a problem.
	ExitChanges = 2
	// ExitBlocked: `deploy` refused to start because the plan has blocked items.
	ExitBlocked = 3
	// ExitUnhealthy: `status --health` found a job unhealthy, failed or missing.
	ExitUnhealthy = 4
	// ExitRolledBack: a rollout's health gate failed; the rollout stopped and the jobs
	// it had upgraded were rolled back.
	ExitRolledBack = 5
	// ExitInterrupted: interrupted by a signal (SIGINT, SIGTERM).
	ExitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    success (plan: no changes with --detailed-exitcode; status: every job runs its pinned version)
  1    error: invalid fleet file, bad flags, API error, failed launch, job not RUNNING in time,
       deploy's metrics not published; backfill --wait: the job failed, was cancelled or did
       not end in time
  2    plan --detailed-exitcode: there are changes; status: some job is not running its pinned
       version; deploy --skip-blocked: blocked items were left; hours: an hour is missing;
       hours wait: not closed at the timeout; hours verify: a problem (open hour included);
       backfill --wait: DONE but an hour of the span has no manifest
  3    deploy: refused because the plan has blocked items (nothing was changed)
  4    status --health: some job is unhealthy, failed or missing
  5    deploy (rollout): a health gate failed; the upgraded jobs were rolled back
  130  interrupted`

// exitError carries an exit code. A nil Err exits silently.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// Env is what the commands take from the process, so tests can supply their own.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (DATAFLOW_EMULATOR_HOST).
	Getenv func(string) string
	// Terminal reports whether stderr is a terminal (progress bar or plain lines).
	Terminal bool
	// StdoutTerminal reports whether stdout is a terminal (status --watch redraws in
	// place).
	StdoutTerminal bool
	// Stdin is read for confirmations (drain, cancel); StdinTerminal says whether a
	// person can answer them.
	Stdin         io.Reader
	StdinTerminal bool
}

// SystemEnv is the real process's environment.
func SystemEnv() Env {
	return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: term.IsTerminal(int(os.Stderr.Fd())),
		StdoutTerminal: term.IsTerminal(int(os.Stdout.Fd())), Stdin: os.Stdin, StdinTerminal: term.IsTerminal(int(os.Stdin.Fd()))}
}

// Execute runs the launcher with args and returns the process exit code.
func Execute(ctx context.Context, env Env, args []string) int {
	root := New(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.Code
		err = ee.Err
	}
	if ctx.Err() != nil && code == ExitFailure {
		code = ExitInterrupted
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, "launcher:", err)
	}
	return code
}

// globalOptions are the flags of every command.
type globalOptions struct {
	Fleet   string
	Output  string
	Verbose bool
	format  view.Format
}

func (o *globalOptions) bind(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVarP(&o.Fleet, "fleet", "f", "fleet.yaml", "fleet file")
	cmd.PersistentFlags().StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	cmd.PersistentFlags().BoolVarP(&o.Verbose, "verbose", "v", false, "log debug details to stderr")
}

func (o *globalOptions) Validate() error {
	f, err := view.ParseFormat(o.Output)
	if err != nil {
		return &exitError{Code: ExitFailure, Err: err}
	}
	o.format = f
	return nil
}

// New returns the root command.
func New(env Env) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "launcher",
		Short: "Plan, deploy and watch a fleet of eventdelivery pipelines on Dataflow",
		Long: `launcher manages one Dataflow streaming job per event type, all described by one fleet
file that pins the pipeline version. It only ever touches jobs labelled
managed-by=eventdelivery.

Credentials are Application Default Credentials (gcloud auth application-default login).
Set DATAFLOW_EMULATOR_HOST=host:port and MONITORING_EMULATOR_HOST=host:port to talk to
fakes instead (go run ./launcher/fakegcp --listen=127.0.0.1:9010 serves both).

Data goes to stdout; logs and progress go to stderr.

` + exitCodesHelp,
		Example: `  launcher validate -f fleet.yaml
  launcher plan -f fleet.yaml --detailed-exitcode
  launcher deploy -f fleet.yaml --parallelism 16 --rate 5
  launcher status -f fleet.yaml -o json
  launcher alerts apply -f fleet.yaml
  launcher status -f fleet.yaml --health --publish-metrics`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.Validate()
		},
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	g.bind(root)
	addValidate(root, g, env)
	addPlan(root, g, env)
	addDeploy(root, g, env)
	addStatus(root, g, env)
	addHours(root, g, env)
	addAlerts(root, g, env)
	addDashboard(root, g, env)
	addTemplate(root, g, env)
	addRollback(root, g, env)
	addBackfill(root, g, env)
	addStop(root, g, env, stopjobs.Drain)
	addStop(root, g, env, stopjobs.Cancel)
	return root
}

func (g *globalOptions) logger(env Env) *slog.Logger {
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
}

// loadFleet reads the fleet file; problems become an error listing all of them.
func loadFleet(g *globalOptions) (*fleet.Fleet, error) {
	f, err := fleet.Load(g.Fleet)
	if err != nil {
		return nil, &exitError{Code: ExitFailure, Err: err}
	}
	return f, nil
}

// apiOptions are the flags that shape calls to Dataflow.
type apiOptions struct {
	Parallelism int
	Rate        float64
	Burst       int
	ReadRate    float64
	Retries     int
	Timeout     time.Duration
	writes      bool // --rate and --burst are bound
}

func (o *apiOptions) bind(cmd *cobra.Command, writes bool) {
	cmd.Flags().IntVar(&o.Parallelism, "parallelism", 16, "most Dataflow calls in flight")
	cmd.Flags().Float64Var(&o.ReadRate, "read-rate", 50, "most list/get calls per second")
	cmd.Flags().IntVar(&o.Retries, "retries", 6, "most attempts per call on transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...)")
	o.writes = writes
	if writes {
		cmd.Flags().Float64Var(&o.Rate, "rate", 5, "most launches and drains per second")
		cmd.Flags().IntVar(&o.Burst, "burst", 5, "launches allowed at once before --rate applies")
	}
}

func (o *apiOptions) Validate() error {
	switch {
	case o.Parallelism < 1:
		return fmt.Errorf("--parallelism must be at least 1")
	case o.ReadRate <= 0:
		return fmt.Errorf("--read-rate must be positive, got %g", o.ReadRate)
	case o.Retries < 1:
		return fmt.Errorf("--retries must be at least 1")
	case o.writes && o.Rate <= 0:
		return fmt.Errorf("--rate must be positive, got %g", o.Rate)
	}
	if o.Burst < 1 {
		o.Burst = 1
	}
	return nil
}

func (o *apiOptions) retry(logger *slog.Logger) dataflow.RetryPolicy {
	return dataflow.RetryPolicy{
		Attempts: o.Retries,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Debug("retrying", "attempt", attempt, "err", err, "wait", wait)
		},
	}
}

// open is how a command that calls Dataflow starts: it checks the API flags, loads the fleet file, makes the
// logger and dials Dataflow; the caller calls closeAPI.
func (o *apiOptions) open(ctx context.Context, g *globalOptions, env Env) (f *fleet.Fleet, api dataflow.API, logger *slog.Logger, closeAPI func(), err error) {
	if err = o.Validate(); err != nil {
		return nil, nil, nil, nil, err
	}
	if f, err = loadFleet(g); err != nil {
		return nil, nil, nil, nil, err
	}
	logger = g.logger(env)
	if api, closeAPI, err = o.dial(ctx, env, logger); err != nil {
		return nil, nil, nil, nil, err
	}
	api = dataflow.WithLaunchPace(api, f.LaunchesPerMinute())
	return f, api, logger, closeAPI, nil
}

// emulatorHost reads the environment variable that points a service's client at a fake.
func emulatorHost(env Env, logger *slog.Logger, key, service string) string {
	host := env.Getenv(key)
	if host != "" {
		logger.Debug("using the "+service+" emulator", "host", host)
	}
	return host
}

// dial connects to Dataflow and wraps the client with the rate limits and retries.
func (o *apiOptions) dial(ctx context.Context, env Env, logger *slog.Logger) (dataflow.API, func(), error) {
	host := emulatorHost(env, logger, "DATAFLOW_EMULATOR_HOST", "Dataflow")
	c, err := dataflow.Dial(ctx, dataflow.Config{EmulatorHost: host})
	if err != nil {
		return nil, nil, err
	}
	var write *rate.Limiter
	if o.Rate > 0 {
		write = rate.NewLimiter(rate.Limit(o.Rate), o.Burst)
	}
	read := rate.NewLimiter(rate.Limit(o.ReadRate), max(1, int(o.ReadRate)))
	api := dataflow.WithRetry(dataflow.WithRateLimit(c, write, read), o.retry(logger))
	return api, func() { c.Close() }, nil
}
