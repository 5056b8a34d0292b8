package pubsubread

import (
	"context"
	"github.com/eventdelivery/eventdelivery/internal/testkit/poll"
	"maps"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.Function1x1(constKey)
	register.DoFn2x0[string, int](&windowSinkFn{})
}

func constKey(message.Message) string { return "all" }

// windowSums counts, per run, the elements of the window panes that fired.
var windowSums sync.Map // run name → *int64 under windowMu

var windowMu sync.Mutex

type windowSinkFn struct{ Run string }

func (fn *windowSinkFn) ProcessElement(_ string, n int) {
	windowMu.Lock()
	defer windowMu.Unlock()
	v, _ := windowSums.LoadOrStore(fn.Run, new(int))
	*v.(*int) += n
}

func windowSum(run string) int {
	windowMu.Lock()
	defer windowMu.Unlock()
	v, ok := windowSums.Load(run)
	if !ok {
		return 0
	}
	return *v.(*int)
}

// TestRead publishes a backlog, starts the reader, publishes more while it runs, and checks that
// every message is emitted with its publish time as timestamp, its attributes and data; that the
// watermark passes the messages' one-second windows while the pipeline runs (it follows publish
// times and the clock); and that Stop drains the pipeline and every message is acked once.
func TestRead(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)
	acks := watchAcks(t, names.Subscription)
	runName, obs := newObservation(t)

	backlog := publish(t, c, names.Topic, 0, 300, func(i int) map[string]string {
		if i%3 == 0 {
			return map[string]string{"event_id": "e" + string(rune('a'+i%26)), "kind": "backlog"}
		}
		return nil
	})

	stopper := NewStopper()
	defer stopper.Release()
	p, s := beam.NewPipelineWithRoot()
	msgs := Read(s, names.Subscription, WithAckOnCommit(), WithStopper(stopper))
	beam.ParDo0(s, &observeFn{Run: runName}, msgs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Second), msgs)
	counts := stats.Count(s, beam.ParDo(s, constKey, windowed))
	beam.ParDo0(s, &windowSinkFn{Run: runName}, counts)
	wait := run(t, p)

	poll.Until(t, 60*time.Second, "the backlog's windows to fire", func() bool { return windowSum(runName) == len(backlog) })
	live := publish(t, c, names.Topic, len(backlog), 200, func(i int) map[string]string {
		return map[string]string{"kind": "live"}
	})
	all := append(backlog, live...)
	poll.Until(t, 30*time.Second, "every message to be read", func() bool { return obs.has(ids(all)) })
	poll.Until(t, 30*time.Second, "the live messages' windows to fire", func() bool { return windowSum(runName) >= len(all) })

	stopper.Stop()
	if err := wait(60 * time.Second); err != nil {
		t.Fatalf("pipeline after Stop: %v", err)
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, p := range all {
		ds := obs.byID[p.id]
		if len(ds) == 0 {
			t.Errorf("message %s not emitted", p.id)
			continue
		}
		d := ds[0]
		if got := d.msg.Published(); got.Before(p.before.Add(-time.Second)) || got.After(p.after.Add(time.Second)) {
			t.Errorf("message %s: publish time %v, published between %v and %v", p.id, got, p.before, p.after)
		}
		if int64(d.ts) != d.msg.PublishTime {
			t.Errorf("message %s: timestamp %d, publish time %d", p.id, int64(d.ts), d.msg.PublishTime)
		}
		if string(d.msg.Data) != p.data {
			t.Errorf("message %s: data %q, want %q", p.id, d.msg.Data, p.data)
		}
		if !maps.Equal(d.msg.Attributes, p.attrs) {
			t.Errorf("message %s: attributes %v, want %v", p.id, d.msg.Attributes, p.attrs)
		}
	}
	if n := windowSum(runName); n != len(obs.deliveries) {
		t.Errorf("window panes counted %d elements, %d were emitted", n, len(obs.deliveries))
	}
	acked := acks.ackedMessages()
	for _, p := range all {
		if !acked[p.id] {
			t.Errorf("message %s was never acked", p.id)
		}
	}
	t.Logf("%d messages, %d deliveries in %d bundles", len(all), len(obs.deliveries), len(obs.bundleEnd))
}

// TestAcksFollowCommits checks that every emitted message is acked exactly once, and only after
// the bundle that emitted it finished, over many small bundles; and that nothing is left on the
// subscription once the ack deadline has passed after a graceful stop.
func TestAcksFollowCommits(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)
	acks := watchAcks(t, names.Subscription)
	runName, obs := newObservation(t)

	// Small pulls and bundles: many bundles, many checkpoints.
	stopper, wait := observeRead(t, names.Subscription, runName, WithMaxMessagesPerPull(7), WithMaxBundle(20, time.Second))

	var all []published
	for wave := range 10 {
		ps := publish(t, c, names.Topic, wave*40, 40, nil)
		all = append(all, ps...)
		poll.Until(t, 30*time.Second, "wave to be read", func() bool { return obs.has(ids(ps)) })
	}
	stopper.Stop()
	if err := wait(60 * time.Second); err != nil {
		t.Fatalf("pipeline after Stop: %v", err)
	}

	obs.mu.Lock()
	acks.mu.Lock()
	bundles := map[int64]bool{}
	for ackID, msgID := range acks.msgOf {
		times := acks.ackedAt[ackID]
		if len(times) != 1 {
			t.Errorf("message %s (ack id %.12s…) acked %d times, want once", msgID, ackID, len(times))
			continue
		}
		ds := obs.byID[msgID]
		if len(ds) == 0 {
			t.Errorf("message %s claimed but not emitted", msgID)
			continue
		}
		// The delivery whose bundle this ack id belongs to is the last one before the ack.
		var d *seen
		for i := range ds {
			if ds[i].at.Before(times[0]) {
				d = &ds[i]
			}
		}
		if d == nil {
			t.Errorf("message %s acked at %v before it was emitted", msgID, times[0])
			continue
		}
		end, ok := obs.bundleEnd[d.bundle]
		if !ok || !times[0].After(end) {
			t.Errorf("message %s acked at %v, its bundle %d finished at %v (finished: %v)", msgID, times[0], d.bundle, end, ok)
		}
		bundles[d.bundle] = true
	}
	if got, want := len(acks.msgOf), len(all); got < want {
		t.Errorf("%d messages claimed, published %d", got, want)
	}
	t.Logf("%d messages, %d claims, %d deliveries, acked after %d distinct bundles", len(all), len(acks.msgOf), len(obs.deliveries), len(bundles))
	acks.mu.Unlock()
	obs.mu.Unlock()
	if len(bundles) < 10 {
		t.Errorf("messages came in %d bundles, want at least 10 to exercise checkpoints", len(bundles))
	}

	// Nothing comes back once the ack deadline (10s) has passed: every message was acked.
	assertDrained(t, names.Subscription, 12*time.Second)
}

// assertDrained pulls sub for d and fails if any message is delivered.
func assertDrained(t *testing.T, sub string, d time.Duration) {
	t.Helper()
	pc := client(t)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := pc.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetReceivedMessages()); n > 0 {
			t.Fatalf("%d messages redelivered after the pipeline acked and stopped, e.g. %s", n, resp.GetReceivedMessages()[0].GetMessage().GetMessageId())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStopOnSignal wires a Stopper to SIGINT as a pipeline binary does, sends SIGINT to this
// process while messages are in flight, and checks that the pipeline ends without error and
// every message read was acked.
func TestStopOnSignal(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)
	acks := watchAcks(t, names.Subscription)
	runName, obs := newObservation(t)

	stopper := NewStopper()
	defer stopper.Release()
	sigCtx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	stopper.StopWhenDone(sigCtx)

	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &observeFn{Run: runName}, Read(s, names.Subscription, WithAckOnCommit(), WithStopper(stopper)))
	wait := run(t, p)
	// Keep publishing while the pipeline stops.
	var published atomic.Int64
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub := c.Publisher(names.Topic)
		defer pub.Stop()
		for range 20 {
			var rs []*pubsub.PublishResult
			for range 100 {
				rs = append(rs, pub.Publish(context.Background(), &pubsub.Message{Data: []byte("x")}))
			}
			for _, r := range rs {
				if _, err := r.Get(context.Background()); err != nil {
					t.Errorf("publish: %v", err) // not Fatal: this is not the test's goroutine
					return
				}
				published.Add(1)
			}
		}
	}()
	defer func() { <-pubDone }()
	poll.Until(t, 30*time.Second, "a first hundred messages", func() bool { return obs.distinct() >= 100 })
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := wait(60 * time.Second); err != nil {
		t.Fatalf("pipeline after SIGINT: %v", err)
	}
	acked := acks.ackedMessages()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for id := range obs.byID {
		if !acked[id] {
			t.Errorf("message %s was read but not acked before the pipeline ended", id)
		}
	}
	t.Logf("stopped after reading %d messages (%d published by then); all of them acked", len(obs.byID), published.Load())
}
