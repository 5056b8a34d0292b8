package benchmark

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
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
//
// The comparison is made fair in two ways (docs/performance.md). The emulator's JVM gets
// about twice as fast over its first few backlogs, so before the first round it is warmed
// with two backlogs of the same size, published and pulled on a subscription of their own.
// And in every round the bare pull+ack loop runs twice on the same backlog, once before the
// pipeline and once after it (two subscriptions of the topic): the pipeline is compared with
// the mean of both, so that an emulator warming or slowing within the round favours neither.
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
	topic := "bench-" + id[7:] + id[:6]
	sub := func(name string) pubsubemu.Names {
		names, err := emu.CreateSubscription(ctx, "", topic, "bench-"+name+"-"+id[:6]+id[7:], time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		return names
	}
	before, after, holding, names := sub("raw"), sub("raw-after"), sub("hold"), sub("pipe")
	warm, err := emu.CreateSubscription(ctx, "", topic+"-warm", "bench-warm-"+id[:6]+id[7:], time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	for range 2 {
		if _, err := livegen.Publish(ctx, c, warm.Topic, livegen.Spec{Events: n, Rate: 1e9, Seed: 4}, nil); err != nil {
			b.Fatal(err)
		}
		if _, _, err := pullAck(ctx, emu, c, warm.Subscription, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := livegen.Publish(ctx, c, names.Topic, livegen.Spec{Events: n, Rate: 1e9, Seed: 5}, nil); err != nil {
			b.Fatal(err)
		}
		publish := time.Since(start)

		pullAck1, emuCPU1, err := pullAck(ctx, emu, c, before.Subscription, n)
		if err != nil {
			b.Fatal(err)
		}
		cpu0, goCPU0 := emu.CPU(), processCPU()
		r := runLive(b, names.Subscription, n)
		emuCPUPipe, goCPUPipe := r.emuCPU-cpu0, r.goCPU-goCPU0
		pullAck2, emuCPU2, err := pullAck(ctx, emu, c, after.Subscription, n)
		if err != nil {
			b.Fatal(err)
		}
		hold, emuCPUHold, err := pullHold(ctx, emu, c, holding.Subscription, n)
		if err != nil {
			b.Fatal(err)
		}
		ref := (pullAck1 + pullAck2) / 2
		b.ReportMetric(float64(n)/publish.Seconds(), "emulator_publish_msgs/s")
		b.ReportMetric(float64(n)/pullAck1.Seconds(), "emulator_pull_ack_before_msgs/s")
		b.ReportMetric(float64(n)/pullAck2.Seconds(), "emulator_pull_ack_after_msgs/s")
		b.ReportMetric(float64(n)/ref.Seconds(), "emulator_pull_ack_msgs/s")
		b.ReportMetric(float64(n)/hold.Seconds(), "emulator_pull_hold_msgs/s")
		b.ReportMetric(hold.Seconds()/r.read.Seconds(), "read_rate_vs_pull_hold")
		b.ReportMetric(r.startup.Seconds(), "s_until_first_read")
		b.ReportMetric(float64(n)/r.read.Seconds(), "pipeline_read_events/s")
		b.ReportMetric(ref.Seconds()/r.read.Seconds(), "read_rate_vs_pull_ack")
		b.ReportMetric(float64(n)/r.acked.Seconds(), "pipeline_acked_events/s")
		b.ReportMetric(ref.Seconds()/r.acked.Seconds(), "ack_rate_vs_pull_ack")
		b.ReportMetric(r.closed.Seconds(), "s_until_all_closed")
		// CPU per message: the emulator's in the bare loop (mean of both) and while the
		// pipeline read, the pipeline's own (Prism and DoFns) until every message was read.
		b.ReportMetric(float64((emuCPU1+emuCPU2)/2)/float64(n)/1e3, "emulator_pull_ack_cpu_µs/msg")
		b.ReportMetric(float64(emuCPUHold)/float64(n)/1e3, "emulator_pull_hold_cpu_µs/msg")
		b.ReportMetric(float64(emuCPUPipe)/float64(n)/1e3, "emulator_pipeline_cpu_µs/msg")
		b.ReportMetric(float64(goCPUPipe)/float64(n)/1e3, "pipeline_read_cpu_µs/msg")
	}
}

// pullAck pulls and acks n messages of sub in one synchronous loop (1,000 a request, as the
// pipeline's reader asks) and returns how long it took and the CPU the emulator used
// meanwhile (see pubsubemu.Emulator.CPU).
func pullAck(ctx context.Context, emu *pubsubemu.Emulator, c *pubsub.Client, sub string, n int) (time.Duration, time.Duration, error) {
	return pullLoop(ctx, emu, c, sub, n, false)
}

// pullHold is pullAck holding every message until all n are pulled, as a reader that acks
// only what is in a file does; the acks at the end are not timed. On the emulator every Pull
// scans all the messages outstanding on the subscription, so this is slower than pullAck.
func pullHold(ctx context.Context, emu *pubsubemu.Emulator, c *pubsub.Client, sub string, n int) (time.Duration, time.Duration, error) {
	return pullLoop(ctx, emu, c, sub, n, true)
}

func pullLoop(ctx context.Context, emu *pubsubemu.Emulator, c *pubsub.Client, sub string, n int, hold bool) (time.Duration, time.Duration, error) {
	var held []string
	defer func() {
		for len(held) > 0 {
			k := min(len(held), 1000)
			_ = c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: held[:k]})
			held = held[k:]
		}
	}()
	cpu := emu.CPU()
	start := time.Now()
	for got := 0; got < n; {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000, ReturnImmediately: true})
		if err != nil {
			return 0, 0, err
		}
		var ids []string
		for _, m := range resp.GetReceivedMessages() {
			ids = append(ids, m.GetAckId())
		}
		if hold {
			held = append(held, ids...)
		} else if len(ids) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ids}); err != nil {
				return 0, 0, err
			}
		}
		got += len(ids)
	}
	return time.Since(start), emu.CPU() - cpu, nil // a holding loop's acks come after
}

// processCPU is the CPU time this process used so far (Prism and the DoFns run in it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveRun is what runLive measured.
type liveRun struct {
	startup, read, acked, closed time.Duration
	emuCPU, goCPU                time.Duration // CPU used until every message was read
}

// runLive runs the pipeline on the subscription's backlog of n messages and returns how long
// it took for all n to enter the pipeline, to be acked (each once it is in a file), and for
// every bucket holding them to close.
func runLive(b *testing.B, sub string, n int) liveRun {
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
	var r liveRun
	select {
	case readAt = <-readDone:
		r.emuCPU, r.goCPU = pubsubemu.ForTest(b).CPU(), processCPU()
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
	r.startup, r.read, r.acked, r.closed = first.Sub(start), readAt.Sub(first), allAcked.Sub(start), closedAt.Sub(start)
	return r
}
