// Command eventdelivery runs the pipeline of one event type: Pub/Sub messages (a replay
// file or a subscription) into hourly, deduplicated, immutable Avro buckets.
//
//	go run ./pipelines/eventdelivery --event_type=play-track --schema=play_track.avsc \
//	    --input=replay.jsonl --output=/tmp/out
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"golang.org/x/term"

	"github.com/eventdelivery/eventdelivery/internal/progress"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/internal/version"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
)

var (
	flags       = delivery.RegisterFlags(flag.CommandLine)
	showVersion = flag.Bool("version", false, "Print the pipeline version and exit.")
)

func main() {
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String())
		return
	}
	beam.Init()
	ctx := context.Background()
	if err := run(ctx); err != nil {
		slog.Error("eventdelivery failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := flags.Config(ctx)
	if err != nil {
		return err
	}
	cfg.Version = version.String()
	runner := *runners.Runner
	// Launched from a Flex Template, the binary submits itself to Dataflow and is its own
	// worker binary (Beam Go would otherwise try to build one, with no toolchain there).
	if bin := os.Getenv("FLEX_TEMPLATE_GO_BINARY"); bin != "" {
		if runner == "" {
			runner = "dataflow"
		}
		if *jobopts.WorkerBinary == "" {
			*jobopts.WorkerBinary = bin
		}
	}
	switch strings.ToLower(runner) {
	case "":
		runner = "prism"
	case "dataflowrunner":
		runner = "dataflow"
	}
	cfg.Runner = runner
	if runner == "dataflow" {
		defaultStagingLocation(flag.CommandLine)
	}
	if err := cfg.CheckRunner(runner); err != nil {
		return err
	}
	// SIGINT or SIGTERM drains a live run: the reader stops pulling, what was read is
	// written, buckets close only by the wall-clock rule, and the process exits 0. A replay
	// is aborted instead (rerun it with the same --run_id).
	stopper := stop.New()
	defer stopper.Release()
	sigCtx, cancelSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancelSignals()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if cfg.Subscription != "" {
		stopper.StopWhenDone(sigCtx)
	} else {
		go func() { <-sigCtx.Done(); cancelRun() }()
	}
	// A dry run (Dataflow's --dry_run translates the job offline) writes nothing.
	if f := flag.Lookup("dry_run"); f == nil || f.Value.String() != "true" {
		if err := cfg.CheckReplayHours(ctx, 0); err != nil {
			return err
		}
	}
	// A replay on Prism shows its progress: its DoFns run in this process.
	endProgress := func() {}
	if cfg.Input != "" && runner == "prism" {
		prog := progress.New()
		defer prog.Release()
		cfg.Progress = prog.Key()
		endProgress = showProgress(ctx, prog)
		defer endProgress()
	}
	p, s := beam.NewPipelineWithRoot()
	delivery.Build(s, cfg, stopper)
	slog.Info("starting", "event_type", cfg.EventType, "runner", runner, "run_id", cfg.RunID, "version", cfg.Version)
	res, err := beam.Run(runCtx, runner, p)
	endProgress()
	if err != nil {
		return fmt.Errorf("run %s: %w", cfg.EventType, err)
	}
	if cfg.Input != "" && res != nil {
		slog.Info("replay done", append([]any{"event_type", cfg.EventType, "run_id", cfg.RunID, "range", cfg.Range.String()}, delivery.Summary(res.Metrics())...)...)
	}
	if stopper.Stopped() {
		slog.Info("stopped gracefully", "event_type", cfg.EventType, "run_id", cfg.RunID)
	}
	return nil
}

// defaultStagingLocation sets --staging_location to <temp_location>/staging when it is
// empty and a temp location is known: Beam Go's Dataflow runner refuses to submit without
// one ("no GCS staging location specified").
func defaultStagingLocation(fs *flag.FlagSet) {
	staging, temp := fs.Lookup("staging_location"), fs.Lookup("temp_location")
	if staging == nil || temp == nil || staging.Value.String() != "" || temp.Value.String() == "" {
		return
	}
	v := strings.TrimSuffix(temp.Value.String(), "/") + "/staging"
	if err := fs.Set("staging_location", v); err == nil {
		slog.Info("no --staging_location: staging under the temp location", "staging_location", v)
	}
}

// showProgress renders prog on stderr until the returned func is called (which waits for
// the last report): on a terminal a bar, the log lines printed above it; otherwise log
// lines every 5 seconds.
func showProgress(ctx context.Context, prog *progress.Counters) (end func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r := &progress.Reporter{Out: os.Stderr, TTY: term.IsTerminal(int(os.Stderr.Fd())), Every: 5 * time.Second}
	restore := func() {}
	if r.TTY {
		r.Every = 200 * time.Millisecond
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(r.Logs(), nil)))
		restore = func() { slog.SetDefault(prev) }
	}
	go func() {
		defer close(done)
		r.Run(ctx, prog)
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done; restore() }) }
}
