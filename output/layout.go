package output

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Layout is the geometry of an event type's buckets: their width, the skew tolerance that
// delays their close, how far in the future a bucket time may be, and how their folders are
// named.
type Layout struct {
	Width     time.Duration // W: one hour in production; it divides a day
	Skew      time.Duration // L: how long a bucket stays open after it ends
	MaxFuture time.Duration // bucket times further than this after publish are a wrong clock
	Paths     Paths         // how bucket folders are named; "" is DatePaths
}

// Paths is how bucket folders are named under an event type's folder.
type Paths string

const (
	// DatePaths names a bucket YYYY/MM/DD/HH (then mm, ss): the default.
	DatePaths Paths = "date"
	// HivePaths names a bucket dt=YYYY-MM-DD/hour=HH (then minute=mm, second=ss), the
	// key=value folders that BigQuery's hive partitioning, Spark and Hive discover as
	// partition columns.
	HivePaths Paths = "hive"
)

// ParsePaths returns the Paths named s ("" is the default, DatePaths).
func ParsePaths(s string) (Paths, error) {
	switch p := Paths(s); p {
	case "", DatePaths:
		return DatePaths, nil
	case HivePaths:
		return p, nil
	}
	return "", fmt.Errorf("layout %q: want %s or %s", s, DatePaths, HivePaths)
}

// Name returns the name of the folder naming l uses, as the manifest records it.
func (l Layout) Name() Paths {
	if l.Paths == "" {
		return DatePaths
	}
	return l.Paths
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
	if _, err := ParsePaths(string(l.Paths)); err != nil {
		return err
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

// Lookback returns the buckets a lookback of span before now (Unix ms) inspects: from
// LookbackFrom to the bucket of now, included.
func (l Layout) Lookback(now int64, span time.Duration) Range {
	return Range{From: l.LookbackFrom(now, span), To: l.Next(l.Start(now))}
}

// MovedPane is the pane under which a pane of bucket from is written into bucket to, when
// another job closed from between placement and write: apart from to's own panes (below
// movedPanes) and from the panes moved from any other bucket, so that no file of to
// overwrites another.
func (l Layout) MovedPane(from, to, pane int64) int64 {
	return (to-from)/l.widthMs()*movedPanes + pane
}

// movedPanes bounds a bucket's own pane numbers.
const movedPanes = 1_000_000

// LatePane is the pane number under which pane index of a bucket's late events (those
// grouped apart from its on-time ones: bucket.AssignEarly) is written: apart from the
// on-time panes, numbered from 0, so that no file of the bucket overwrites another.
func LatePane(index int64) int64 { return latePanes + index }

// latePanes is where late panes start among a bucket's own pane numbers (below movedPanes).
const latePanes = movedPanes / 2

// End returns the end of bucket start: start + W. An event published before it is on time.
func (l Layout) End(start int64) int64 { return start + l.widthMs() }

// Next returns the bucket after start.
func (l Layout) Next(start int64) int64 { return start + l.widthMs() }

// Dir returns the folder of bucket start under root: root/YYYY/MM/DD/HH, or
// root/dt=YYYY-MM-DD/hour=HH with HivePaths, with a further minute level when buckets are
// shorter than an hour and a second level when shorter than a minute.
func (l Layout) Dir(root string, start int64) string {
	return Join(root, l.RelDir(start))
}

// RelDir returns the folder of bucket start relative to the event type's folder, e.g.
// 2026/11/20/10 or dt=2026-11-20/hour=10.
func (l Layout) RelDir(start int64) string {
	t := time.UnixMilli(start).UTC()
	var parts []string
	for _, lv := range l.levels() {
		parts = append(parts, lv.key+t.Format(lv.format))
	}
	return path.Join(parts...)
}

// level is one folder level of a bucket's path: a key (hive's "dt=", empty for DatePaths)
// and the time format of its value.
type level struct{ key, format string }

// levels returns the folder levels of l's buckets, outermost first.
func (l Layout) levels() []level {
	var lv []level
	if l.Name() == HivePaths {
		lv = []level{{"dt=", "2006-01-02"}, {"hour=", "15"}, {"minute=", "04"}, {"second=", "05"}}
	} else {
		lv = []level{{"", "2006"}, {"", "01"}, {"", "02"}, {"", "15"}, {"", "04"}, {"", "05"}}
	}
	n := len(lv) - 2
	if l.Width < time.Hour {
		n++
	}
	if l.Width < time.Minute {
		n++
	}
	return lv[:n]
}

// ParseDir returns the start of the bucket whose folder, relative to the event type's
// folder, is rel: the inverse of RelDir. A folder that is not one of l's buckets is an error.
func (l Layout) ParseDir(rel string) (int64, error) {
	lv := l.levels()
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	if len(parts) != len(lv) {
		return 0, fmt.Errorf("bucket folder %q: want %d levels of the %s layout", rel, len(lv), l.Name())
	}
	var keys, formats []string
	for i, p := range parts {
		v, ok := strings.CutPrefix(p, lv[i].key)
		if !ok {
			return 0, fmt.Errorf("bucket folder %q: level %q does not start with %q", rel, p, lv[i].key)
		}
		keys, formats = append(keys, v), append(formats, lv[i].format)
	}
	t, err := time.Parse(strings.Join(formats, "/"), strings.Join(keys, "/"))
	if err != nil {
		return 0, fmt.Errorf("bucket folder %q: %w", rel, err)
	}
	start := t.UnixMilli()
	if l.Start(start) != start {
		return 0, fmt.Errorf("bucket folder %q: not the start of a %v bucket", rel, l.Width)
	}
	return start, nil
}

// Join joins a root that may be a URL (gs://b/x) or a local path with a relative path.
func Join(root, rel string) string {
	return strings.TrimSuffix(root, "/") + "/" + strings.TrimPrefix(rel, "/")
}

// Format returns the bucket start as RFC3339 in UTC.
func Format(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
