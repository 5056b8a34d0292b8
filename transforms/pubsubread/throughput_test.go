package pubsubread

import (
	"context"
	"github.com/eventdelivery/eventdelivery/internal/testkit/poll"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn1x0[message.Message](&countFn{})
}

var counters sync.Map // run name → *atomic.Int64

type countFn struct{ Run string }

func (fn *countFn) ProcessElement(message.Message) {
	v, _ := counters.Load(fn.Run)
	v.(*atomic.Int64).Add(1)
}

// TestThroughput measures how fast Read moves a backlog of N messages from the emulator through
// Prism. It runs only when PUBSUBREAD_THROUGHPUT=N is set.
func TestThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PUBSUBREAD_THROUGHPUT"))
	if n <= 0 {
		t.Skip("set PUBSUBREAD_THROUGHPUT=N to measure")
	}
	names := pubsubemu.NewSubscription(t, 60*time.Second)
	c := client(t)
	ctx := context.Background()
	pub := c.Publisher(names.Topic)
	payload := make([]byte, 123)
	start := time.Now()
	var results []*pubsub.PublishResult
	for i := range n {
		results = append(results, pub.Publish(ctx, &pubsub.Message{Data: payload, Attributes: map[string]string{"i": strconv.Itoa(i)}}))
	}
	for _, r := range results {
		if _, err := r.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pub.Stop()
	t.Logf("published %d messages in %v (%.0f/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())

	var hmu sync.Mutex
	var ackTimes []time.Time
	var ackSizes []int
	acks.Observe(func(_ string, ids []string) {
		hmu.Lock()
		ackTimes = append(ackTimes, time.Now())
		ackSizes = append(ackSizes, len(ids))
		hmu.Unlock()
	})
	defer acks.Observe(nil)
	defer func() {
		hmu.Lock()
		defer hmu.Unlock()
		for i := range ackTimes {
			if i > 0 && os.Getenv("PUBSUBREAD_THROUGHPUT_DEBUG") != "" {
				t.Logf("ack %d: %d ids, %v after the previous", i, ackSizes[i], ackTimes[i].Sub(ackTimes[i-1]).Round(time.Millisecond))
			}
		}
		t.Logf("%d bundles acked", len(ackTimes))
	}()
	runName := t.Name()
	cnt := new(atomic.Int64)
	counters.Store(runName, cnt)
	stopper := NewStopper()
	defer stopper.Release()
	p, s := beam.NewPipelineWithRoot()
	opts := []Option{WithStopper(stopper), WithAckOnCommit()}
	if k, _ := strconv.Atoi(os.Getenv("PUBSUBREAD_PULL_CONCURRENCY")); k > 0 {
		opts = append(opts, WithPullConcurrency(k))
	}
	beam.ParDo0(s, &countFn{Run: runName}, Read(s, names.Subscription, opts...))
	start = time.Now()
	wait := run(t, p)
	var first time.Time
	poll.Until(t, 10*time.Minute, "all messages", func() bool {
		if first.IsZero() && cnt.Load() > 0 {
			first = time.Now()
		}
		return cnt.Load() >= int64(n)
	})
	d := time.Since(first)
	t.Logf("read %d messages through Prism in %v after the first (%.0f/s); %v from submission", cnt.Load(), d.Round(time.Millisecond), float64(n)/d.Seconds(), time.Since(start).Round(time.Millisecond))
	stopper.Stop()
	if err := wait(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}
