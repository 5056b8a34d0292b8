// Package hours tells which of a fleet's hourly buckets are closed, from the manifests in
// the output (package output is the contract it reads by), for the people and jobs
// downstream: [Read] sorts every bucket of a recent span as closed, closed late, open or
// missing; [Wait] blocks until one bucket is closed, as a scheduler's sensor does; [Verify]
// checks a closed bucket's files against its manifest; [Manifests] reads a span's
// manifests back (launcher backfill).
//
// # When a bucket is due
//
// Bucket H (width W, skew tolerance L) may close at C(H) = H + W + L; it is due at
// C(H) + grace, the grace covering the watermark's lag (by default the event type's
// closed_hour_margin). A bucket without a manifest is open before it is due and missing
// after; a bucket whose manifest says it was written after it was due is closed late.
package hours

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"github.com/eventdelivery/eventdelivery/output"
)

// Store is what reading an output needs: internal/objstore's Store serves it on local
// disk and Cloud Storage.
type Store interface {
	output.Store
	// List returns the objects matching glob (a * matches within one path level).
	List(ctx context.Context, glob string) ([]string, error)
	io.Closer
}

// State is what became of a bucket.
type State string

// States of a bucket.
const (
	Closed  State = "closed"  // its manifest was written by the time it was due
	Late    State = "late"    // its manifest was written after it was due
	Open    State = "open"    // no manifest, and not due yet
	Missing State = "missing" // no manifest, and due
)

// Counts sums buckets by state and what their manifests count.
type Counts struct {
	Closed  int `json:"closed"`
	Late    int `json:"late"`
	Open    int `json:"open"`
	Missing int `json:"missing"`
	// Records, Duplicates, Skewed and DeadLetters sum the manifests' records,
	// duplicates, skewed and invalid counts.
	Records     int64 `json:"records"`
	Duplicates  int64 `json:"duplicates"`
	Skewed      int64 `json:"skewed"`
	DeadLetters int64 `json:"dead_letters"`
}

// add counts one bucket.
func (c *Counts) add(h Hour) {
	switch h.State {
	case Closed:
		c.Closed++
	case Late:
		c.Late++
	case Open:
		c.Open++
	case Missing:
		c.Missing++
	}
	c.Records += h.Records
	c.Duplicates += h.Duplicates
	c.Skewed += h.Skewed
	c.DeadLetters += h.DeadLetters
}

// Hours returns how many buckets were counted.
func (c Counts) Hours() int { return c.Closed + c.Late + c.Open + c.Missing }

// Hour is one bucket.
type Hour struct {
	Start string `json:"start"` // RFC3339, UTC
	State State  `json:"state"`
	// Due is the bucket's close time plus the grace.
	Due string `json:"due"`
	// ClosedAt is when the manifest was written, as it says ("" while open).
	ClosedAt string `json:"closed_at,omitempty"`
	// LateSeconds is how long after Due the manifest was written (Late only).
	LateSeconds float64 `json:"late_seconds,omitempty"`
	Records     int64   `json:"records"`
	Duplicates  int64   `json:"duplicates"`
	Skewed      int64   `json:"skewed"`
	DeadLetters int64   `json:"dead_letters"`
	// Manifest is the path of the manifest, there or expected.
	Manifest string `json:"manifest"`
}

// EventType is one event type's buckets, oldest first.
type EventType struct {
	EventType string `json:"event_type"`
	// Output is the event type's folder.
	Output string `json:"output"`
	// GraceSeconds is added to a bucket's close time to say when it is due.
	GraceSeconds float64 `json:"grace_seconds"`
	Counts
	// LastClosed is the start of the newest closed bucket ("" when none in the span).
	LastClosed string `json:"last_closed"`
	Hours      []Hour `json:"hours"`
}

// Report is the buckets of a fleet's event types over a recent span.
type Report struct {
	Fleet string    `json:"fleet"`
	Now   time.Time `json:"now"`
	// SinceSeconds is how far back from Now the buckets go.
	SinceSeconds float64     `json:"since_seconds"`
	EventTypes   []EventType `json:"event_types"`
	Totals       Counts      `json:"totals"`
}

// Complete reports whether every bucket that is due is closed (closed late counts).
func (r *Report) Complete() bool { return r.Totals.Missing == 0 }

// Summary is one line such as "72 hours of 3 event types: 64 closed, 1 closed late,
// 6 open, 1 missing (in 1 of 3 event types); 12345 records, 3 duplicates, 2 skewed, 1 dead letters".
func (r *Report) Summary() string {
	t := r.Totals
	var b strings.Builder
	fmt.Fprintf(&b, "%d hours of %d event types: %d closed, %d closed late, %d open, %d missing",
		t.Hours(), len(r.EventTypes), t.Closed, t.Late, t.Open, t.Missing)
	if t.Missing > 0 {
		n := 0
		for _, et := range r.EventTypes {
			if et.Missing > 0 {
				n++
			}
		}
		fmt.Fprintf(&b, " (in %d of %d event types)", n, len(r.EventTypes))
	}
	fmt.Fprintf(&b, "; %d records, %d duplicates, %d skewed, %d dead letters", t.Records, t.Duplicates, t.Skewed, t.DeadLetters)
	return b.String()
}

// Options say which buckets Read reads and how it judges them.
type Options struct {
	// Now is the time buckets are judged at.
	Now time.Time
	// Since is how far back from Now buckets are read (default 24h), bounded as the
	// pipeline's lookback is (output.Layout.LookbackFrom).
	Since time.Duration
	// Grace, when set, replaces every event type's closed_hour_margin as the time a
	// bucket may take to close after its close time.
	Grace *time.Duration
	// EventType, when set, reads that event type only.
	EventType string
	// Open returns the store of an output root.
	Open func(ctx context.Context, root string) (Store, error)
	// Parallelism bounds concurrent manifest reads (default 16).
	Parallelism int
}

// Read reads the manifests of the buckets of every event type of f (or of
// opts.EventType) from opts.Since before opts.Now to the bucket holding opts.Now.
func Read(ctx context.Context, f *fleet.Fleet, opts Options) (*Report, error) {
	if opts.Since <= 0 {
		opts.Since = 24 * time.Hour
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	jobs, err := Select(f, opts.EventType)
	if err != nil {
		return nil, err
	}
	stores, closeAll, err := openStores(ctx, jobs, opts.Open)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	r := &Report{Fleet: f.Name, Now: opts.Now, SinceSeconds: opts.Since.Seconds(), EventTypes: make([]EventType, len(jobs))}
	now := opts.Now.UnixMilli()
	// Every hour of every event type is one read: all of them in order, Parallelism at once.
	type read struct {
		t     output.Target
		st    output.Store
		start int64
		grace time.Duration
		h     *Hour
	}
	var reads []read
	for i, j := range jobs {
		t := j.OutputTarget()
		grace := j.Alerts.ClosedHourMargin
		if opts.Grace != nil {
			grace = *opts.Grace
		}
		et := &r.EventTypes[i]
		*et = EventType{EventType: j.EventType, Output: t.Base(), GraceSeconds: grace.Seconds()}
		l := t.Layout
		from := l.LookbackFrom(now, opts.Since)
		et.Hours = make([]Hour, (l.Start(now)-from)/l.Width.Milliseconds()+1)
		for k := range et.Hours {
			reads = append(reads, read{t, stores[t.Root], from + int64(k)*l.Width.Milliseconds(), grace, &et.Hours[k]})
		}
	}
	err = gcpclient.NewLimiter(opts.Parallelism).Go(ctx, len(reads), func(ctx context.Context, i int) error {
		rd := reads[i]
		m, err := rd.t.ReadManifest(ctx, rd.st, rd.start)
		if err != nil {
			return fmt.Errorf("%s %s: %w", rd.t.EventType, output.Format(rd.start), err)
		}
		*rd.h, err = judge(rd.t, rd.start, m, opts.Now, rd.grace)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range r.EventTypes {
		et := &r.EventTypes[i]
		for _, h := range et.Hours {
			et.Counts.add(h)
			r.Totals.add(h)
			if h.State == Closed || h.State == Late {
				et.LastClosed = h.Start
			}
		}
	}
	return r, nil
}

// judge says what became of bucket start, whose manifest is m (nil while open).
func judge(t output.Target, start int64, m *output.Manifest, now time.Time, grace time.Duration) (Hour, error) {
	due := time.UnixMilli(t.Layout.CloseTime(start)).Add(grace)
	h := Hour{Start: output.Format(start), Due: due.UTC().Format(time.RFC3339), Manifest: t.ManifestPath(start)}
	if m == nil {
		h.State = Missing
		if now.Before(due) {
			h.State = Open
		}
		return h, nil
	}
	closedAt, err := time.Parse(time.RFC3339Nano, m.ClosedAt)
	if err != nil {
		return Hour{}, fmt.Errorf("manifest %s: closed_at %q: %w", h.Manifest, m.ClosedAt, err)
	}
	h.State, h.ClosedAt = Closed, m.ClosedAt
	if late := closedAt.Sub(due); late > 0 {
		h.State, h.LateSeconds = Late, late.Seconds()
	}
	h.Records, h.Duplicates, h.Skewed, h.DeadLetters = m.Records, m.Duplicates, m.Skewed, m.Invalid
	return h, nil
}

// Select returns the jobs of f, or the one of eventType when it is set.
func Select(f *fleet.Fleet, eventType string) ([]fleet.Job, error) {
	jobs := f.Jobs()
	if eventType == "" {
		return jobs, nil
	}
	for _, j := range jobs {
		if j.EventType == eventType {
			return []fleet.Job{j}, nil
		}
	}
	return nil, fmt.Errorf("event type %q: not in fleet %s", eventType, f.Name)
}

// openStores opens the store of every output root of jobs once; closeAll closes them.
func openStores(ctx context.Context, jobs []fleet.Job, open func(context.Context, string) (Store, error)) (map[string]Store, func(), error) {
	stores := map[string]Store{}
	closeAll := func() {
		for _, s := range stores {
			s.Close()
		}
	}
	for _, j := range jobs {
		root := j.OutputTarget().Root
		if _, ok := stores[root]; ok {
			continue
		}
		s, err := open(ctx, root)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("open %s: %w", root, err)
		}
		stores[root] = s
	}
	return stores, closeAll, nil
}

// Manifests reads the manifest of every bucket of t in [from, to) (Unix ms, bucket
// starts), oldest first, with at most parallelism reads in flight: nil where a bucket
// has none. It is how a replay's hours are read back (launcher backfill).
func Manifests(ctx context.Context, st output.Store, t output.Target, from, to int64, parallelism int) ([]*output.Manifest, error) {
	if parallelism <= 0 {
		parallelism = 16
	}
	w := t.Layout.Width.Milliseconds()
	if from >= to {
		return nil, nil
	}
	out := make([]*output.Manifest, (to-from+w-1)/w)
	err := gcpclient.NewLimiter(parallelism).Go(ctx, len(out), func(ctx context.Context, k int) error {
		start := from + int64(k)*w
		m, err := t.ReadManifest(ctx, st, start)
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.EventType, output.Format(start), err)
		}
		out[k] = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
