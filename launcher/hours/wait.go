package hours

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventdelivery/eventdelivery/output"
)

// Clock is the time Wait polls with (launcher/rollout's RealClock is the wall clock).
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// ErrNotClosed is returned by Wait when the bucket is still open at the timeout.
var ErrNotClosed = errors.New("not closed")

// WaitOptions say how long and how often Wait looks for the manifest.
type WaitOptions struct {
	// Timeout is how long Wait waits; 0 looks once (a sensor in reschedule mode).
	Timeout time.Duration
	// Poll is the time between two looks (default 1m).
	Poll  time.Duration
	Clock Clock
	// Logger, when set, is told of every look that found the bucket open.
	Logger *slog.Logger
}

// Wait returns the manifest of bucket start once it is written: it looks for it every
// opts.Poll, and returns an error wrapping ErrNotClosed when opts.Timeout has passed
// without it. It never sleeps past the timeout.
func Wait(ctx context.Context, st output.Store, t output.Target, start int64, opts WaitOptions) (*output.Manifest, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Minute
	}
	deadline := opts.Clock.Now().Add(opts.Timeout)
	for {
		m, err := t.ReadManifest(ctx, st, start)
		if err != nil {
			return nil, fmt.Errorf("wait for %s %s: %w", t.EventType, output.Format(start), err)
		}
		if m != nil {
			return m, nil
		}
		left := deadline.Sub(opts.Clock.Now())
		if left <= 0 {
			return nil, fmt.Errorf("%s %s: %w after %s (no %s)", t.EventType, output.Format(start), ErrNotClosed, opts.Timeout, t.ManifestPath(start))
		}
		if opts.Logger != nil {
			opts.Logger.Debug("not closed yet", "event_type", t.EventType, "hour", output.Format(start), "next_look_in", min(opts.Poll, left))
		}
		if err := opts.Clock.Sleep(ctx, min(opts.Poll, left)); err != nil {
			return nil, fmt.Errorf("wait for %s %s: %w", t.EventType, output.Format(start), err)
		}
	}
}

// ParseHour reads the start of a bucket of l: RFC3339 (2026-12-01T10:00:00Z, any offset)
// or its hour alone (2026-12-01T10, UTC). It must be a bucket's start.
func ParseHour(s string, l output.Layout) (int64, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15", s); err2 != nil {
			return 0, fmt.Errorf("hour %q: want RFC3339 (2026-12-01T10:00:00Z) or 2026-12-01T10", s)
		}
	}
	ms := t.UnixMilli()
	if start := l.Start(ms); start != ms {
		return 0, fmt.Errorf("hour %q: not the start of a %s bucket (%s is)", s, l.Width, output.Format(start))
	}
	return ms, nil
}
