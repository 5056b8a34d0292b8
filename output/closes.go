package output

import (
	"context"
	"time"
)

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
	// Now is the clock OpenFor is measured on; nil: time.Now.
	Now    func() time.Time
	store  Store
	closed map[int64]Status
	open   map[int64]time.Time // when the bucket was seen open
}

// Remember is how many closed buckets a Closes keeps: weeks of hours, hours of seconds.
const Remember = 2048

// NewCloses returns a bucket status cache on store.
func NewCloses(t Target, st Store) *Closes {
	return &Closes{Target: t, store: st, closed: map[int64]Status{}, open: map[int64]time.Time{}}
}

// ForgetOpen drops what is known of open buckets.
func (c *Closes) ForgetOpen() { clear(c.open) }

// Status returns the status of bucket start.
func (c *Closes) Status(ctx context.Context, start int64) (Status, error) {
	if s, ok := c.closed[start]; ok {
		return s, nil
	}
	if seen, ok := c.open[start]; ok && (c.OpenFor == 0 || c.now().Sub(seen) < c.OpenFor) {
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
	now := c.now()
	if c.OpenFor > 0 {
		for b, seen := range c.open {
			if now.Sub(seen) >= c.OpenFor {
				delete(c.open, b)
			}
		}
	}
	c.open[start] = now
}

func (c *Closes) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
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

// Route is where a writer puts a pane of bucket placed, asked again at write time.
type Route struct {
	Bucket int64 // the bucket it goes into
	Pane   int64 // the pane it is written under there: Layout.MovedPane when moved
	Moved  bool  // another job closed placed since placement
	// Already: this run closed placed itself (a replay run again), its data is there.
	Already bool
	// Outside: the open bucket it goes to is outside the target's range (a backfill).
	Outside bool
}

// Write reports whether the writer writes anything.
func (r Route) Write() bool { return !r.Already && !r.Outside }

// Route returns where pane of bucket placed is written now (see Resolve and Range).
func (c *Closes) Route(ctx context.Context, placed, pane int64) (Route, error) {
	to, moved, ok, err := c.Resolve(ctx, placed)
	switch {
	case err != nil:
		return Route{}, err
	case !ok:
		return Route{Already: true}, nil
	case !c.Target.Range.Contains(to):
		return Route{Bucket: to, Moved: moved, Outside: true}, nil
	case moved:
		return Route{Bucket: to, Pane: c.Target.Layout.MovedPane(placed, to, pane), Moved: true}, nil
	}
	return Route{Bucket: to, Pane: pane}, nil
}
