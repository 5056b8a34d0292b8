// Package deploytest holds what the tests of the deploy engine and of its callers
// (rollout, rollback) share: a manual clock that the fakes' job transitions and the
// engine's waits both follow, so that waits are tested without sleeping.
package deploytest

import (
	"context"
	"sync"
	"time"
)

// Clock is a [deploy.Clock] that stands still until Sleep or Advance moves it: pass its
// Now to the fakes (fakedataflow.WithClock, fakemonitoring.WithClock) and the clock to
// the engine.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	onSleep func(now time.Time)
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock forward by d at once, then calls the OnSleep hook; it returns
// ctx's error when ctx has ended, before or during the hook.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	now, f := c.now, c.onSleep
	c.mu.Unlock()
	if f != nil {
		f(now)
	}
	return ctx.Err()
}

// Advance moves the clock forward by d without calling the hook.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// OnSleep sets a hook called after every Sleep with the new time (nil removes it): a
// test interrupts a deploy or rollout at a chosen point with it.
func (c *Clock) OnSleep(f func(now time.Time)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSleep = f
}
