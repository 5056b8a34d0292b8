package pubsubread

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker, []byte,
		func(beam.EventTime, message.Message), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, message.Message]()
	beam.RegisterType(reflect.TypeOf((*Restriction)(nil)).Elem())
}

// ackChunk is the most ack ids sent in one Acknowledge or ModifyAckDeadline request.
const ackChunk = 1000

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
		MaxBundleSize:      o.maxBundleSize,
		MaxBundleDuration:  o.maxBundleDuration,
		PollInterval:       o.pollInterval,
		WatermarkAllowance: o.watermarkAllowance,
		MaxLease:           o.maxLease,
	}, imp)
}

// projectOf returns P of projects/P/subscriptions/S.
func projectOf(subscription string) (string, error) {
	parts := strings.Split(subscription, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "subscriptions" || parts[3] == "" {
		return "", fmt.Errorf("subscription %q, want projects/PROJECT/subscriptions/NAME", subscription)
	}
	return parts[1], nil
}

// readFn is the splittable DoFn behind Read. Its restriction carries the ack ids of the
// previous bundle (see Restriction); ProcessElement acks them first, then pulls.
type readFn struct {
	Subscription       string
	StopKey            string
	MaxMessagesPerPull int
	MaxBundleSize      int
	MaxBundleDuration  time.Duration
	PollInterval       time.Duration
	WatermarkAllowance time.Duration
	MaxLease           time.Duration

	client      *pubsub.Client
	ackDeadline time.Duration
	stopKeeper  context.CancelFunc

	pulled    beam.Counter
	acked     beam.Counter
	ackErrors beam.Counter
	nacked    beam.Counter
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
	return nil
}

func (fn *readFn) Teardown() error {
	if fn.stopKeeper != nil {
		fn.stopKeeper()
	}
	dropOwnedLeases(fn)
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
	return sdf.NewLockRTracker(newTracker(rest))
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

// ProcessElement acks the messages of the committed bundle that checkpointed into rest, then
// pulls and emits until the bundle is full, the subscription is drained or a stop is requested,
// and checkpoints with the ack ids it emitted.
func (fn *readFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker, _ []byte, emit func(beam.EventTime, message.Message)) (sdf.ProcessContinuation, error) {
	rest := rt.GetRestriction().(Restriction)
	if len(rest.AckIDs) > 0 {
		dropLease(rest.AckIDs)
		fn.ack(ctx, rest.AckIDs)
	}
	start := time.Now()
	var firstPull time.Time
	emitted := 0
	for {
		if rest.Final || stopped(fn.StopKey) {
			if emitted > 0 {
				// Checkpoint once more so that the messages of this bundle are acked after it is
				// committed; the resumed restriction stops at once.
				return fn.checkpoint(rt, firstPull, 0), nil
			}
			rt.TryClaim(stopClaim{})
			return sdf.StopProcessing(), nil
		}
		n := min(fn.MaxMessagesPerPull, fn.MaxBundleSize-emitted)
		pullTime := time.Now()
		resp, err := fn.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{
			Subscription: fn.Subscription,
			MaxMessages:  int32(n),
			// The emulator and the service otherwise hold an empty Pull for seconds, and a Pull
			// cancelled by the client may already have leased messages to nobody.
			ReturnImmediately: true, //nolint:staticcheck // see above
		})
		if err != nil {
			if emitted > 0 {
				log.Warnf(ctx, "pubsubread: pull %s: %v; checkpointing", fn.Subscription, err)
				return fn.checkpoint(rt, firstPull, fn.PollInterval), nil
			}
			return nil, fmt.Errorf("pubsubread: pull %s: %w", fn.Subscription, err)
		}
		msgs := resp.GetReceivedMessages()
		fn.pulled.Inc(ctx, int64(len(msgs)))
		if len(msgs) > 0 && firstPull.IsZero() {
			firstPull = pullTime
		}
		oldest := time.Time{}
		for i, m := range msgs {
			if !rt.TryClaim(m.GetAckId()) {
				// The restriction was split or finished: nobody will ack the rest, give it back.
				fn.nack(ctx, msgs[i:])
				if err := rt.GetError(); err != nil {
					return nil, err
				}
				return sdf.StopProcessing(), nil
			}
			pm := m.GetMessage()
			pt := pm.GetPublishTime().AsTime()
			if oldest.IsZero() || pt.Before(oldest) {
				oldest = pt
			}
			if h := testHooks.Load(); h != nil && h.claimed != nil {
				h.claimed(fn.Subscription, m.GetAckId(), pm.GetMessageId())
			}
			emit(mtimeOf(pt), message.Message{
				ID:          pm.GetMessageId(),
				PublishTime: pt.UnixMilli(),
				Attributes:  pm.GetAttributes(),
				Data:        pm.GetData(),
			})
			emitted++
		}
		fn.advanceWatermark(we, len(msgs), oldest)
		switch {
		case len(msgs) == 0:
			// Drained for now. (A short pull proves nothing: the emulator returns at most 100
			// messages per pull, the service often fewer than asked.)
			return fn.checkpoint(rt, firstPull, fn.PollInterval), nil
		case emitted >= fn.MaxBundleSize || time.Since(start) >= fn.MaxBundleDuration:
			return fn.checkpoint(rt, firstPull, 0), nil
		}
	}
}

func mtimeOf(t time.Time) beam.EventTime { return beam.EventTime(t.UnixMilli()) }

// advanceWatermark moves the watermark after a pull that returned got messages, the oldest
// published at oldest. An empty pull means the subscription is drained for now, so whatever
// arrives next was published after now minus the allowance. After a non-empty pull more
// messages may wait, so the watermark only follows the oldest publish time of the batch.
func (fn *readFn) advanceWatermark(we *watermarkEstimator, got int, oldest time.Time) {
	if got == 0 {
		we.advance(time.Now().Add(-fn.WatermarkAllowance))
		return
	}
	we.advance(oldest)
}

// checkpoint returns a continuation that makes the SDK split the restriction at fraction 0:
// the residual carries the ack ids claimed in this bundle. They are leased until the residual
// is resumed.
func (fn *readFn) checkpoint(rt *sdf.LockRTracker, firstPull time.Time, delay time.Duration) sdf.ProcessContinuation {
	rt.Mu.Lock()
	ids := append([]string(nil), rt.Rt.(*tracker).claimedIDs()...)
	rt.Mu.Unlock()
	addLease(fn, ids, firstPull, fn.ackDeadline)
	return sdf.ResumeProcessingIn(delay)
}

// ack acknowledges ids. Failures are logged and counted, not returned: the bundle that emitted
// the messages is committed, so at worst Pub/Sub redelivers them and the pipeline dedupes.
func (fn *readFn) ack(ctx context.Context, ids []string) {
	if h := testHooks.Load(); h != nil && h.acked != nil {
		h.acked(fn.Subscription, ids)
	}
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), ackChunk)
		err := fn.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: fn.Subscription, AckIds: rest[:n]})
		if err != nil {
			fn.ackErrors.Inc(ctx, int64(n))
			log.Warnf(ctx, "pubsubread: ack %d messages of %s: %v", n, fn.Subscription, err)
		} else {
			fn.acked.Inc(ctx, int64(n))
		}
		rest = rest[n:]
	}
}

// nack gives msgs back to Pub/Sub for redelivery.
func (fn *readFn) nack(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetAckId()
	}
	if err := fn.modifyAckDeadline(ctx, ids, 0); err != nil {
		log.Warnf(ctx, "pubsubread: nack %d messages of %s: %v", len(ids), fn.Subscription, err)
	}
	fn.nacked.Inc(ctx, int64(len(ids)))
}

// hooks observe the reader in tests.
type hooks struct {
	claimed func(subscription, ackID, messageID string)
	acked   func(subscription string, ackIDs []string)
}

var testHooks atomic.Pointer[hooks]
