package pubsubread

import (
	"context"
	"github.com/eventdelivery/eventdelivery/internal/testkit/poll"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
)

// TestUncommittedBundleComesBack fails the bundle that carries one message, so the runner never
// commits it, and checks that none of that bundle's messages was acked and that a second run
// on the same subscription receives them again, while every message is acked in the end.
func TestUncommittedBundleComesBack(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)
	acks := watchAcks(t, names.Subscription)

	// Run 1 fails the bundle that carries the message with attribute fail=1.
	run1, obs1 := newObservation(t)
	obs1.failOnce = true
	_, wait1 := observeRead(t, names.Subscription, run1)

	waveA := publish(t, c, names.Topic, 0, 50, nil)
	poll.Until(t, 30*time.Second, "wave A to be read", func() bool { return obs1.has(ids(waveA)) })
	waveB := publish(t, c, names.Topic, 50, 30, func(i int) map[string]string {
		if i == 65 {
			return map[string]string{"fail": "1"}
		}
		return nil
	})
	err := wait1(60 * time.Second)
	if err == nil {
		t.Fatal("run 1 succeeded, want the injected failure")
	}
	t.Logf("run 1 failed as planned: %.200v", err)

	obs1.mu.Lock()
	var failedBundle int64
	for _, d := range obs1.deliveries {
		if d.msg.Attributes["fail"] == "1" {
			failedBundle = d.bundle
		}
	}
	uncommitted := map[string]bool{}
	for _, d := range obs1.deliveries {
		if d.bundle == failedBundle {
			uncommitted[d.msg.ID] = true
		}
	}
	obs1.mu.Unlock()
	if failedBundle == 0 || len(uncommitted) == 0 {
		t.Fatal("the failing message was not delivered in run 1")
	}
	acked1 := acks.ackedMessages()
	for id := range uncommitted {
		if acked1[id] {
			t.Errorf("message %s of the failed bundle was acked", id)
		}
	}

	// Run 2 reads the same subscription: the failed bundle's messages come back once their ack
	// deadline (10s) has expired.
	run2, obs2 := newObservation(t)
	stopper2, wait2 := observeRead(t, names.Subscription, run2)
	poll.Until(t, 40*time.Second, "the failed bundle's messages to be redelivered", func() bool { return obs2.has(uncommitted) })
	all := append(waveA, waveB...)
	poll.Until(t, 40*time.Second, "every message to be acked", func() bool {
		acked := acks.ackedMessages()
		for id := range ids(all) {
			if !acked[id] {
				return false
			}
		}
		return true
	})
	stopper2.Stop()
	if err := wait2(60 * time.Second); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	t.Logf("run 1: %d deliveries, %d in the failed bundle; run 2: %d deliveries", len(obs1.deliveries), len(uncommitted), len(obs2.deliveries))
}

// TestLeaseExtendsAckDeadline checks the lease keeper against the emulator: a message that was
// emitted but whose residual has not been resumed is not redelivered past its ack deadline
// while leased, and comes back once the lease is given up.
func TestLeaseExtendsAckDeadline(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)
	ctx := context.Background()
	fn := &readFn{Subscription: names.Subscription, MaxLease: 8 * time.Second}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer fn.Teardown()
	if fn.ackDeadline != 10*time.Second {
		t.Fatalf("ack deadline read from the subscription = %v, want 10s", fn.ackDeadline)
	}
	ps := publish(t, c, names.Topic, 0, 1, nil)

	var m *pubsubpb.ReceivedMessage
	poll.Until(t, 10*time.Second, "the message", func() bool {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: names.Subscription, MaxMessages: 1, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ReceivedMessages) == 1 {
			m = resp.ReceivedMessages[0]
		}
		return m != nil
	})
	pulled := time.Now()
	acks.Hold(fn.Subscription, []string{m.AckId}, pulled, fn.ackDeadline)

	// Leased: nothing comes back at the 10s deadline. The keeper extends the deadline by 10s when
	// 5s are left, i.e. at 5s; at 10s the lease is older than MaxLease (8s) and is given up, so
	// the message comes back at about 15s.
	var back time.Time
	poll.Until(t, 40*time.Second, "the message to come back after the lease ended", func() bool {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: names.Subscription, MaxMessages: 1, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ReceivedMessages) > 0 {
			back = time.Now()
			if id := resp.ReceivedMessages[0].Message.MessageId; id != ps[0].id {
				t.Fatalf("got message %s, want %s", id, ps[0].id)
			}
			return true
		}
		return false
	})
	if held := back.Sub(pulled); held < 12*time.Second {
		t.Errorf("message redelivered %v after the pull, want well after the 10s ack deadline", held)
	}
	t.Logf("redelivered %v after the pull (ack deadline 10s, extended once, max lease 8s)", back.Sub(pulled).Round(100*time.Millisecond))
}
