package output

import "fmt"

// Range is the buckets a backfill was asked for: those starting in [From, To), Unix ms.
// The zero Range is every bucket.
type Range struct {
	From, To int64
}

// IsSet reports whether r limits the buckets.
func (r Range) IsSet() bool { return r != Range{} }

// Contains reports whether bucket start is in r (always, for the zero Range).
func (r Range) Contains(start int64) bool {
	return !r.IsSet() || (start >= r.From && start < r.To)
}

// Buckets returns the starts of the buckets of r under l, in order.
func (r Range) Buckets(l Layout) []int64 {
	var out []int64
	for h := r.From; h < r.To; h = l.Next(h) {
		out = append(out, h)
	}
	return out
}

// String shows r as [from, to).
func (r Range) String() string {
	if !r.IsSet() {
		return "every bucket"
	}
	return fmt.Sprintf("[%s, %s)", Format(r.From), Format(r.To))
}
