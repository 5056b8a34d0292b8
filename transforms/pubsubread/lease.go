package pubsubread

import (
	"context"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/acks"
)

// keepLeases extends the ack deadlines of the messages this process holds for fn's
// subscription (internal/acks) until ctx is done.
func (fn *readFn) keepLeases(ctx context.Context) {
	acks.Keep(ctx, fn.client, fn.Subscription, fn.ackDeadline, fn.MaxLease)
}

// modifyAckDeadline sets the ack deadline of ids to d from now (0 nacks them).
func (fn *readFn) modifyAckDeadline(ctx context.Context, ids []string, d time.Duration) error {
	return acks.ModifyDeadline(ctx, fn.client, fn.Subscription, ids, d)
}
