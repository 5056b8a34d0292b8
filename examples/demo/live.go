package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/internal/testkit/livegen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/internal/version"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
)

var (
	duration = flag.Duration("duration", 90*time.Second, "Live demo: how long to publish.")
	rate     = flag.Float64("rate", 50, "Live demo: events published per second.")
	width    = flag.Duration("bucket_width", 15*time.Second, "Live demo: bucket width.")
)

func init() {
	register.Function1x0(printClosed)
}

// printClosed prints one line per bucket as the pipeline closes it (the DoFn runs in this
// process on Prism).
func printClosed(m output.Manifest) {
	fmt.Printf("closed %s  records %5d  duplicates %4d  skewed %4d  invalid %3d  files %d\n",
		m.BucketStart, m.Records, m.Duplicates, m.Skewed, m.Invalid, len(m.Files))
}

// live publishes a realistic stream to the Pub/Sub emulator and runs the pipeline on it.
func live(ctx context.Context) error {
	emu, err := pubsubemu.StartOrFake(ctx)
	if err != nil {
		return err
	}
	defer emu.Close()
	if emu.Fake {
		fmt.Println("The Cloud SDK's Pub/Sub emulator is not installed: using an in-process Pub/Sub fake (pstest) instead.")
	} else {
		fmt.Printf("Pub/Sub emulator (Cloud SDK) on %s\n", emu.Host)
	}
	if err := emu.Export(); err != nil {
		return err
	}
	names, err := emu.CreateSubscription(ctx, "", "play-track", "play-track-eventdelivery", 10*time.Second)
	if err != nil {
		return err
	}
	ui, err := startPrismUI(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Prism web UI: %s\n", ui)

	buckets := filepath.Join(*out, "buckets")
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	cfg, err := config(ctx, "--subscription="+names.Subscription, "--output="+buckets,
		"--bucket_width="+width.String(), "--skew_tolerance=5s", "--max_future=5s", "--run_id=live-demo")
	if err != nil {
		return err
	}
	stopper := stop.New()
	defer stopper.Release()
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, printClosed, delivery.Build(s, cfg, stopper))
	done := make(chan error, 1)
	go func() {
		_, err := beam.Run(context.Background(), "prism", p)
		done <- err
	}()

	sigCtx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c, err := emu.Client(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	spec := livegen.Spec{Events: int(duration.Seconds() * *rate), Rate: *rate, Retries: 0.05, Skewed: 0.03, SkewBy: 40 * time.Second, Invalid: 0.02, Seed: uint64(time.Now().Unix())}
	fmt.Printf("Publishing %d play-track events over %v (5%% client retries, 3%% skewed clocks, 2%% invalid, some redeliveries), %v buckets closing 5s after they end.\n",
		spec.Events, *duration, *width)
	var nacker livegen.Nacker
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nacker.Run(sigCtx, c, names.Subscription, spec.Events/40, 100*time.Millisecond)
	}()
	events, pubErr := livegen.Publish(sigCtx, c, names.Topic, spec, nil)
	wg.Wait()
	if pubErr != nil && !errors.Is(pubErr, context.Canceled) {
		stopper.Stop()
		<-done
		return pubErr
	}
	if sigCtx.Err() == nil && len(events) > 0 {
		last := cfg.Layout.Start(events[len(events)-1].Sent.UnixMilli())
		fmt.Printf("Published. Waiting for the last bucket (%s) to close...\n", output.Format(last))
		waitFor(sigCtx, cfg.Target().ManifestPath(last), 2*time.Minute)
	}
	fmt.Println("Stopping gracefully: the reader stops pulling, what was read is written, unfinished buckets stay open.")
	stopper.Stop()
	if err := <-done; err != nil {
		return err
	}
	return summary(ctx, cfg, events, len(nacker.Nacked()))
}

func summary(ctx context.Context, cfg delivery.Config, events []livegen.Event, nacked int) error {
	var valid, invalid int
	for _, e := range events {
		if e.EventID == "" {
			invalid++
		} else {
			valid++
		}
	}
	tree, err := outputtree.Read(ctx, cfg.Output, cfg.EventType)
	if err != nil {
		return err
	}
	var m output.Manifest
	closed, open := 0, 0
	for _, d := range tree.Dirs() {
		b := tree.Buckets[d]
		if b.Manifest == nil {
			open++
			continue
		}
		closed++
		m.Records += b.Manifest.Records
		m.Duplicates += b.Manifest.Duplicates
		m.Skewed += b.Manifest.Skewed
		m.Invalid += b.Manifest.Invalid
	}
	fmt.Printf("\nPublished %d events and %d invalid messages (%d messages redelivered by nacks).\n", valid, invalid, nacked)
	fmt.Printf("Closed %d buckets (%d left open for the next run): %d records, %d duplicates dropped, %d skewed, %d dead letters.\n",
		closed, open, m.Records, m.Duplicates, m.Skewed, m.Invalid)
	fmt.Printf("Output under %s\n", filepath.Join(cfg.Output, cfg.EventType))
	if problems := tree.Check(); len(problems) > 0 {
		return fmt.Errorf("output breaks the contract: %v", problems)
	}
	return nil
}

// config builds the pipeline's configuration from flags, as the pipeline binary would.
func config(ctx context.Context, args ...string) (delivery.Config, error) {
	fs := flag.NewFlagSet("eventdelivery", flag.ContinueOnError)
	flags := delivery.RegisterFlags(fs)
	all := append([]string{"--event_type=play-track", "--schema_json=" + replaygen.Schema, "--bucket_time=field:client_time"}, args...)
	if err := fs.Parse(all); err != nil {
		return delivery.Config{}, err
	}
	cfg, err := flags.Config(ctx)
	cfg.Version = version.String()
	return cfg, err
}

// startPrismUI starts Prism's job server and web UI in this process, points beam.Run at
// them, and returns the UI's address.
func startPrismUI(ctx context.Context) (string, error) {
	jobPort, err := pubsubemu.FreePort()
	if err != nil {
		return "", err
	}
	webPort, err := pubsubemu.FreePort()
	if err != nil {
		return "", err
	}
	cli, err := prism.CreateJobServer(ctx, prism.Options{Port: jobPort})
	if err != nil {
		return "", err
	}
	*jobopts.Endpoint = fmt.Sprintf("localhost:%d", jobPort)
	*jobopts.EnvironmentType = "loopback"
	if err := prism.CreateWebServer(ctx, cli, prism.Options{Port: webPort}); err != nil {
		return "", err
	}
	return fmt.Sprintf("http://localhost:%d", webPort), nil
}

func waitFor(ctx context.Context, path string, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
