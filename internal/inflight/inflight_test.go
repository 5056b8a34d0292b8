package inflight

import (
	"context"
	"fmt"
	"math/rand/v2"
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

func TestIDs(t *testing.T) {
	g := New(0)
	defer g.Release()
	s := g.Seen(1, 0)
	for _, c := range []struct {
		id   string
		pane int64
		want bool
	}{
		{"a", 3, true},
		{"a", 3, true},  // the same pane again: a retried bundle keeps it
		{"a", 5, false}, // another pane: a copy
		{"a", 2, false}, // an earlier one too: the first to claim it wrote it
		{"b", 4, true},
	} {
		if got := s.Claim(c.id, c.pane); got != c.want {
			t.Errorf("Claim(%s, %d) = %v; want %v", c.id, c.pane, got, c.want)
		}
	}
	if g.Seen(1, 0) != s || g.Seen(1, 1) == s || g.SeenDeadLetters(1, 0) == s {
		t.Error("a bucket's shard does not have one set of event ids of its own")
	}
	g.SeenDeadLetters(1, 0).Claim("m1", 0)
	g.Seen(2, 0).Claim("c", 0)
	g.Forget(1)
	if g.Seen(1, 0).Len() != 0 || g.SeenDeadLetters(1, 0).Len() != 0 {
		t.Error("Forget(1) kept bucket 1's ids")
	}
	if g.Seen(2, 0).Len() != 1 {
		t.Error("Forget(1) dropped bucket 2's ids")
	}
	var none *Gate
	if !none.Seen(1, 0).Claim("a", 0) || !none.Seen(1, 0).Claim("a", 1) || none.Seen(1, 0).Len() != 0 {
		t.Error("a nil gate's set holds an id")
	}
}

// IDs answers as a map of id to first pane does, through many growths of its table.
func TestIDsAgainstAMap(t *testing.T) {
	g := New(0)
	defer g.Release()
	s := g.Seen(1, 0)
	want := map[string]int64{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		id := fmt.Sprintf("ev-%d", r.IntN(120_000))
		pane := int64(r.IntN(4))
		if i%7 == 0 {
			pane = 500_000 + pane // a late pane
		}
		first, seen := want[id]
		if !seen {
			want[id], first = pane, pane
		}
		if got := s.Claim(id, pane); got != (first == pane) {
			t.Fatalf("claim %d: Claim(%s, %d) = %v; the first pane is %d", i, id, pane, got, first)
		}
	}
	if s.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(want))
	}
}
