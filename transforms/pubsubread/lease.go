package pubsubread

import (
	"context"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// Leases of emitted messages whose bundle's commit has not been seen yet. A reader registers
// the ack ids of a checkpointed bundle here and the reader that resumes the residual (in this
// process, normally the same instance) removes them when it acks them. Until then the owner's
// keeper extends their ack deadline, for at most maxLease after they were pulled, so that a
// slow resumption does not make Pub/Sub redeliver messages that are about to be acked. The
// registry holds plain data; each reader uses its own client.
type lease struct {
	owner   *readFn
	ids     []string
	pulled  time.Time
	expires time.Time
}

var leaseReg = struct {
	sync.Mutex
	m map[string]*lease // by the first ack id of the batch
}{m: map[string]*lease{}}

func addLease(owner *readFn, ids []string, pulled time.Time, deadline time.Duration) {
	if len(ids) == 0 {
		return
	}
	leaseReg.Lock()
	defer leaseReg.Unlock()
	leaseReg.m[ids[0]] = &lease{owner: owner, ids: ids, pulled: pulled, expires: pulled.Add(deadline)}
}

func dropLease(ids []string) {
	if len(ids) == 0 {
		return
	}
	leaseReg.Lock()
	defer leaseReg.Unlock()
	delete(leaseReg.m, ids[0])
}

func dropOwnedLeases(owner *readFn) {
	leaseReg.Lock()
	defer leaseReg.Unlock()
	for k, l := range leaseReg.m {
		if l.owner == owner {
			delete(leaseReg.m, k)
		}
	}
}

// dueLeases returns the ack ids of owner's leases that expire before soon and marks them as
// extended by deadline; leases held longer than maxLease are given up.
func dueLeases(owner *readFn, now time.Time, soon, deadline, maxLease time.Duration) []string {
	leaseReg.Lock()
	defer leaseReg.Unlock()
	var ids []string
	for k, l := range leaseReg.m {
		if l.owner != owner || l.expires.Sub(now) > soon {
			continue
		}
		if now.Sub(l.pulled) > maxLease {
			delete(leaseReg.m, k)
			continue
		}
		l.expires = now.Add(deadline)
		ids = append(ids, l.ids...)
	}
	return ids
}

// keepLeases extends the deadlines of fn's leases until ctx is done.
func (fn *readFn) keepLeases(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	soon := min(5*time.Second, fn.ackDeadline/2)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			ids := dueLeases(fn, now, soon, fn.ackDeadline, fn.MaxLease)
			if len(ids) == 0 {
				continue
			}
			if err := fn.modifyAckDeadline(ctx, ids, fn.ackDeadline); err != nil {
				log.Warnf(ctx, "pubsubread: extending the ack deadline of %d messages of %s: %v", len(ids), fn.Subscription, err)
			}
		}
	}
}

// modifyAckDeadline sets the ack deadline of ids to d from now (0 nacks them).
func (fn *readFn) modifyAckDeadline(ctx context.Context, ids []string, d time.Duration) error {
	for len(ids) > 0 {
		n := min(len(ids), ackChunk)
		err := fn.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription:       fn.Subscription,
			AckIds:             ids[:n],
			AckDeadlineSeconds: int32(d / time.Second),
		})
		if err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}
