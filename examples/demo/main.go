// Command demo shows the pipeline at work on Prism, locally.
//
// By default it is live: it starts the Pub/Sub emulator (or an in-process fake when the
// Cloud SDK is absent), publishes a realistic stream of play-track events for 90 seconds
// (client retries, redeliveries, skewed clocks, invalid messages) into 15-second buckets,
// prints a line per bucket as the pipeline closes it, then stops gracefully with a summary.
//
// With --replay it replays three past hours of generated events instead, then prints each
// hour as its manifest describes it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/internal/version"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

var (
	out       = flag.String("out", "out/demo", "Folder for the output buckets (and the replay file).")
	events    = flag.Int("events", 3000, "Replay demo: distinct events to generate.")
	replayRun = flag.Bool("replay", false, "Replay three past hours instead of the live demo.")
)

func main() {
	flag.Parse()
	beam.Init() // sets up Beam's logging, which runnerLog then sends to the file
	// The demo's own table and summary go to stdout; what the runner and the pipeline log
	// goes to a file it names.
	logs, err := runnerLog(*out + ".log")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer logs.Close()
	fmt.Printf("Runner logs: %s\n", logs.Name())
	demo := live
	if *replayRun {
		demo = run
	}
	if err := demo(context.Background()); err != nil {
		slog.Error("demo failed", "error", err)
		fmt.Fprintf(os.Stderr, "demo failed: %v (runner logs: %s)\n", err, logs.Name())
		os.Exit(1)
	}
}

// runnerLog sends slog's and the standard logger's output (Prism's and Beam's logs) to a
// new file at path.
func runnerLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(f, nil)))
	log.SetOutput(f)
	return f, nil
}

func run(ctx context.Context) error {
	now := time.Now().UTC()
	spec := replaygen.Spec{
		Start: now.Truncate(time.Hour).Add(-4 * time.Hour), Span: 3 * time.Hour, Events: *events,
		Retries: 0.04, Redelivers: 0.02, Skewed: 0.02, Future: 0.01, Invalid: 0.02, JSON: 0.1, Seed: uint64(now.Unix()),
	}
	msgs, err := replaygen.Generate(spec)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	input := filepath.Join(*out, "replay.jsonl")
	f, err := os.Create(input)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		f.Write(append(replay.Format(m.Message), '\n'))
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("Generated %d messages for %d events over %s..%s: %s\n", len(msgs), *events,
		spec.Start.Format("15:04"), spec.Start.Add(spec.Span).Format("15:04 MST"), input)

	fs := flag.NewFlagSet("eventdelivery", flag.ContinueOnError)
	flags := delivery.RegisterFlags(fs)
	output := filepath.Join(*out, "buckets")
	args := []string{"--event_type=play-track", "--schema_json=" + replaygen.Schema, "--input=" + input,
		"--output=" + output, "--bucket_time=field:client_time", "--run_id=demo"}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := flags.Config(ctx)
	if err != nil {
		return err
	}
	cfg.Version = version.String()
	fmt.Printf("Running: go run ./pipelines/eventdelivery --event_type=play-track --schema=examples/play-track/play_track.avsc %s\n", strings.Join(args[2:], " "))
	p, s := beam.NewPipelineWithRoot()
	delivery.Build(s, cfg, nil)
	start := time.Now()
	if _, err := beam.Run(ctx, "prism", p); err != nil {
		return err
	}
	fmt.Printf("Pipeline finished on Prism in %.1fs. Buckets under %s:\n\n", time.Since(start).Seconds(), output)
	return printManifests(filepath.Join(output, "play-track"))
}

func printManifests(root string) error {
	paths, err := filepath.Glob(filepath.Join(root, "*", "*", "*", "*", output.ManifestName))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hour (UTC)\trecords\tduplicates\tskewed\tinvalid\tfiles\t")
	var total output.Manifest
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m output.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", m.BucketStart, m.Records, m.Duplicates, m.Skewed, m.Invalid, len(m.Files))
		total.Records += m.Records
		total.Duplicates += m.Duplicates
		total.Skewed += m.Skewed
		total.Invalid += m.Invalid
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t\t\n", total.Records, total.Duplicates, total.Skewed, total.Invalid)
	return tw.Flush()
}
