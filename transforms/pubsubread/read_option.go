package pubsubread

import (
	"fmt"
	"time"
)

// Option configures Read.
type Option func(*options) error

// pollInterval is how long the reader waits after an empty pull.
const pollInterval = 200 * time.Millisecond

// watermarkAllowance is how far behind the clock the watermark stays when the subscription is
// drained: it covers the time between publishing and a message becoming visible to Pull, and
// the clock skew between the publishers' service and this host.
const watermarkAllowance = 2 * time.Second

type options struct {
	stopKey            string
	maxMessagesPerPull int
	pullConcurrency    int
	maxBundleSize      int
	maxBundleDuration  time.Duration
	maxLease           time.Duration
	ackOnCommit        bool
}

func defaultOptions() options {
	return options{
		maxMessagesPerPull: 1000,
		pullConcurrency:    2,
		maxBundleSize:      5000,
		maxBundleDuration:  500 * time.Millisecond,
		maxLease:           10 * time.Minute,
	}
}

// WithStopper lets s stop the reader gracefully (see Stopper).
func WithStopper(s *Stopper) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("nil Stopper")
		}
		o.stopKey = s.Key()
		return nil
	}
}

// WithMaxMessagesPerPull sets the most messages one Pull asks for (default 1000, at most 1000).
func WithMaxMessagesPerPull(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("max messages per pull %d, want 1..1000", n)
		}
		o.maxMessagesPerPull = n
		return nil
	}
}

// WithPullConcurrency sets how many Pull requests are in flight at once (default 2). Results
// are emitted in the order the pulls were issued.
func WithPullConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 16 {
			return fmt.Errorf("pull concurrency %d, want 1..16", n)
		}
		o.pullConcurrency = n
		return nil
	}
}

// WithMaxBundle bounds a bundle: the reader checkpoints once it emitted n messages or pulled
// for d (defaults 5000 and 500ms). Messages are acknowledged after their bundle is committed,
// so these bound the delay between a pull and its acknowledgement and the size of the
// restriction that carries the ack ids.
func WithMaxBundle(n int, d time.Duration) Option {
	return func(o *options) error {
		if n < 1 || d <= 0 {
			return fmt.Errorf("max bundle %d messages, %v: want both positive", n, d)
		}
		o.maxBundleSize, o.maxBundleDuration = n, d
		return nil
	}
}

// WithMaxLease bounds how long the reader keeps extending the ack deadline of a message that
// was emitted but whose bundle's commit has not been seen yet (default 10m). After that the
// message is left to expire and Pub/Sub redelivers it.
func WithMaxLease(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("max lease %v, want positive", d)
		}
		o.maxLease = d
		return nil
	}
}

// WithAckOnCommit makes the reader ack a message once the runner has committed the bundle that
// emitted it, instead of leaving the ack to the writer of its output (Message.AckID, see
// internal/acks). Use it only where the runner's commits are durable (its state survives the
// process): on Prism they are not, and a message acked on commit dies with the process.
func WithAckOnCommit() Option {
	return func(o *options) error {
		o.ackOnCommit = true
		return nil
	}
}
