package pubsubread

import (
	"fmt"
	"time"
)

// Restriction is the reader's restriction. A Pub/Sub subscription has no offsets to split, so
// the restriction carries instead what the next bundle must do first: acknowledge the messages
// emitted by the bundle that produced it. The runner commits a residual restriction atomically
// with the output of the bundle that returned it and only then schedules it, so a resumed
// restriction proves that the bundle which emitted those messages was committed.
type Restriction struct {
	// AckIDs are the ack ids of the messages emitted by the bundle that checkpointed into this
	// restriction, in the order they were emitted.
	AckIDs []string
	// Final makes the reader ack AckIDs and finish without pulling: a drained (truncated)
	// restriction.
	Final bool
}

// stopClaim, claimed, finishes the restriction: the reader will not pull again.
type stopClaim struct{}

// tracker claims the ack ids of the messages a bundle emits. Its only split is the
// self-checkpoint at fraction 0, whose residual carries the claimed ack ids. Splits at other
// fractions are declined: Prism hands such residuals back for scheduling at once, before the
// bundle that produced them is committed, so acking on their resumption would be early.
type tracker struct {
	rest    Restriction
	claimed []string // kept only when carry
	n       int      // ack ids claimed
	carry   bool     // the residual carries the claimed ack ids (AckOnCommit)
	done    bool
	err     error
}

func newTracker(rest Restriction) *tracker { return &tracker{rest: rest} }

// TryClaim claims an ack id (a string) or, given stopClaim{}, finishes the restriction and
// returns false. It returns false once the restriction was split or finished.
func (t *tracker) TryClaim(pos any) bool {
	if t.done {
		return false
	}
	switch p := pos.(type) {
	case string:
		t.n++
		if t.carry {
			t.claimed = append(t.claimed, p)
		}
		return true
	case stopClaim:
		t.done = true
		return false
	default:
		t.err = fmt.Errorf("pubsubread: claim of %T, want an ack id (string)", pos)
		return false
	}
}

func (t *tracker) GetError() error { return t.err }

// TrySplit checkpoints at fraction 0 and declines every other split (see tracker).
func (t *tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.done || fraction > 0 {
		return t.rest, nil, nil
	}
	t.done = true
	var claimed []string
	if t.carry {
		claimed = append(claimed, t.claimed...)
	}
	return t.rest, Restriction{AckIDs: claimed}, nil
}

func (t *tracker) GetProgress() (done, remaining float64) {
	if t.done {
		return float64(t.n), 0
	}
	return float64(t.n), 1
}

func (t *tracker) IsDone() bool         { return t.done }
func (t *tracker) GetRestriction() any  { return t.rest }
func (t *tracker) IsBounded() bool      { return false }
func (t *tracker) claimedIDs() []string { return t.claimed }

// watermarkEstimator is a manual estimator: the reader moves it after every pull (see
// readFn.advanceWatermark). It deliberately has no ObserveTimestamp method, which would make
// the SDK move it to every emitted timestamp; Pub/Sub delivers out of publish order.
type watermarkEstimator struct {
	state int64 // Unix milliseconds
}

func (e *watermarkEstimator) CurrentWatermark() time.Time { return time.UnixMilli(e.state) }

// advance moves the watermark to t if t is later; it never moves back.
func (e *watermarkEstimator) advance(t time.Time) {
	if ms := t.UnixMilli(); ms > e.state {
		e.state = ms
	}
}
