package pubsubread

import (
	"slices"
	"testing"
)

func TestTracker(t *testing.T) {
	tr := newTracker(Restriction{AckIDs: []string{"old"}})
	tr.carry = true
	if !tr.TryClaim("a") || !tr.TryClaim("b") {
		t.Fatal("claims failed")
	}
	// The runner's dynamic splits are declined.
	if p, r, err := tr.TrySplit(0.5); err != nil || r != nil || !slices.Equal(p.(Restriction).AckIDs, []string{"old"}) {
		t.Errorf("TrySplit(0.5) = %v, %v, %v; want the restriction unchanged, no residual", p, r, err)
	}
	if tr.IsDone() {
		t.Fatal("done after a declined split")
	}
	// With AckOnCommit the checkpoint's residual carries the claimed ack ids.
	_, r, err := tr.TrySplit(0)
	if err != nil || !slices.Equal(r.(Restriction).AckIDs, []string{"a", "b"}) {
		t.Fatalf("TrySplit(0) residual = %v, %v; want ack ids a, b", r, err)
	}
	if !tr.IsDone() || tr.TryClaim("c") {
		t.Error("tracker still claims after the checkpoint")
	}
	if _, r, _ := tr.TrySplit(0); r != nil {
		t.Errorf("second checkpoint residual = %v, want none", r)
	}

	tr = newTracker(Restriction{})
	if tr.TryClaim(stopClaim{}) || !tr.IsDone() || tr.GetError() != nil {
		t.Error("stop claim did not finish the tracker cleanly")
	}
	tr = newTracker(Restriction{})
	if tr.TryClaim(42) || tr.GetError() == nil {
		t.Error("claim of an int did not fail")
	}
}

func TestProjectOf(t *testing.T) {
	if p, err := projectOf("projects/p1/subscriptions/s"); err != nil || p != "p1" {
		t.Errorf("projectOf = %q, %v", p, err)
	}
	for _, bad := range []string{"s", "projects/p/topics/t", "projects//subscriptions/s", "projects/p/subscriptions/"} {
		if _, err := projectOf(bad); err == nil {
			t.Errorf("projectOf(%q) accepted", bad)
		}
	}
}

// Without AckOnCommit the writers of the output ack: the residual carries no ack ids.
func TestTrackerLeavesAcksToTheOutput(t *testing.T) {
	tr := newTracker(Restriction{})
	tr.TryClaim("a")
	if _, r, err := tr.TrySplit(0); err != nil || len(r.(Restriction).AckIDs) != 0 {
		t.Fatalf("TrySplit(0) residual = %v, %v; want no ack ids", r, err)
	}
}
