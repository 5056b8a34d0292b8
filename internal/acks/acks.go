// Package acks acknowledges Pub/Sub messages once what they became is durable, and keeps their
// leases alive until then.
//
// On a runner whose state dies with the process (Prism, other portable runners), a message may
// be acknowledged only once its record is in a data file, its dead letter in a dead-letter
// file, or it is a counted duplicate of an event already in a file: acking when the runner
// holds a bundle in memory loses the bundle when the process dies. The reader therefore
// [Hold]s every message it emits; whoever makes its output durable calls [Ack] with the ack ids
// that output covers. [Keep] extends the ack deadline of held messages until they are acked.
//
// The registry of held messages is per process: it serves a reader and writers that run in one
// process, as Prism's loopback workers do. [Ack] needs no registry: where the writer runs in
// another process than the reader, it acks through its own client, and the reader's keeper
// goes on extending those ack ids until [WithMaxLease]'s bound, which Pub/Sub ignores for
// messages already acked.
//
// What one held message costs: its ack id (about 100–200 bytes from the service, 20 from the
// emulator) and a map entry, about 250 bytes in all; and 1/1000 of a ModifyAckDeadline call
// per extension (one call takes up to 1,000 ack ids), one extension per ack deadline.
package acks

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// Chunk is the most ack ids sent in one Acknowledge or ModifyAckDeadline request.
const Chunk = 1000

// lease is one held message.
type lease struct {
	pulled  time.Time // when it was pulled: MaxLease counts from here
	expires time.Time // when its current ack deadline runs out
}

// held is the registry: per subscription, per ack id.
var held = struct {
	sync.Mutex
	m map[string]map[string]lease
}{m: map[string]map[string]lease{}}

// Hold registers ids of subscription, pulled at pulled with an ack deadline of deadline, so
// that Keep extends them until they are acked or released.
func Hold(subscription string, ids []string, pulled time.Time, deadline time.Duration) {
	if len(ids) == 0 {
		return
	}
	held.Lock()
	defer held.Unlock()
	m := held.m[subscription]
	if m == nil {
		m = make(map[string]lease, len(ids))
		held.m[subscription] = m
	}
	l := lease{pulled: pulled, expires: pulled.Add(deadline)}
	for _, id := range ids {
		m[id] = l
	}
}

// Release stops extending ids of subscription (they were acked, or nacked).
func Release(subscription string, ids []string) {
	held.Lock()
	defer held.Unlock()
	m := held.m[subscription]
	for _, id := range ids {
		delete(m, id)
	}
}

// Held returns how many messages of subscription are held.
func Held(subscription string) int {
	held.Lock()
	defer held.Unlock()
	return len(held.m[subscription])
}

// Due returns the held ack ids of subscription whose deadline runs out within soon, and
// marks them as extended by deadline from now; messages held longer than maxLease are given
// up (Pub/Sub redelivers them).
func Due(subscription string, now time.Time, soon, deadline, maxLease time.Duration) []string {
	held.Lock()
	defer held.Unlock()
	var ids []string
	m := held.m[subscription]
	for id, l := range m {
		if l.expires.Sub(now) > soon {
			continue
		}
		if now.Sub(l.pulled) > maxLease {
			delete(m, id)
			continue
		}
		l.expires = now.Add(deadline)
		m[id] = l
		ids = append(ids, id)
	}
	return ids
}

// Keep extends the ack deadlines of subscription's held messages through c, by deadline
// whenever they near expiry, for at most maxLease after they were pulled, until ctx is done.
func Keep(ctx context.Context, c *pubsub.Client, subscription string, deadline, maxLease time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	soon := min(5*time.Second, deadline/2)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			ids := Due(subscription, now, soon, deadline, maxLease)
			if len(ids) == 0 {
				continue
			}
			if err := ModifyDeadline(ctx, c, subscription, ids, deadline); err != nil && ctx.Err() == nil {
				slog.Warn("extending ack deadlines", "subscription", subscription, "messages", len(ids), "error", err)
			}
		}
	}
}

// ModifyDeadline sets the ack deadline of ids to d from now (0 nacks them), in chunks.
func ModifyDeadline(ctx context.Context, c *pubsub.Client, subscription string, ids []string, d time.Duration) error {
	for len(ids) > 0 {
		n := min(len(ids), Chunk)
		err := c.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription:       subscription,
			AckIds:             ids[:n],
			AckDeadlineSeconds: int32(d / time.Second),
		})
		if err != nil {
			return fmt.Errorf("modify ack deadline of %d messages of %s: %w", n, subscription, err)
		}
		ids = ids[n:]
	}
	return nil
}

// Acknowledge acks ids of subscription through c and releases them; it returns how many were
// acked and how many failed. A failed ack is logged, not returned: the message comes back as a
// duplicate, which the pipeline counts and drops.
func Acknowledge(ctx context.Context, c *pubsub.Client, subscription string, ids []string) (acked, failed int64) {
	Release(subscription, ids)
	if h := hook.Load(); h != nil {
		(*h)(subscription, ids)
	}
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), Chunk)
		err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: subscription, AckIds: rest[:n]})
		if err != nil {
			failed += int64(n)
			slog.Warn("ack", "subscription", subscription, "messages", n, "error", err)
		} else {
			acked += int64(n)
		}
		rest = rest[n:]
	}
	return acked, failed
}

// Ack acks ids of subscription through this process's client for its project (created on
// first use; it honours PUBSUB_EMULATOR_HOST). Writers call it once their output is durable.
// An empty subscription or no ids is nothing to do.
func Ack(ctx context.Context, subscription string, ids []string) (acked, failed int64, err error) {
	if subscription == "" || len(ids) == 0 {
		return 0, 0, nil
	}
	c, err := clientFor(ctx, subscription)
	if err != nil {
		return 0, 0, err
	}
	acked, failed = Acknowledge(ctx, c, subscription, ids)
	return acked, failed, nil
}

var clients = struct {
	sync.Mutex
	m map[string]*pubsub.Client // by project
}{m: map[string]*pubsub.Client{}}

// clientFor returns the process's client for the project of subscription. Clients live as
// long as the process: writers of every bundle share them.
func clientFor(ctx context.Context, subscription string) (*pubsub.Client, error) {
	project, err := Project(subscription)
	if err != nil {
		return nil, err
	}
	clients.Lock()
	defer clients.Unlock()
	if c := clients.m[project]; c != nil {
		return c, nil
	}
	c, err := pubsub.NewClient(context.WithoutCancel(ctx), project)
	if err != nil {
		return nil, fmt.Errorf("pubsub client for %s: %w", subscription, err)
	}
	clients.m[project] = c
	return c, nil
}

// Project returns P of projects/P/subscriptions/S.
func Project(subscription string) (string, error) {
	parts := strings.Split(subscription, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "subscriptions" || parts[3] == "" {
		return "", fmt.Errorf("subscription %q, want projects/PROJECT/subscriptions/NAME", subscription)
	}
	return parts[1], nil
}

var hook atomic.Pointer[func(subscription string, ids []string)]

// Observe makes every later Acknowledge call f first (nil stops it): tests see what is acked.
func Observe(f func(subscription string, ids []string)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}
