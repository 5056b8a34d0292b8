package pubsubread

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn2x1[beam.EventTime, message.Message, error](&observeFn{})
}

func TestMain(m *testing.M) {
	if os.Getenv(dryRunEnv) != "" {
		os.Exit(dryRunMain())
	}
	if sub := os.Getenv(childSubEnv); sub != "" {
		os.Exit(childMain(sub))
	}
	tmp, err := os.MkdirTemp("", "pubsubread-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", tmp) // Prism leaves files in TMPDIR.
	code := ptest.MainRetWithDefault(m, "prism")
	pubsubemu.CloseShared()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// seen is one delivery of a message to the observer.
type seen struct {
	msg    message.Message
	ts     beam.EventTime
	bundle int64
	at     time.Time
}

// observation is what observeFn saw in one pipeline run (DoFns run in this process on Prism).
type observation struct {
	mu         sync.Mutex
	deliveries []seen
	byID       map[string][]seen
	bundleEnd  map[int64]time.Time
	failOnce   bool // fail the bundle that carries a message with attribute fail=1, once
	failed     bool
}

var observations sync.Map // run name → *observation

var bundleSeq atomic.Int64

func newObservation(t *testing.T) (string, *observation) {
	name := t.Name() + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	o := &observation{byID: map[string][]seen{}, bundleEnd: map[int64]time.Time{}}
	observations.Store(name, o)
	t.Cleanup(func() { observations.Delete(name) })
	return name, o
}

func (o *observation) distinct() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byID)
}

func (o *observation) has(ids map[string]bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id := range ids {
		if len(o.byID[id]) == 0 {
			return false
		}
	}
	return true
}

// observeFn is fused with the reader, so it runs inside the reader's bundles: StartBundle and
// FinishBundle bracket the bundle that emitted what ProcessElement sees.
type observeFn struct {
	Run    string
	o      *observation
	bundle int64
}

func (fn *observeFn) Setup() {
	v, _ := observations.Load(fn.Run)
	fn.o = v.(*observation)
}

func (fn *observeFn) StartBundle() { fn.bundle = bundleSeq.Add(1) }

func (fn *observeFn) ProcessElement(ts beam.EventTime, m message.Message) error {
	fn.o.mu.Lock()
	defer fn.o.mu.Unlock()
	s := seen{msg: m, ts: ts, bundle: fn.bundle, at: time.Now()}
	fn.o.deliveries = append(fn.o.deliveries, s)
	fn.o.byID[m.ID] = append(fn.o.byID[m.ID], s)
	if fn.o.failOnce && !fn.o.failed && m.Attributes["fail"] == "1" {
		fn.o.failed = true
		return fmt.Errorf("injected failure at message %s", m.ID)
	}
	return nil
}

func (fn *observeFn) FinishBundle() {
	fn.o.mu.Lock()
	defer fn.o.mu.Unlock()
	fn.o.bundleEnd[fn.bundle] = time.Now()
}

// ackLog records the reader's claims and acks through its test hooks.
type ackLog struct {
	mu      sync.Mutex
	msgOf   map[string]string      // ack id → message id
	ackedAt map[string][]time.Time // ack id → times it was acked
}

// watchAcks installs hooks that record claims and acks on sub for the duration of the test.
func watchAcks(t *testing.T, sub string) *ackLog {
	l := &ackLog{msgOf: map[string]string{}, ackedAt: map[string][]time.Time{}}
	testHooks.Store(&hooks{
		claimed: func(s, ackID, msgID string) {
			if s != sub {
				return
			}
			l.mu.Lock()
			l.msgOf[ackID] = msgID
			l.mu.Unlock()
		},
	})
	acks.Observe(func(s string, ackIDs []string) {
		if s != sub {
			return
		}
		now := time.Now()
		l.mu.Lock()
		for _, id := range ackIDs {
			l.ackedAt[id] = append(l.ackedAt[id], now)
		}
		l.mu.Unlock()
	})
	t.Cleanup(func() { testHooks.Store(nil); acks.Observe(nil) })
	return l
}

// ackedMessages returns the ids of the messages acked at least once.
func (l *ackLog) ackedMessages() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for ack := range l.ackedAt {
		out[l.msgOf[ack]] = true
	}
	return out
}

// published is a message the test published and when.
type published struct {
	id            string
	data          string
	attrs         map[string]string
	before, after time.Time
}

// publish publishes n messages numbered from first, with attributes from attrs (may be nil).
func publish(t *testing.T, c *pubsub.Client, topic string, first, n int, attrs func(i int) map[string]string) []published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := c.Publisher(topic)
	defer pub.Stop()
	out := make([]published, n)
	results := make([]*pubsub.PublishResult, n)
	before := time.Now()
	for i := range n {
		a := map[string]string{"seq": strconv.Itoa(first + i)}
		if attrs != nil {
			for k, v := range attrs(first + i) {
				a[k] = v
			}
		}
		out[i] = published{data: "payload-" + strconv.Itoa(first+i), attrs: a, before: before}
		results[i] = pub.Publish(ctx, &pubsub.Message{Data: []byte(out[i].data), Attributes: a})
	}
	for i, r := range results {
		id, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		out[i].id = id
	}
	after := time.Now()
	for i := range out {
		out[i].after = after
	}
	return out
}

func ids(ps []published) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		m[p.id] = true
	}
	return m
}

// run runs p on Prism in the background; the returned function waits up to d for the result.
// observeRead starts a pipeline that reads sub, acking on commit (and with opts), into the
// observation runName; it returns the reader's Stopper, released when the test ends, and the
// wait for the pipeline's end (see run).
func observeRead(t *testing.T, sub, runName string, opts ...Option) (*Stopper, func(d time.Duration) error) {
	t.Helper()
	stopper := NewStopper()
	t.Cleanup(stopper.Release)
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &observeFn{Run: runName}, Read(s, sub, append([]Option{WithAckOnCommit(), WithStopper(stopper)}, opts...)...))
	return stopper, run(t, p)
}

func run(t *testing.T, p *beam.Pipeline) func(d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ptest.Run(p) }()
	return func(d time.Duration) error {
		select {
		case err := <-done:
			return err
		case <-time.After(d):
			t.Fatalf("pipeline did not finish within %v", d)
			return nil
		}
	}
}

func client(t *testing.T) *pubsub.Client {
	t.Helper()
	e := pubsubemu.ForTest(t)
	c, err := e.Client(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
