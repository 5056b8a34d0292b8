// Package livegen publishes a realistic live stream of play-track events to Pub/Sub, in real
// time, with client retries, skewed clocks and invalid messages, and makes Pub/Sub redeliver
// some messages by nacking them. The live demo and the end-to-end tests use it.
package livegen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
)

// Spec describes the stream.
type Spec struct {
	Events  int     // distinct events
	Rate    float64 // events per second
	Retries float64 // share of (non-skewed) events a client sends twice: same event id, new message
	Skewed  float64 // share of events whose client clock is SkewBy behind
	SkewBy  time.Duration
	Invalid float64 // share of extra messages that are invalid
	Seed    uint64
	// RetryAfter delays a client's retry after its first message (0: right after it), so
	// that retries straddle a stop or a crash of the pipeline.
	RetryAfter time.Duration
}

// Event is what was published for one event, or one invalid message.
type Event struct {
	EventID    string    // empty for an invalid message
	ClientTime time.Time // the record's client_time, the bucket time
	Sent       time.Time // just before the first publish
	MessageIDs []string  // every message published for it
	Skewed     bool
}

// Publish publishes spec's stream to topic at spec.Rate and returns what it published, in
// order. progress, if not nil, is called after each event.
func Publish(ctx context.Context, c *pubsub.Client, topic string, spec Spec, progress func(done int)) ([]Event, error) {
	codec, err := goavro.NewCodec(replaygen.Schema)
	if err != nil {
		return nil, err
	}
	pub := c.Publisher(topic)
	defer pub.Stop()
	r := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x5bd1e995))
	type pending struct {
		event   int
		results []*pubsub.PublishResult
	}
	var (
		out     []Event
		pend    []pending
		delayed []retry
	)
	// publishDue publishes the retries due by until.
	publishDue := func(until time.Time) {
		for len(delayed) > 0 && !delayed[0].due.After(until) {
			d := delayed[0]
			delayed = delayed[1:]
			pend = append(pend, pending{event: d.event, results: []*pubsub.PublishResult{pub.Publish(ctx, d.msg)}})
		}
	}
	start := time.Now()
	for i := 0; i < spec.Events; i++ {
		if d := time.Until(start.Add(time.Duration(float64(i) / spec.Rate * float64(time.Second)))); d > 0 {
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(d):
			}
		}
		publishDue(time.Now())
		now := time.Now().UTC()
		e := Event{EventID: fmt.Sprintf("live-%d-%06d", spec.Seed, i), ClientTime: now.Truncate(time.Millisecond), Sent: now}
		if r.Float64() < spec.Skewed {
			e.ClientTime, e.Skewed = e.ClientTime.Add(-spec.SkewBy), true
		}
		data, err := codec.BinaryFromNative(nil, replaygen.Record(r, e.EventID, e.ClientTime))
		if err != nil {
			return out, err
		}
		copies := 1
		if !e.Skewed && r.Float64() < spec.Retries {
			copies = 2
		}
		p := pending{event: len(out)}
		for c := range copies {
			msg := &pubsub.Message{Data: data, Attributes: map[string]string{"event_id": e.EventID}}
			if c > 0 && spec.RetryAfter > 0 {
				delayed = append(delayed, retry{event: len(out), msg: msg, due: now.Add(spec.RetryAfter)})
				continue
			}
			p.results = append(p.results, pub.Publish(ctx, msg))
		}
		out, pend = append(out, e), append(pend, p)
		if r.Float64() < spec.Invalid {
			bad := Event{Sent: time.Now().UTC()}
			payload := []byte("not avro")
			if i%2 == 1 {
				payload = append(append([]byte{}, data...), 0x07) // trailing bytes
			}
			pend = append(pend, pending{event: len(out), results: []*pubsub.PublishResult{
				pub.Publish(ctx, &pubsub.Message{Data: payload, Attributes: map[string]string{"event_id": "bad-" + e.EventID}}),
			}})
			out = append(out, bad)
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	for len(delayed) > 0 {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(time.Until(delayed[0].due)):
		}
		publishDue(time.Now())
	}
	for _, p := range pend {
		for _, res := range p.results {
			id, err := res.Get(ctx)
			if err != nil {
				return out, fmt.Errorf("publish: %w", err)
			}
			out[p.event].MessageIDs = append(out[p.event].MessageIDs, id)
		}
	}
	return out, nil
}

// retry is a client's retry, published at due.
type retry struct {
	event int
	msg   *pubsub.Message
	due   time.Time
}

// Nacker makes Pub/Sub redeliver messages: it pulls a few messages now and then from the
// subscription and nacks them, so they come back (same message id) to the pipeline.
type Nacker struct {
	mu     sync.Mutex
	nacked map[string]bool
}

// Nacked returns the message ids nacked so far.
func (n *Nacker) Nacked() map[string]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]bool{}
	for id := range n.nacked {
		out[id] = true
	}
	return out
}

// Run nacks up to max messages, pulling a few every interval, until ctx is done.
func (n *Nacker) Run(ctx context.Context, c *pubsub.Client, subscription string, max int, every time.Duration) error {
	n.mu.Lock()
	if n.nacked == nil {
		n.nacked = map[string]bool{}
	}
	n.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for len(n.Nacked()) < max {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: subscription, MaxMessages: 3, ReturnImmediately: true})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nacker pull: %w", err)
		}
		var ids []string
		n.mu.Lock()
		for _, m := range resp.GetReceivedMessages() {
			ids = append(ids, m.GetAckId())
			n.nacked[m.GetMessage().GetMessageId()] = true
		}
		n.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if err := c.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: subscription, AckIds: ids, AckDeadlineSeconds: 0}); err != nil && ctx.Err() == nil {
			return fmt.Errorf("nack: %w", err)
		}
	}
	return nil
}
