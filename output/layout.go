package output

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Layout is the time geometry of an event type's buckets: their width, the skew tolerance
// that delays their close, and how far in the future a bucket time may be.
type Layout struct {
	Width     time.Duration // W: one hour in production; it divides a day
	Skew      time.Duration // L: how long a bucket stays open after it ends
	MaxFuture time.Duration // bucket times further than this after publish are a wrong clock
}

// Validate reports a layout the pipeline cannot run with.
func (l Layout) Validate() error {
	switch {
	case l.Width < time.Second:
		return fmt.Errorf("bucket width %v: must be one second at least", l.Width)
	case l.Width%time.Second != 0 || (24*time.Hour)%l.Width != 0:
		return fmt.Errorf("bucket width %v: must divide a day in whole seconds", l.Width)
	case l.Skew < 0 || l.Skew%time.Millisecond != 0:
		return fmt.Errorf("skew tolerance %v: must be zero or more, in whole milliseconds", l.Skew)
	case l.MaxFuture < 0:
		return fmt.Errorf("max future %v: must be zero or more", l.MaxFuture)
	}
	return nil
}

func (l Layout) widthMs() int64 { return l.Width.Milliseconds() }

// Start returns the start of the bucket holding time t (Unix ms).
func (l Layout) Start(t int64) int64 {
	w := l.widthMs()
	s := t - t%w
	if t%w < 0 {
		s -= w
	}
	return s
}

// CloseTime returns C(H) = H + W + L: the time after which bucket H may be closed.
func (l Layout) CloseTime(start int64) int64 {
	return start + l.widthMs() + l.Skew.Milliseconds()
}

// Stamp returns the event time (Unix ms) of every element of bucket H in the pipeline:
// C(H) − 1ms, so that the window holding the bucket ends exactly at its close time.
func (l Layout) Stamp(start int64) int64 {
	return l.CloseTime(start) - 1
}

// WindowSize returns the size of the fixed windows the buckets are carried in: gcd(W, L),
// or W when L is zero. Every close time is a multiple of it.
func (l Layout) WindowSize() time.Duration {
	a, b := l.Width, l.Skew
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// FromWindowEnd returns the bucket whose elements are in the window ending at end (Unix ms).
func (l Layout) FromWindowEnd(end int64) int64 {
	return end - l.widthMs() - l.Skew.Milliseconds()
}

// Place returns the bucket of an event with bucket time t published at p, and whether it
// was moved there because it came too late or from a clock too far ahead (a skewed event).
func (l Layout) Place(t, p int64) (start int64, skewed bool) {
	if t+l.Skew.Milliseconds() < p || t-p > l.MaxFuture.Milliseconds() {
		return l.Start(p - l.Skew.Milliseconds()), true
	}
	return l.Start(t), false
}

// NotBefore returns the first bucket whose stamp is at or after ts (Unix ms): an element with
// timestamp ts may only go to such a bucket, or it would become late data.
func (l Layout) NotBefore(ts int64) int64 {
	x := ts - l.widthMs() - l.Skew.Milliseconds() + 1
	h := l.Start(x)
	if h < x {
		h = l.Next(h)
	}
	return h
}

// MaxLookbackBuckets bounds how many buckets a lookback inspects, whatever the bucket width.
const MaxLookbackBuckets = 1000

// LookbackFrom returns the oldest bucket a lookback of span before now (Unix ms) inspects:
// the bucket of now − span, or MaxLookbackBuckets before the bucket of now if that is later.
// The pipeline (closing what a predecessor left open) and the launcher (finding the last
// closed bucket) look back the same way.
func (l Layout) LookbackFrom(now int64, span time.Duration) int64 {
	return max(l.Start(now-span.Milliseconds()), l.Start(now)-MaxLookbackBuckets*l.widthMs())
}

// Next returns the bucket after start.
func (l Layout) Next(start int64) int64 { return start + l.widthMs() }

// Dir returns the folder of bucket start under root: root/YYYY/MM/DD/HH, with a further
// mm level when buckets are shorter than an hour and ss when shorter than a minute.
func (l Layout) Dir(root string, start int64) string {
	t := time.UnixMilli(start).UTC()
	parts := []string{t.Format("2006"), t.Format("01"), t.Format("02"), t.Format("15")}
	if l.Width < time.Hour {
		parts = append(parts, t.Format("04"))
	}
	if l.Width < time.Minute {
		parts = append(parts, t.Format("05"))
	}
	return Join(root, path.Join(parts...))
}

// Join joins a root that may be a URL (gs://b/x) or a local path with a relative path.
func Join(root, rel string) string {
	return strings.TrimSuffix(root, "/") + "/" + strings.TrimPrefix(rel, "/")
}

// Format returns the bucket start as RFC3339 in UTC.
func Format(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
