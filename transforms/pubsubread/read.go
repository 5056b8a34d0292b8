package pubsubread

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker, []byte,
		func(beam.EventTime, message.Message), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, message.Message]()
	beam.RegisterType(reflect.TypeOf((*Restriction)(nil)).Elem())
}

// Read reads the subscription (projects/P/subscriptions/S) forever, or until a Stopper given
// with WithStopper stops it, and returns an unbounded PCollection<message.Message>. Each element
// is timestamped with its publish time and carries the message id, publish time, attributes and
// data. The output is in the global window; duplicates (Pub/Sub redeliveries) are possible.
// It uses the Pub/Sub Go client, which talks to PUBSUB_EMULATOR_HOST when that is set. See the
// package documentation for the watermark and the acknowledgement guarantees.
func Read(s beam.Scope, subscription string, opts ...Option) beam.PCollection {
	s = s.Scope("pubsubread.Read")
	if _, err := projectOf(subscription); err != nil {
		panic(fmt.Sprintf("pubsubread.Read: %v", err))
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			panic(fmt.Sprintf("pubsubread.Read: %v", err))
		}
	}
	imp := beam.Impulse(s)
	return beam.ParDo(s, &readFn{
		Subscription:       subscription,
		StopKey:            o.stopKey,
		MaxMessagesPerPull: o.maxMessagesPerPull,
		PullConcurrency:    o.pullConcurrency,
		MaxBundleSize:      o.maxBundleSize,
		MaxBundleDuration:  o.maxBundleDuration,
		PollInterval:       pollInterval,
		WatermarkAllowance: watermarkAllowance,
		MaxLease:           o.maxLease,
		AckOnCommit:        o.ackOnCommit,
	}, imp)
}

// projectOf returns P of projects/P/subscriptions/S.
func projectOf(subscription string) (string, error) { return acks.Project(subscription) }

// readFn is the splittable DoFn behind Read. Its restriction carries the ack ids of the
// previous bundle (see Restriction); ProcessElement acks them first, then pulls.
type readFn struct {
	Subscription       string
	StopKey            string
	MaxMessagesPerPull int
	PullConcurrency    int
	MaxBundleSize      int
	MaxBundleDuration  time.Duration
	PollInterval       time.Duration
	WatermarkAllowance time.Duration
	MaxLease           time.Duration
	AckOnCommit        bool // ack after the runner commits the bundle, not after the output

	client      *pubsub.Client
	ackDeadline time.Duration
	stopKeeper  context.CancelFunc

	pulled     beam.Counter
	acked      beam.Counter
	ackErrors  beam.Counter
	nacked     beam.Counter
	pullErrors beam.Counter
}

func (fn *readFn) Setup(ctx context.Context) error {
	project, err := projectOf(fn.Subscription)
	if err != nil {
		return err
	}
	// NewClient honours PUBSUB_EMULATOR_HOST.
	fn.client, err = pubsub.NewClient(ctx, project)
	if err != nil {
		return fmt.Errorf("pubsubread: client for %s: %w", fn.Subscription, err)
	}
	sub, err := fn.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: fn.Subscription})
	if err != nil {
		_ = fn.client.Close()
		return fmt.Errorf("pubsubread: subscription %s: %w", fn.Subscription, err)
	}
	fn.ackDeadline = max(time.Duration(sub.GetAckDeadlineSeconds())*time.Second, 10*time.Second)
	kctx, cancel := context.WithCancel(context.Background())
	fn.stopKeeper = cancel
	go fn.keepLeases(kctx)

	fn.pulled = beam.NewCounter("pubsubread", "pulled")
	fn.acked = beam.NewCounter("pubsubread", "acked")
	fn.ackErrors = beam.NewCounter("pubsubread", "ack_errors")
	fn.nacked = beam.NewCounter("pubsubread", "nacked")
	fn.pullErrors = beam.NewCounter("pubsubread", "pull_errors")
	return nil
}

func (fn *readFn) Teardown() error {
	if fn.stopKeeper != nil {
		fn.stopKeeper()
	}
	if fn.client != nil {
		return fn.client.Close()
	}
	return nil
}

func (fn *readFn) CreateInitialRestriction(_ []byte) Restriction { return Restriction{} }

func (fn *readFn) SplitRestriction(_ []byte, rest Restriction) []Restriction {
	return []Restriction{rest}
}

func (fn *readFn) RestrictionSize(_ []byte, rest Restriction) float64 { return 1 }

func (fn *readFn) CreateTracker(rest Restriction) *sdf.LockRTracker {
	t := newTracker(rest)
	t.carry = fn.AckOnCommit
	return sdf.NewLockRTracker(t)
}

// TruncateRestriction, called when a runner drains the pipeline, keeps the ack ids and makes
// the reader finish once it has acked them.
func (fn *readFn) TruncateRestriction(rt *sdf.LockRTracker, _ []byte) Restriction {
	rest := rt.GetRestriction().(Restriction)
	return Restriction{AckIDs: rest.AckIDs, Final: true}
}

func (fn *readFn) InitialWatermarkEstimatorState(et beam.EventTime, _ Restriction, _ []byte) int64 {
	return et.Milliseconds()
}

func (fn *readFn) CreateWatermarkEstimator(ms int64) *watermarkEstimator {
	return &watermarkEstimator{state: ms}
}

func (fn *readFn) WatermarkEstimatorState(we *watermarkEstimator) int64 { return we.state }

// ProcessElement acks the messages of the committed bundle that checkpointed into rest (while
// it starts pulling), then pulls and emits until the bundle is full, the subscription is
// drained or a stop is requested, and checkpoints with the ack ids it emitted.
//
// Up to PullConcurrency pulls are in flight; their results are emitted in the order the pulls
// were issued, and once the bundle decides to end, it issues no more pulls and emits the
// results of those in flight, so that no pulled message is left behind at a checkpoint.
func (fn *readFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker, _ []byte, emit func(beam.EventTime, message.Message)) (sdf.ProcessContinuation, error) {
	rest := rt.GetRestriction().(Restriction)
	// The watermark downstream may already have seen: the one reported when the previous
	// bundle checkpointed. Messages older than it are stamped with it (see emitBatch).
	reported := we.CurrentWatermark()
	// Ack while pulling. Beam's metrics are not safe for concurrent use within a bundle, so
	// the ack goroutine only returns its counts; they are recorded here.
	acked := make(chan struct{})
	var nAcked, nFailed int64
	if len(rest.AckIDs) > 0 {
		go func() {
			defer close(acked)
			nAcked, nFailed = fn.ack(ctx, rest.AckIDs)
		}()
	} else {
		close(acked)
	}
	defer func() {
		<-acked
		if nAcked > 0 {
			fn.acked.Inc(ctx, nAcked)
		}
		if nFailed > 0 {
			fn.ackErrors.Inc(ctx, nFailed)
		}
	}()

	start := time.Now()
	var (
		queue            []chan pullResult
		requested        int // messages asked for by the pulls in flight
		emitted          int
		firstPull        time.Time
		stopping         = rest.Final || stop.Stopped(fn.StopKey)
		ending           = stopping // no more pulls
		drained          bool       // a pull came back empty
		drainedAt        time.Time  // when that pull was issued
		oldestAfterDrain time.Time
		lost             bool // the restriction finished under us: give messages back
		pullErr          error
	)
	for {
		for !ending && len(queue) < fn.PullConcurrency && emitted+requested < fn.MaxBundleSize {
			n := min(fn.MaxMessagesPerPull, fn.MaxBundleSize-emitted-requested)
			requested += n
			queue = append(queue, fn.pullAsync(ctx, n))
		}
		if len(queue) == 0 {
			break
		}
		r := <-queue[0]
		queue = queue[1:]
		requested -= r.asked
		fn.pulled.Inc(ctx, int64(len(r.msgs)))
		switch {
		case r.err != nil:
			if pullErr == nil {
				pullErr = r.err
			}
			ending = true
			continue
		case lost:
			fn.nack(ctx, r.msgs)
			continue
		case len(r.msgs) == 0:
			// Drained for now. (A short pull proves nothing: the emulator returns at most 100
			// messages per pull, the service often fewer than asked.)
			if !drained {
				drained, drainedAt = true, r.issued
			}
			ending = true
			continue
		}
		if firstPull.IsZero() {
			firstPull = r.issued
		}
		n, oldest := fn.emitBatch(ctx, rt, r.msgs, r.issued, reported, emit)
		emitted += n
		if n < len(r.msgs) {
			lost, ending = true, true
			continue
		}
		if drained {
			if oldestAfterDrain.IsZero() || oldest.Before(oldestAfterDrain) {
				oldestAfterDrain = oldest
			}
		} else {
			// More messages may wait: follow the oldest publish time of the batch.
			we.advance(oldest)
		}
		if emitted >= fn.MaxBundleSize || time.Since(start) >= fn.MaxBundleDuration || stop.Stopped(fn.StopKey) {
			ending = true
		}
	}

	if lost {
		if err := rt.GetError(); err != nil {
			return nil, err
		}
		return sdf.StopProcessing(), nil
	}
	if drained {
		// Whatever arrives next was published after the empty pull was issued, minus the
		// allowance; messages that the pulls in flight still returned may be older.
		wm := drainedAt.Add(-fn.WatermarkAllowance)
		if !oldestAfterDrain.IsZero() && oldestAfterDrain.Before(wm) {
			wm = oldestAfterDrain
		}
		we.advance(wm)
	}
	delay := time.Duration(0)
	if drained {
		delay = fn.PollInterval
	}
	if pullErr != nil {
		if emitted == 0 && permanent(pullErr) {
			return nil, fmt.Errorf("pubsubread: pull %s: %w", fn.Subscription, pullErr)
		}
		fn.pullErrors.Inc(ctx, 1)
		log.Warnf(ctx, "pubsubread: pull %s: %v; retrying in %v", fn.Subscription, pullErr, fn.PollInterval)
		delay = fn.PollInterval
	}
	if stopping || stop.Stopped(fn.StopKey) {
		if emitted == 0 {
			rt.TryClaim(stopClaim{})
			return sdf.StopProcessing(), nil
		}
		// Checkpoint once more so that this bundle's messages are acked after it is
		// committed; the resumed restriction stops at once.
		delay = 0
	}
	return fn.checkpoint(rt, firstPull, delay), nil
}

// pullResult is the outcome of one Pull.
type pullResult struct {
	msgs   []*pubsubpb.ReceivedMessage
	err    error
	asked  int
	issued time.Time
}

// pullAsync issues a Pull for up to n messages and returns where its result will be.
func (fn *readFn) pullAsync(ctx context.Context, n int) chan pullResult {
	ch := make(chan pullResult, 1)
	issued := time.Now()
	go func() {
		resp, err := fn.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{
			Subscription: fn.Subscription,
			MaxMessages:  int32(n),
			// The emulator and the service otherwise hold an empty Pull for seconds, and a Pull
			// cancelled by the client may already have leased messages to nobody.
			ReturnImmediately: true, //nolint:staticcheck // see above
		})
		ch <- pullResult{msgs: resp.GetReceivedMessages(), err: err, asked: n, issued: issued}
	}()
	return ch
}

// emitBatch claims and emits msgs in order and returns how many it emitted and the oldest
// publish time among them. When a claim fails, it nacks the messages not emitted.
//
// Each message is stamped with its publish time, or with wm, the watermark reported at the
// last checkpoint, when that is later (a redelivery of an old message): an element stamped
// behind it would be late data, dropped downstream. The message keeps its real publish time.
func (fn *readFn) emitBatch(ctx context.Context, rt *sdf.LockRTracker, msgs []*pubsubpb.ReceivedMessage, pulled, wm time.Time, emit func(beam.EventTime, message.Message)) (int, time.Time) {
	var oldest time.Time
	h := testHooks.Load()
	if !fn.AckOnCommit {
		// The writer of what each message becomes acks it (internal/acks); until then it is
		// held. The whole batch is held at once, before any of it is emitted (and so before a
		// writer can ack it); what a failed claim leaves unemitted is released by nack.
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.GetAckId()
		}
		acks.Hold(fn.Subscription, ids, pulled, fn.ackDeadline)
	}
	for i, m := range msgs {
		ackID := m.GetAckId()
		if !rt.TryClaim(ackID) {
			fn.nack(ctx, msgs[i:])
			return i, oldest
		}
		pm := m.GetMessage()
		pt := pm.GetPublishTime().AsTime()
		if oldest.IsZero() || pt.Before(oldest) {
			oldest = pt
		}
		if h != nil && h.claimed != nil {
			h.claimed(fn.Subscription, ackID, pm.GetMessageId())
		}
		stamp := pt
		if pt.Before(wm) {
			stamp = wm
		}
		msg := message.Message{
			ID:          pm.GetMessageId(),
			PublishTime: pt.UnixMilli(),
			Attributes:  pm.GetAttributes(),
			Data:        pm.GetData(),
		}
		if !fn.AckOnCommit {
			msg.AckID = ackID
		}
		emit(mtimeOf(stamp), msg)
	}
	return len(msgs), oldest
}

// permanent reports whether a Pull error will not go away by retrying.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

func mtimeOf(t time.Time) beam.EventTime { return beam.EventTime(t.UnixMilli()) }

// checkpoint returns a continuation that makes the SDK split the restriction at fraction 0:
// the residual carries the ack ids claimed in this bundle. They are leased until the residual
// is resumed.
func (fn *readFn) checkpoint(rt *sdf.LockRTracker, firstPull time.Time, delay time.Duration) sdf.ProcessContinuation {
	if fn.AckOnCommit {
		rt.Mu.Lock()
		ids := append([]string(nil), rt.Rt.(*tracker).claimedIDs()...)
		rt.Mu.Unlock()
		acks.Hold(fn.Subscription, ids, firstPull, fn.ackDeadline)
	}
	return sdf.ResumeProcessingIn(delay)
}

// ack acknowledges ids (the messages of a committed bundle, with AckOnCommit) and returns how
// many were acked and how many failed. It touches no Beam metric (it runs concurrently with
// the bundle).
func (fn *readFn) ack(ctx context.Context, ids []string) (acked, failed int64) {
	return acks.Acknowledge(ctx, fn.client, fn.Subscription, ids)
}

// nack gives msgs back to Pub/Sub for redelivery.
func (fn *readFn) nack(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetAckId()
	}
	acks.Release(fn.Subscription, ids)
	if err := fn.modifyAckDeadline(ctx, ids, 0); err != nil {
		log.Warnf(ctx, "pubsubread: nack %d messages of %s: %v", len(ids), fn.Subscription, err)
	}
	fn.nacked.Inc(ctx, int64(len(ids)))
}

// hooks observe the reader in tests (acks: internal/acks.Observe).
type hooks struct {
	claimed func(subscription, ackID, messageID string)
}

var testHooks atomic.Pointer[hooks]
