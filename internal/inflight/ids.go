package inflight

import (
	"hash/maphash"
	"math"
)

// IDs is the set of ids one shard of one open bucket wrote, each with the first pane that
// wrote it. An id is held as a 128-bit hash (two 64-bit maphash sums), not as its string:
// about 29 bytes an id in the map instead of about 80, for the million ids of a busy hour. Two ids
// share a hash with a probability of about n²/2¹²⁹ (10⁻²⁶ for a million), far below a disk's
// silent error rate. The hashes are of this process only, as the set is. Its methods do
// nothing, and find nothing, on a nil IDs.
type IDs struct {
	seeds *[2]maphash.Seed
	panes map[idHash]int32
}

type idHash [2]uint64

func newIDs(seeds *[2]maphash.Seed) *IDs {
	return &IDs{seeds: seeds, panes: map[idHash]int32{}}
}

func (s *IDs) hash(id string) idHash {
	return idHash{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

// Pane returns the pane that first wrote id, and whether one did.
func (s *IDs) Pane(id string) (pane int64, ok bool) {
	if s == nil {
		return 0, false
	}
	p, ok := s.panes[s.hash(id)]
	return int64(p), ok
}

// Add records that pane wrote id, unless an earlier pane did.
func (s *IDs) Add(id string, pane int64) {
	if s == nil {
		return
	}
	p := int32(min(pane, math.MaxInt32)) // a pane index past 2³¹ does not occur
	h := s.hash(id)
	if q, ok := s.panes[h]; !ok || p < q {
		s.panes[h] = p
	}
}

// Len is how many ids the set holds.
func (s *IDs) Len() int {
	if s == nil {
		return 0
	}
	return len(s.panes)
}
