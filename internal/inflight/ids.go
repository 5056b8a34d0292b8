package inflight

import (
	"hash/maphash"
	"math"
	"sync"
)

// IDs is the set of ids one shard of one open bucket wrote, each with the pane that
// claimed it. An id is held as a 96-bit hash (a 64-bit maphash sum and 32 bits of a second),
// not as its string: with its pane, 16 bytes a slot in the map, 19 to 38 bytes an id with the
// map's headroom (measured; 28 to 56 with 128-bit hashes, about 80 with the strings), for
// the million ids of a busy hour. Two ids share a hash with a probability of
// about n²/2⁹⁷ (10⁻¹⁷ for a million), far below a disk's silent error rate. The hashes are
// of this process only, as the set is. It is safe for concurrent use: a bucket's on-time
// and late panes are written by two stages at once. Its methods do nothing, and find
// nothing, on a nil IDs.
type IDs struct {
	seeds *[2]maphash.Seed
	mu    sync.Mutex
	panes map[idHash]int32
}

// idHash is three 32-bit words, not a uint64 and a uint32, so that a slot of the map (hash
// and pane) is 16 bytes, without the padding that 8-byte alignment would add.
type idHash [3]uint32

func newIDs(seeds *[2]maphash.Seed) *IDs {
	return &IDs{seeds: seeds, panes: map[idHash]int32{}}
}

// Claim records that pane writes id and reports true, unless another pane claimed it first
// (then id is a copy: false). A pane that claims an id again (a retried bundle) gets true.
func (s *IDs) Claim(id string, pane int64) bool {
	if s == nil {
		return true
	}
	p := int32(min(pane, math.MaxInt32)) // a pane index past 2³¹ does not occur
	a, b := maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)
	h := idHash{uint32(a), uint32(a >> 32), uint32(b)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.panes[h]; ok {
		return q == p
	}
	s.panes[h] = p
	return true
}

// Len is how many ids the set holds.
func (s *IDs) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.panes)
}
