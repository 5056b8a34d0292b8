package bucket

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
)

// ManifestName is the name of the manifest in a bucket's folder. Its presence closes the bucket.
const ManifestName = "_SUCCESS"

// Target says where one event type's buckets live and who writes them.
type Target struct {
	Root      string // the output location: a local folder or a gs:// URL
	EventType string
	Layout    Layout
	RunID     string // unique per job; it is in every file name the job writes
	// Rerun says the input is a bounded replay that may run again under the same run id:
	// a bucket this run id closed then already holds its events, which are not written
	// twice. A live job leaves it false: what reaches a bucket it closed itself came late
	// (a message delivered out of order, behind the watermark) and moves to the next open
	// bucket like any late event, so that it is not lost.
	Rerun bool
}

// Dir returns the folder of bucket start.
func (t Target) Dir(start int64) string {
	return t.Layout.Dir(Join(t.Root, t.EventType), start)
}

// DeadLetterDir returns the dead-letter folder of bucket start.
func (t Target) DeadLetterDir(start int64) string {
	return t.Layout.Dir(Join(t.Root, t.EventType+"/_deadletter"), start)
}

// ManifestPath returns the path of bucket start's manifest.
func (t Target) ManifestPath(start int64) string { return Join(t.Dir(start), ManifestName) }

// File is one data file of a bucket, as listed in its manifest.
type File struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
}

// Manifest is the commit record of a bucket: the bucket is exactly the files it lists.
type Manifest struct {
	EventType       string `json:"event_type"`
	BucketStart     string `json:"bucket_start"`
	BucketEnd       string `json:"bucket_end"`
	Records         int64  `json:"records"`
	Duplicates      int64  `json:"duplicates"`
	Skewed          int64  `json:"skewed"`
	Invalid         int64  `json:"invalid"`
	Files           []File `json:"files"`
	DeadLetterFiles []File `json:"dead_letter_files"`
	RunID           string `json:"run_id"`
	PipelineVersion string `json:"pipeline_version"`
	ClosedAt        string `json:"closed_at"`
}

// ReadManifest returns the manifest of bucket start, or nil when the bucket is open.
func (t Target) ReadManifest(ctx context.Context, st *objstore.Store, start int64) (*Manifest, error) {
	p := t.ManifestPath(start)
	ok, err := st.Exists(ctx, p)
	if err != nil || !ok {
		return nil, err
	}
	b, err := st.Read(ctx, p)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	return &m, nil
}

// Status is what a writer may do with a bucket.
type Status int

const (
	Open          Status = iota // the bucket takes data
	ClosedByUs                  // closed by this run id, rerunning a replay: its data is already there
	ClosedByOther               // closed by another job, or by this live job: data moves to the next open bucket
)

// Closes remembers which buckets are closed, so that a writer asks the store once per
// bucket. A closed bucket stays closed; an open one is asked again after ForgetOpen, or once
// OpenFor has passed. It remembers at most Remember closed buckets, the newest, so that a
// job that runs for months holds no more than a long job does: an older one is asked again.
type Closes struct {
	Target  Target
	OpenFor time.Duration // how long an open bucket is believed open; 0: until ForgetOpen
	store   *objstore.Store
	closed  map[int64]Status
	open    map[int64]time.Time // when the bucket was seen open
}

// Remember is how many closed buckets a Closes keeps: weeks of hours, hours of seconds.
const Remember = 2048

// NewCloses returns a bucket status cache on store.
func NewCloses(t Target, st *objstore.Store) *Closes {
	return &Closes{Target: t, store: st, closed: map[int64]Status{}, open: map[int64]time.Time{}}
}

// ForgetOpen drops what is known of open buckets.
func (c *Closes) ForgetOpen() { clear(c.open) }

// Status returns the status of bucket start.
func (c *Closes) Status(ctx context.Context, start int64) (Status, error) {
	if s, ok := c.closed[start]; ok {
		return s, nil
	}
	if seen, ok := c.open[start]; ok && (c.OpenFor == 0 || time.Since(seen) < c.OpenFor) {
		return Open, nil
	}
	m, err := c.Target.ReadManifest(ctx, c.store, start)
	if err != nil {
		return Open, err
	}
	if m == nil {
		c.rememberOpen(start)
		return Open, nil
	}
	s := ClosedByOther
	if m.RunID == c.Target.RunID && c.Target.Rerun {
		s = ClosedByUs
	}
	delete(c.open, start)
	c.closed[start] = s
	if len(c.closed) > Remember {
		delete(c.closed, oldest(c.closed))
	}
	return s, nil
}

// rememberOpen notes that bucket start is open now, and forgets what has expired.
func (c *Closes) rememberOpen(start int64) {
	now := time.Now()
	if c.OpenFor > 0 {
		for b, seen := range c.open {
			if now.Sub(seen) >= c.OpenFor {
				delete(c.open, b)
			}
		}
	}
	c.open[start] = now
}

// oldest returns the earliest bucket start in m.
func oldest(m map[int64]Status) int64 {
	first := true
	var o int64
	for b := range m {
		if first || b < o {
			o, first = b, false
		}
	}
	return o
}

// Resolve returns where data for bucket start goes: start itself when open, the next open
// bucket when another job closed it (moved), or ok=false when this run already closed it.
func (c *Closes) Resolve(ctx context.Context, start int64) (to int64, moved, ok bool, err error) {
	to = start
	for {
		s, err := c.Status(ctx, to)
		if err != nil {
			return 0, false, false, err
		}
		switch {
		case s == Open:
			return to, to != start, true, nil
		case s == ClosedByUs && to == start:
			return 0, false, false, nil
		}
		to = c.Target.Layout.Next(to)
	}
}
