package inflight

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
)

// IDs is the set of ids one shard of one open bucket wrote, each with the pane that
// claimed it. An id is held as a 96-bit hash (a 64-bit maphash sum and 32 bits of a second),
// not as its string, in a table of its own: 16 bytes a slot with the pane, at most 85 % full
// and grown by half, so 19 to 28 bytes an id (measured with a Go map: 19 to 38 with these
// slots, as its tables double; 28 to 56 with 128-bit hashes; about 80 with the strings),
// for the million ids of a busy hour. Two ids share a hash with a probability of about
// n²/2⁹⁷ (10⁻¹⁷ for a million), far below a disk's silent error rate. The hashes are of
// this process only, as the set is. It is safe for concurrent use: a bucket's on-time and
// late panes are written by two stages at once. Its methods do nothing, and find nothing,
// on a nil IDs.
type IDs struct {
	seeds *[2]maphash.Seed
	mu    sync.Mutex
	slots []idSlot // open addressing, linear probing; a zero slot is empty
	n     int
}

// idSlot is one id: three 32-bit words of its hash, not a uint64 and a uint32, so that a
// slot is 16 bytes without the padding that 8-byte alignment would add, and the pane that
// claimed it, plus one (0 marks an empty slot).
type idSlot struct {
	hash [3]uint32
	pane int32
}

// Load and growth of an IDs table: full to 85 %, then half as large again.
const (
	minSlots = 1024
	maxLoad  = 0.85
)

func newIDs(seeds *[2]maphash.Seed) *IDs {
	return &IDs{seeds: seeds}
}

// Claim records that pane writes id and reports true, unless another pane claimed it first
// (then id is a copy: false). A pane that claims an id again (a retried bundle) gets true.
func (s *IDs) Claim(id string, pane int64) bool {
	if s == nil {
		return true
	}
	a, b := maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)
	slot := idSlot{hash: [3]uint32{uint32(a), uint32(a >> 32), uint32(b)}, pane: int32(min(pane, math.MaxInt32-1)) + 1} // a pane index past 2³¹ does not occur
	s.mu.Lock()
	defer s.mu.Unlock()
	if float64(s.n+1) > maxLoad*float64(len(s.slots)) {
		s.grow()
	}
	i := s.find(a, slot.hash)
	if q := s.slots[i]; q.pane != 0 {
		return q.pane == slot.pane
	}
	s.slots[i] = slot
	s.n++
	return true
}

// find returns the slot holding hash h (whose first two words are a), or the empty slot
// where it goes.
func (s *IDs) find(a uint64, h [3]uint32) int {
	hi, _ := bits.Mul64(a, uint64(len(s.slots)))
	for i := int(hi); ; i++ {
		if i == len(s.slots) {
			i = 0
		}
		if q := s.slots[i]; q.pane == 0 || q.hash == h {
			return i
		}
	}
}

// grow makes the table half as large again and puts every id back.
func (s *IDs) grow() {
	old := s.slots
	s.slots = make([]idSlot, max(minSlots, len(old)+len(old)/2))
	for _, q := range old {
		if q.pane != 0 {
			s.slots[s.find(uint64(q.hash[0])|uint64(q.hash[1])<<32, q.hash)] = q
		}
	}
}

// Len is how many ids the set holds.
func (s *IDs) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
