package deploytest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/deploy/deploytest"
)

var _ deploy.Clock = (*deploytest.Clock)(nil)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := deploytest.NewClock(t0)
	var hooked []time.Time
	c.OnSleep(func(now time.Time) { hooked = append(hooked, now) })

	t.Run("sleep moves the clock at once and calls the hook", func(t *testing.T) {
		if err := c.Sleep(context.Background(), time.Minute); err != nil || !c.Now().Equal(t0.Add(time.Minute)) {
			t.Errorf("after Sleep(1m): %v, now %s", err, c.Now())
		}
		if len(hooked) != 1 || !hooked[0].Equal(t0.Add(time.Minute)) {
			t.Errorf("hook saw %v", hooked)
		}
	})
	t.Run("advance moves the clock without the hook", func(t *testing.T) {
		c.Advance(time.Hour)
		if !c.Now().Equal(t0.Add(61*time.Minute)) || len(hooked) != 1 {
			t.Errorf("now %s, hook saw %v", c.Now(), hooked)
		}
	})
	t.Run("a cancelled context neither sleeps nor moves the clock", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := c.Now()
		if err := c.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) || !c.Now().Equal(before) {
			t.Errorf("Sleep on a cancelled context: %v, moved %s", err, c.Now().Sub(before))
		}
	})
	t.Run("a hook that cancels ends the sleep with the context's error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		c.OnSleep(func(time.Time) { cancel() })
		if err := c.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep: %v, want context.Canceled", err)
		}
	})
}
