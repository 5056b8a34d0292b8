package hours_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/output"
)

// fakeClock moves time forward by what is slept, and runs onSleep after each sleep.
type fakeClock struct {
	now     time.Time
	slept   []time.Duration
	onSleep func(n int)
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	if c.onSleep != nil {
		c.onSleep(len(c.slept))
	}
	return ctx.Err()
}

func TestWait(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		ctx := context.Background()
		tr := hourstest.New(t, f.Jobs()[0].OutputTarget())
		h := hourstest.At("2026-12-01T10:00:00Z")

		// The manifest appears after the third look.
		clock := &fakeClock{now: hourstest.When("2026-12-01T11:30:00Z")}
		clock.onSleep = func(n int) {
			if n == 2 {
				tr.Close(h, clock.now, output.Manifest{}, []output.File{tr.File(h, "part-run-1-0-0.avro", 3)}, nil)
			}
		}
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		m, err := hours.Wait(ctx, tr.Store, tr.Target, h, hours.WaitOptions{Timeout: time.Hour, Poll: time.Minute, Clock: clock, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if m.BucketStart != "2026-12-01T10:00:00Z" || m.Records != 3 || m.ClosedAt != "2026-12-01T11:32:00Z" {
			t.Errorf("manifest %+v", m)
		}
		if want := []time.Duration{time.Minute, time.Minute}; !reflect.DeepEqual(clock.slept, want) {
			t.Errorf("slept %v, want %v", clock.slept, want)
		}
		if n := strings.Count(logs.String(), `msg="not closed yet" event_type=type-000 hour=2026-12-01T10:00:00Z next_look_in=1m0s`); n != 2 {
			t.Errorf("logged %d looks at an open hour, want 2:\n%s", n, logs.String())
		}

		// An open hour: looks until the timeout, never sleeping past it.
		open := tr.Target.Layout.Next(h)
		clock = &fakeClock{now: hourstest.When("2026-12-01T11:30:00Z")}
		_, err = hours.Wait(ctx, tr.Store, tr.Target, open, hours.WaitOptions{Timeout: 150 * time.Second, Poll: time.Minute, Clock: clock})
		if !errors.Is(err, hours.ErrNotClosed) || !strings.Contains(err.Error(), "type-000 2026-12-01T11:00:00Z: not closed after 2m30s") {
			t.Errorf("open hour: %v, want not closed after 2m30s", err)
		}
		if want := []time.Duration{time.Minute, time.Minute, 30 * time.Second}; !reflect.DeepEqual(clock.slept, want) {
			t.Errorf("slept %v, want %v", clock.slept, want)
		}

		// Timeout 0 looks once.
		clock = &fakeClock{now: hourstest.When("2026-12-01T11:30:00Z")}
		if _, err := hours.Wait(ctx, tr.Store, tr.Target, open, hours.WaitOptions{Clock: clock}); !errors.Is(err, hours.ErrNotClosed) || len(clock.slept) != 0 {
			t.Errorf("timeout 0: %v after %d sleeps; want not closed, no sleep", err, len(clock.slept))
		}
		if m, err := hours.Wait(ctx, tr.Store, tr.Target, h, hours.WaitOptions{Clock: clock}); err != nil || m == nil {
			t.Errorf("timeout 0 on a closed hour: %v, %v", m, err)
		}

		// Cancelled while waiting.
		cctx, cancel := context.WithCancel(ctx)
		clock = &fakeClock{now: hourstest.When("2026-12-01T11:30:00Z"), onSleep: func(int) { cancel() }}
		if _, err := hours.Wait(cctx, tr.Store, tr.Target, open, hours.WaitOptions{Timeout: time.Hour, Clock: clock}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	})
}

func TestParseHour(t *testing.T) {
	hourly := output.Layout{Width: time.Hour}
	for _, tc := range []struct {
		in   string
		l    output.Layout
		want string // RFC3339, or the error's text
	}{
		{"2026-12-01T10:00:00Z", hourly, "2026-12-01T10:00:00Z"},
		{"2026-12-01T10", hourly, "2026-12-01T10:00:00Z"},
		{"2026-12-01T11:00:00+01:00", hourly, "2026-12-01T10:00:00Z"},
		{"2026-12-01T10:15:00Z", output.Layout{Width: 15 * time.Minute}, "2026-12-01T10:15:00Z"},
		{"2026-12-01T10:30:00Z", hourly, `hour "2026-12-01T10:30:00Z": not the start of a 1h0m0s bucket (2026-12-01T10:00:00Z is)`},
		{"yesterday", hourly, `hour "yesterday": want RFC3339 (2026-12-01T10:00:00Z) or 2026-12-01T10`},
	} {
		ms, err := hours.ParseHour(tc.in, tc.l)
		got := output.Format(ms)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ParseHour(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// Manifests reads a span's manifests in bucket order, nil where a bucket has none; an
// empty span reads nothing.
func TestManifests(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		ctx := context.Background()
		tr := hourstest.New(t, f.Jobs()[0].OutputTarget())
		h := hourstest.At("2026-12-01T10:00:00Z")
		w := time.Hour.Milliseconds()
		tr.Close(h, hourstest.When("2026-12-01T11:40:00Z"), output.Manifest{RunID: "run-a"}, []output.File{tr.File(h, "part-run-a-0-0.avro", 2)}, nil)
		tr.Close(h+2*w, hourstest.When("2026-12-01T13:40:00Z"), output.Manifest{RunID: "run-b"}, []output.File{tr.File(h+2*w, "part-run-b-0-0.avro", 5)}, nil)
		ms, err := hours.Manifests(ctx, tr.Store, tr.Target, h-w, h+3*w, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			if m == nil {
				got = append(got, "-")
				continue
			}
			got = append(got, m.BucketStart+" "+m.RunID)
		}
		if want := []string{"-", "2026-12-01T10:00:00Z run-a", "-", "2026-12-01T12:00:00Z run-b"}; !reflect.DeepEqual(got, want) {
			t.Errorf("manifests %q, want %q", got, want)
		}
		if ms, err := hours.Manifests(ctx, tr.Store, tr.Target, h, h, 2); err != nil || len(ms) != 0 {
			t.Errorf("empty span: %v %v", ms, err)
		}
	})
}
