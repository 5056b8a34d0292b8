package acks

import (
	"slices"
	"testing"
	"time"
)

// TestDue: a held message is extended whenever its deadline nears, until it has been held
// for maxLease; then it is given up, for Pub/Sub to redeliver. One acked (released) is never
// extended again.
func TestDue(t *testing.T) {
	const sub = "projects/p/subscriptions/due"
	const deadline, soon, maxLease = 60 * time.Second, 5 * time.Second, 3 * time.Minute
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	Hold(sub, []string{"a", "b", "c"}, t0, deadline)
	Release(sub, []string{"c"})
	defer Release(sub, []string{"a", "b"})

	for _, step := range []struct {
		name string
		at   time.Duration // after t0
		want []string
		held int
	}{
		{"deadline far off: nothing due", 30 * time.Second, nil, 2},
		{"deadline within soon: both extended", 56 * time.Second, []string{"a", "b"}, 2},
		{"just extended: nothing due", 60 * time.Second, nil, 2},
		{"the extension nears its end", 112 * time.Second, []string{"a", "b"}, 2},
		{"held longer than maxLease: given up", 3*time.Minute + 50*time.Second, nil, 0},
	} {
		got := Due(sub, t0.Add(step.at), soon, deadline, maxLease)
		slices.Sort(got)
		if !slices.Equal(got, step.want) {
			t.Errorf("%s: due %v, want %v", step.name, got, step.want)
		}
		if n := Held(sub); n != step.held {
			t.Errorf("%s: %d held, want %d", step.name, n, step.held)
		}
	}
}
