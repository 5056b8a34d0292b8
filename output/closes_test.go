package output

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// diskStore serves Store on local disk with the os package alone, so that the package's
// test binary stays small enough to fuzz in seconds (internal/objstore links the Cloud
// Storage client).
type diskStore struct{}

func (diskStore) Exists(_ context.Context, path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (diskStore) Read(_ context.Context, path string) ([]byte, error) { return os.ReadFile(path) }

func (diskStore) Write(_ context.Context, path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// closeBucket writes the manifest of bucket start as run id closed it.
func closeBucket(t *testing.T, st diskStore, tg Target, start int64, runID string) {
	t.Helper()
	b, err := json.Marshal(Manifest{EventType: tg.EventType, RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(context.Background(), tg.ManifestPath(start), b); err != nil {
		t.Fatal(err)
	}
}

// localTarget returns a target of run-2 with buckets of width, on local disk.
func localTarget(t *testing.T, width time.Duration) (Target, diskStore) {
	t.Helper()
	return Target{Root: t.TempDir(), EventType: "play-track", Layout: Layout{Width: width}, RunID: "run-2"}, diskStore{}
}

func TestCloses(t *testing.T) {
	ctx := context.Background()
	tg, st := localTarget(t, time.Hour)
	tg.Rerun = true
	h := time.Hour.Milliseconds()
	c := NewCloses(tg, st)

	if to, moved, ok, err := c.Resolve(ctx, 0); err != nil || to != 0 || moved || !ok {
		t.Fatalf("open bucket: Resolve = %d, %v, %v, %v; want 0, false, true", to, moved, ok, err)
	}
	closeBucket(t, st, tg, 0, "run-1")
	if s, _ := c.Status(ctx, 0); s != Open {
		t.Errorf("before ForgetOpen, a bucket seen open is believed open: got %v", s)
	}
	c.ForgetOpen()
	if to, moved, ok, err := c.Resolve(ctx, 0); err != nil || to != h || !moved || !ok {
		t.Errorf("closed by another run: Resolve = %d, %v, %v, %v; want %d, true, true", to, moved, ok, err, h)
	}
	closeBucket(t, st, tg, h, "run-2")
	c.ForgetOpen()
	if _, _, ok, err := c.Resolve(ctx, h); err != nil || ok {
		t.Errorf("closed by this run: Resolve ok = %v, %v; want false (already delivered)", ok, err)
	}
	if to, moved, ok, err := c.Resolve(ctx, 0); err != nil || to != 2*h || !moved || !ok {
		t.Errorf("two closed buckets: Resolve = %d, %v, %v, %v; want %d, true, true", to, moved, ok, err, 2*h)
	}

	// A live job (no rerun) moves what comes late for a bucket it closed itself.
	tg.Rerun = false
	live := NewCloses(tg, st)
	if to, moved, ok, err := live.Resolve(ctx, h); err != nil || to != 2*h || !moved || !ok {
		t.Errorf("live, closed by this run: Resolve = %d, %v, %v, %v; want %d, true, true", to, moved, ok, err, 2*h)
	}
}

// Route says where a writer puts a pane: its own bucket and pane while open, the next open
// bucket under a moved pane when another job closed it, nothing when this replay closed it
// or the next open bucket is outside a backfill's range.
func TestRoute(t *testing.T) {
	ctx := context.Background()
	tg, st := localTarget(t, time.Hour)
	tg.Rerun = true
	h := time.Hour.Milliseconds()
	closeBucket(t, st, tg, h, "run-1")
	closeBucket(t, st, tg, 2*h, "run-2")
	for _, tc := range []struct {
		name   string
		rng    Range
		placed int64
		want   Route
	}{
		{"open", Range{}, 0, Route{Bucket: 0, Pane: 3}},
		{"closed by another run", Range{}, h, Route{Bucket: 3 * h, Pane: tg.Layout.MovedPane(h, 3*h, 3), Moved: true}},
		{"closed by this replay", Range{}, 2 * h, Route{Already: true}},
		{"moved out of a backfill's range", Range{From: 0, To: 3 * h}, h, Route{Bucket: 3 * h, Moved: true, Outside: true}},
	} {
		tg := tg
		tg.Range = tc.rng
		got, err := NewCloses(tg, st).Route(ctx, tc.placed, 3)
		if err != nil || got != tc.want {
			t.Errorf("%s: Route = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
		if got.Write() != (!tc.want.Already && !tc.want.Outside) {
			t.Errorf("%s: Write = %v", tc.name, got.Write())
		}
	}
}

// A job that runs for months keeps no more than Remember closed buckets, and still answers
// right for one it forgot.
func TestClosesRemembersTheNewest(t *testing.T) {
	ctx := context.Background()
	tg, st := localTarget(t, time.Second)
	s := time.Second.Milliseconds()
	c := NewCloses(tg, st)
	n := int64(Remember + 50)
	for b := range n {
		closeBucket(t, st, tg, b*s, "run-1")
		if got, err := c.Status(ctx, b*s); err != nil || got != ClosedByOther {
			t.Fatalf("bucket %d: Status = %v, %v; want closed by another run", b, got, err)
		}
	}
	if len(c.closed) != Remember {
		t.Errorf("remembers %d closed buckets, want %d", len(c.closed), Remember)
	}
	if _, ok := c.closed[0]; ok {
		t.Error("still remembers the oldest bucket")
	}
	if _, ok := c.closed[(n-1)*s]; !ok {
		t.Error("forgot the newest bucket")
	}
	if got, err := c.Status(ctx, 0); err != nil || got != ClosedByOther {
		t.Errorf("a forgotten bucket: Status = %v, %v; want closed by another run", got, err)
	}

	// Buckets seen open are forgotten once OpenFor has passed.
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c.OpenFor, c.Now = time.Minute, func() time.Time { return now }
	c.open[-s] = now.Add(-2 * time.Minute)
	if got, err := c.Status(ctx, n*s); err != nil || got != Open {
		t.Fatalf("Status = %v, %v; want open", got, err)
	}
	if _, ok := c.open[-s]; ok || len(c.open) != 1 {
		t.Errorf("open buckets remembered: %v, want only the one just seen", c.open)
	}
}

// A bucket seen open is believed open for OpenFor: closed by another job meanwhile, it is
// seen closed once OpenFor has passed since it was seen, not before.
func TestClosesAsksAgainAfterOpenFor(t *testing.T) {
	ctx := context.Background()
	tg, st := localTarget(t, time.Hour)
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c := NewCloses(tg, st)
	c.OpenFor, c.Now = time.Minute, func() time.Time { return now }
	h := time.Hour.Milliseconds()
	for _, step := range []struct {
		name  string
		after time.Duration
		close bool
		want  Status
	}{
		{"seen open", 0, false, Open},
		{"closed by another job, within OpenFor", 59 * time.Second, true, Open},
		{"OpenFor has passed", 61 * time.Second, false, ClosedByOther},
	} {
		if step.close {
			closeBucket(t, st, tg, h, "run-1")
		}
		now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).Add(step.after)
		if got, err := c.Status(ctx, h); err != nil || got != step.want {
			t.Errorf("%s: Status = %v, %v; want %v", step.name, got, err, step.want)
		}
	}
}
