package pubsubread

import (
	"slices"
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	tr := newTracker(Restriction{AckIDs: []string{"old"}})
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
	// The checkpoint's residual carries the claimed ack ids.
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

func TestWatermark(t *testing.T) {
	fn := &readFn{WatermarkAllowance: 2 * time.Second}
	we := &watermarkEstimator{}
	old := time.Now().Add(-time.Hour)
	fn.advanceWatermark(we, 10, old) // messages: follow the oldest publish time
	if got := we.CurrentWatermark(); !got.Equal(old.Truncate(time.Millisecond)) {
		t.Errorf("after a pull watermark = %v, want %v", got, old)
	}
	fn.advanceWatermark(we, 10, old.Add(-time.Minute)) // never back
	if got := we.CurrentWatermark(); !got.Equal(old.Truncate(time.Millisecond)) {
		t.Errorf("watermark moved back to %v", got)
	}
	before := time.Now()
	fn.advanceWatermark(we, 0, time.Time{}) // drained: the clock minus the allowance
	if got := we.CurrentWatermark(); got.Before(before.Add(-2*time.Second-time.Millisecond)) || got.After(time.Now().Add(-2*time.Second)) {
		t.Errorf("after an empty pull watermark = %v, want about now-2s", got)
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
