package inflight

import (
	"context"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	ctx := context.Background()
	t.Run("room: no wait", func(t *testing.T) {
		g := New(10)
		defer g.Release()
		g.Enter(10)
		if For(g.Key()) != g {
			t.Fatal("For(Key) is not the gate")
		}
		if d := g.Wait(ctx); d > g.Poll {
			t.Errorf("waited %v with 10 of 10 in flight", d)
		}
	})
	t.Run("full: waits until enough have left", func(t *testing.T) {
		g := New(10)
		defer g.Release()
		g.Stall = time.Hour
		g.Enter(25)
		done := make(chan int64)
		go func() { g.Wait(ctx); done <- g.InFlight() }()
		for range 3 {
			select {
			case n := <-done:
				t.Fatalf("Wait returned with %d in flight", n)
			case <-time.After(5 * g.Poll):
			}
			g.Leave(5) // 20, 15, then 10: room
		}
		if n := <-done; n != 10 {
			t.Errorf("Wait returned with %d in flight, want 10", n)
		}
	})
	t.Run("stalled: reads on once nothing leaves", func(t *testing.T) {
		g := New(10)
		defer g.Release()
		g.Stall = 5 * g.Poll
		g.Enter(11)
		if d := g.Wait(ctx); d < g.Stall {
			t.Errorf("Wait returned after %v, before the stall of %v", d, g.Stall)
		}
	})
	t.Run("nil: nothing waits", func(t *testing.T) {
		var g *Gate
		g.Enter(1)
		g.Leave(1)
		if g.Wait(ctx) != 0 || g.InFlight() != 0 || For("none") != nil {
			t.Error("a nil gate counted or waited")
		}
	})
}
