package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/spf13/cobra"
)

// hoursOptions are the flags of `hours` and of its subcommands.
type hoursOptions struct {
	EventType   string
	Since       time.Duration
	Grace       time.Duration
	graceSet    bool
	Parallelism int
	Hour        string
	Timeout     time.Duration
	Poll        time.Duration
}

func (o *hoursOptions) Validate() error {
	switch {
	case o.Since <= 0:
		return fmt.Errorf("--since must be positive, got %s", o.Since)
	case o.graceSet && o.Grace < 0:
		return fmt.Errorf("--grace must not be negative, got %s", o.Grace)
	case o.Parallelism < 1:
		return fmt.Errorf("--parallelism must be at least 1")
	}
	return nil
}

// validateOne checks the flags of `hours wait` and `hours verify`, which judge one hour.
func (o *hoursOptions) validateOne() error {
	switch {
	case o.EventType == "":
		return fmt.Errorf("--event-type is required")
	case o.Hour == "":
		return fmt.Errorf("--hour is required")
	}
	return nil
}

func addHours(root *cobra.Command, g *globalOptions, env Env) {
	o := &hoursOptions{}
	cmd := &cobra.Command{
		Use:   "hours",
		Short: "Show per event type the hours closed, closed late, open and missing, from the manifests",
		Long: `hours reads the _SUCCESS manifests of every event type of the fleet file (or of
--event-type) in its output location, on Cloud Storage or disk, for the hours from --since
ago to now, and shows per event type how many are closed, closed late, open and missing,
with the records, duplicates, skewed events and dead letters their manifests count; then
every missing and late hour, and a one-line summary.

An hour H is due at its close time (H + bucket width + skew tolerance) plus a grace: the
event type's closed_hour_margin, or --grace. Without a manifest it is open before then
and missing after; with a manifest written (closed_at) after then it is closed late.

Exit codes: 0 every hour that is due is closed (late ones count as closed), 1 error,
2 some hour is missing.`,
		Example: `  launcher hours -f fleet.yaml
  launcher hours -f fleet.yaml --event-type play-track --since 72h --grace 10m
  launcher hours -f fleet.yaml -o json | jq '.event_types[] | select(.missing > 0) | .event_type'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.graceSet = cmd.Flags().Changed("grace")
			return o.report(cmd.Context(), g, env)
		},
	}
	cmd.PersistentFlags().StringVar(&o.EventType, "event-type", "", "one event type of the fleet file (required by wait and verify)")
	cmd.Flags().DurationVar(&o.Since, "since", 24*time.Hour, "how far back the hours go")
	cmd.Flags().DurationVar(&o.Grace, "grace", 0, "time an hour may take to close after its close time (default: the event type's closed_hour_margin)")
	cmd.Flags().IntVar(&o.Parallelism, "parallelism", 16, "most manifest reads in flight")

	wait := &cobra.Command{
		Use:   "wait",
		Short: "Block until an hour of an event type is closed (a scheduler's sensor)",
		Long: `hours wait looks for the manifest of --hour of --event-type every --poll, and exits 0
with the manifest on stdout once it is there, or 2 once --timeout has passed without it.
--timeout 0 looks once (a sensor in reschedule mode). --hour is the hour's start, RFC3339
(2026-12-01T10:00:00Z, any offset) or 2026-12-01T10 (UTC).

Exit codes: 0 the hour is closed, 1 error, 2 not closed at the timeout.`,
		Example: `  launcher hours wait -f fleet.yaml --event-type play-track --hour 2026-12-01T10 --timeout 3h --poll 1m
  launcher hours wait -f fleet.yaml --event-type play-track --hour 2026-12-01T10:00:00Z --timeout 0 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.wait(cmd.Context(), g, env)
		},
	}
	wait.Flags().StringVar(&o.Hour, "hour", "", "the hour's start: RFC3339 or 2026-12-01T10 (UTC)")
	wait.Flags().DurationVar(&o.Timeout, "timeout", time.Hour, "how long to wait; 0 looks once")
	wait.Flags().DurationVar(&o.Poll, "poll", time.Minute, "time between two looks")

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check a closed hour's files against its manifest",
		Long: `hours verify checks --hour of --event-type against its manifest: every data and
dead-letter file it lists is there, is readable Avro and holds the records it counts; the
manifest's records are the sum of its files'; and no part-*.avro file in the hour's
folders is left unlisted. It prints every problem.

Exit codes: 0 the hour is closed and as its manifest says, 1 error, 2 a problem (open
hour included).`,
		Example: `  launcher hours verify -f fleet.yaml --event-type play-track --hour 2026-12-01T10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.verify(cmd.Context(), g, env)
		},
	}
	verify.Flags().StringVar(&o.Hour, "hour", "", "the hour's start: RFC3339 or 2026-12-01T10 (UTC)")
	cmd.AddCommand(wait, verify)
	root.AddCommand(cmd)
}

// openStore opens the store of an output root as the hours package reads it.
func openStore(ctx context.Context, root string) (hours.Store, error) {
	return objstore.Open(ctx, root)
}

// report runs `hours`.
func (o *hoursOptions) report(ctx context.Context, g *globalOptions, env Env) error {
	if err := o.Validate(); err != nil {
		return &exitError{Code: ExitFailure, Err: err}
	}
	f, err := loadFleet(g)
	if err != nil {
		return err
	}
	opts := hours.Options{Now: time.Now(), Since: o.Since, EventType: o.EventType, Open: openStore, Parallelism: o.Parallelism}
	if o.graceSet {
		opts.Grace = &o.Grace
	}
	r, err := hours.Read(ctx, f, opts)
	if err != nil {
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("hours: %w", err)}
	}
	if err := view.Hours(env.Stdout, g.format, r); err != nil {
		return err
	}
	if !r.Complete() {
		return &exitError{Code: ExitChanges}
	}
	return nil
}

// one loads the fleet file and returns the target, store and bucket of --event-type's
// --hour; the caller closes the store.
func (o *hoursOptions) one(ctx context.Context, g *globalOptions) (output.Target, hours.Store, int64, error) {
	fail := func(err error) (output.Target, hours.Store, int64, error) {
		return output.Target{}, nil, 0, &exitError{Code: ExitFailure, Err: err}
	}
	if err := o.validateOne(); err != nil {
		return fail(err)
	}
	f, err := loadFleet(g)
	if err != nil {
		return output.Target{}, nil, 0, err
	}
	jobs, err := hours.Select(f, o.EventType)
	if err != nil {
		return fail(err)
	}
	t := jobs[0].OutputTarget()
	start, err := hours.ParseHour(o.Hour, t.Layout)
	if err != nil {
		return fail(err)
	}
	st, err := openStore(ctx, t.Root)
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", t.Root, err))
	}
	return t, st, start, nil
}

// wait runs `hours wait`.
func (o *hoursOptions) wait(ctx context.Context, g *globalOptions, env Env) error {
	switch {
	case o.Timeout < 0:
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("--timeout must not be negative, got %s", o.Timeout)}
	case o.Poll <= 0:
		return &exitError{Code: ExitFailure, Err: fmt.Errorf("--poll must be positive, got %s", o.Poll)}
	}
	t, st, start, err := o.one(ctx, g)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := hours.Wait(ctx, st, t, start, hours.WaitOptions{Timeout: o.Timeout, Poll: o.Poll, Clock: rollout.RealClock{}, Logger: g.logger(env)})
	switch {
	case errors.Is(err, hours.ErrNotClosed):
		return &exitError{Code: ExitChanges, Err: err}
	case err != nil:
		return &exitError{Code: ExitFailure, Err: err}
	}
	return view.HoursClosed(env.Stdout, g.format, t.ManifestPath(start), m)
}

// verify runs `hours verify`.
func (o *hoursOptions) verify(ctx context.Context, g *globalOptions, env Env) error {
	t, st, start, err := o.one(ctx, g)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := hours.Verify(ctx, st, t, start)
	if err != nil {
		return &exitError{Code: ExitFailure, Err: err}
	}
	if err := view.HoursVerification(env.Stdout, g.format, v); err != nil {
		return err
	}
	if !v.OK() {
		return &exitError{Code: ExitChanges}
	}
	return nil
}
