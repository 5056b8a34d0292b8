package deploy_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"golang.org/x/time/rate"
)

// BenchmarkDeploy300 deploys a 300-event-type fleet (13 projects) against the fake with
// 1 s of latency on every launch, through Google's clients over gRPC, and reports the wall
// time next to the lower bound for the parallelism and rate limit used. One iteration
// takes about 6 s; `go test -bench Deploy300 -benchtime 1x` runs exactly one.
func BenchmarkDeploy300(b *testing.B) {
	const (
		n           = 300
		parallelism = 50
		launchRate  = 50.0 // per second
		burst       = 50
		latency     = time.Second
	)
	f := launchertest.Load(b, b.TempDir(), launchertest.Spec{EventTypes: n, PerProject: 24, MaxActive: 25})
	bound := deploy.LowerBound(n, parallelism, latency, launchRate, burst)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv, err := fakedataflow.NewServer(fakedataflow.WithLatency(fakedataflow.MethodLaunchFlexTemplate, latency))
		if err != nil {
			b.Fatal(err)
		}
		c, err := dataflow.Dial(context.Background(), dataflow.Config{EmulatorHost: srv.Addr})
		if err != nil {
			b.Fatal(err)
		}
		api := dataflow.WithRetry(dataflow.WithRateLimit(c, rate.NewLimiter(launchRate, burst), rate.NewLimiter(500, 500)), dataflow.RetryPolicy{})
		b.StartTimer()

		start := time.Now()
		obs, err := plan.Observe(context.Background(), api, f, parallelism)
		if err != nil {
			b.Fatal(err)
		}
		res, err := deploy.Apply(context.Background(), api, plan.Compute(f, obs, plan.Options{}), deploy.Options{
			Parallelism:  parallelism,
			Wait:         true,
			PollInterval: 100 * time.Millisecond,
			Logger:       slog.New(slog.DiscardHandler),
		})
		elapsed := time.Since(start)
		if err != nil || !res.OK() || res.Counts().Running != n {
			b.Fatalf("deploy: %v %s", err, res.Summary())
		}
		total += elapsed

		b.StopTimer()
		c.Close()
		srv.Close()
		b.StartTimer()
	}
	wall := total / time.Duration(b.N)
	b.ReportMetric(wall.Seconds(), "wall-s/deploy")
	b.ReportMetric(bound.Seconds(), "lower-bound-s")
	b.ReportMetric(100*(wall.Seconds()-bound.Seconds())/bound.Seconds(), "overhead-%")
	b.ReportMetric(float64(parallelism), "parallelism")
	b.ReportMetric(launchRate, "launches/s-limit")
	b.Logf("300 jobs, 1s launch latency, parallelism %d, rate %g/s burst %d: wall %s, lower bound %s",
		parallelism, launchRate, burst, wall.Round(time.Millisecond), bound)
}
