package benchmark

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/internal/testkit/livegen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/pubsubread"
)

func init() {
	register.DoFn1x0[message.Message](&countFn{})
}

// read counts the messages that entered the pipeline (DoFns run in this process on Prism).
var (
	readCount atomic.Int64
	readFirst atomic.Int64 // when the first message entered, Unix ns
	readDone  = make(chan time.Time, 1)
	readWant  atomic.Int64
)

type countFn struct{}

func (countFn) ProcessElement(message.Message) {
	n := readCount.Add(1)
	if n == 1 {
		readFirst.Store(time.Now().UnixNano())
	}
	if n == readWant.Load() {
		readDone <- time.Now()
	}
}

// BenchmarkLiveEmulator publishes a backlog to the Pub/Sub emulator and measures, in the
// same run: the emulator's own publish rate and pull-and-ack rate (one synchronous Pull
// loop), and the pipeline on Prism reading the same backlog through pubsubread — the rate
// at which messages enter the pipeline, and the time until every bucket is closed.
func BenchmarkLiveEmulator(b *testing.B) {
	n := envInt(b, "EVENTDELIVERY_BENCH_LIVE", 30000)
	emu := pubsubemu.ForTest(b)
	ctx := context.Background()
	c, err := emu.Client(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	id := time.Now().Format("150405.000")
	raw, err := emu.CreateSubscription(ctx, "", "bench-"+id[7:]+id[:6], "bench-raw-"+id[:6]+id[7:], time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	names, err := emu.CreateSubscription(ctx, "", "bench-"+id[7:]+id[:6], "bench-pipe-"+id[:6]+id[7:], time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := livegen.Publish(ctx, c, names.Topic, livegen.Spec{Events: n, Rate: 1e9, Seed: 5}, nil); err != nil {
			b.Fatal(err)
		}
		publish := time.Since(start)

		start = time.Now()
		for got := 0; got < n; {
			resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: raw.Subscription, MaxMessages: 1000, ReturnImmediately: true})
			if err != nil {
				b.Fatal(err)
			}
			var ids []string
			for _, m := range resp.GetReceivedMessages() {
				ids = append(ids, m.GetAckId())
			}
			if len(ids) > 0 {
				if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: raw.Subscription, AckIds: ids}); err != nil {
					b.Fatal(err)
				}
			}
			got += len(ids)
		}
		pullAck := time.Since(start)

		startup, read, acked, closed := runLive(b, names.Subscription, n)
		b.ReportMetric(float64(n)/publish.Seconds(), "emulator_publish_msgs/s")
		b.ReportMetric(float64(n)/pullAck.Seconds(), "emulator_pull_ack_msgs/s")
		b.ReportMetric(startup.Seconds(), "s_until_first_read")
		b.ReportMetric(float64(n)/read.Seconds(), "pipeline_read_events/s")
		b.ReportMetric(pullAck.Seconds()/read.Seconds(), "read_rate_vs_pull_ack")
		b.ReportMetric(float64(n)/acked.Seconds(), "pipeline_acked_events/s")
		b.ReportMetric(pullAck.Seconds()/acked.Seconds(), "ack_rate_vs_pull_ack")
		b.ReportMetric(closed.Seconds(), "s_until_all_closed")
	}
}

// runLive runs the pipeline on the subscription's backlog of n messages and returns how long
// it took for all n to enter the pipeline, to be acked (each once it is in a file), and for
// every bucket holding them to close.
func runLive(b *testing.B, sub string, n int) (startup, read, acked, closed time.Duration) {
	b.Helper()
	out := b.TempDir()
	cfg := Config("", out)
	cfg.Input, cfg.Subscription, cfg.NowMs, cfg.RunID = "", sub, 0, "bench-live"
	cfg.Layout = output.Layout{Width: time.Second, MaxFuture: time.Minute}
	cfg.BucketTime = delivery.Config{}.BucketTime // publish time
	readCount.Store(0)
	readFirst.Store(0)
	readWant.Store(int64(n))
	var nAcked atomic.Int64
	ackedAt := make(chan time.Time, 1)
	acks.Observe(func(_ string, ids []string) {
		if got := nAcked.Add(int64(len(ids))); got >= int64(n) && got-int64(len(ids)) < int64(n) {
			ackedAt <- time.Now()
		}
	})
	defer acks.Observe(nil)
	stopper := stop.New()
	defer stopper.Release()
	p, s := beam.NewPipelineWithRoot()
	msgs := pubsubread.Read(s, sub, pubsubread.WithStopper(stopper))
	beam.ParDo0(s, countFn{}, msgs)
	delivery.Deliver(s, cfg, msgs, beam.PCollection{}, heartbeat.Clock(s, cfg.Layout, cfg.HeartbeatEvery(), stopper))
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := beam.Run(context.Background(), "prism", p); done <- err }()
	var readAt time.Time
	select {
	case readAt = <-readDone:
	case err := <-done:
		b.Fatalf("pipeline ended early: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d messages read in 5 minutes", readCount.Load(), n)
	}
	var allAcked time.Time
	select {
	case allAcked = <-ackedAt:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d of %d messages acked within 2 minutes", nAcked.Load(), n)
	}
	var once sync.Once
	var closedAt time.Time
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		tree, err := outputtree.Read(context.Background(), out, cfg.EventType)
		if err != nil {
			continue
		}
		var records int64
		for _, d := range tree.Dirs() {
			if m := tree.Buckets[d].Manifest; m != nil {
				records += m.Records
			}
		}
		if records >= int64(n) {
			once.Do(func() { closedAt = time.Now() })
			break
		}
	}
	stopper.Stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if closedAt.IsZero() {
		b.Fatalf("not every bucket closed within 2 minutes (output %s)", filepath.Join(out, cfg.EventType))
	}
	os.RemoveAll(out)
	first := time.Unix(0, readFirst.Load())
	return first.Sub(start), readAt.Sub(first), allAcked.Sub(start), closedAt.Sub(start)
}
