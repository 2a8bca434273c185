package record

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/parleynet/parley/overlay/identity"
)

// ringID returns the NodeID whose first byte is b and the rest zero.
func ringID(b byte) identity.NodeID {
	var id identity.NodeID
	id[0] = b
	return id
}

// ringKey returns the key whose first byte is b, the rest zero but the last
// byte, which is last.
func ringKey(b, last byte) [32]byte {
	var k [32]byte
	k[0] = b
	k[31] = last
	return k
}

// ringRand32 returns 32 random bytes from r.
func ringRand32(r *rand.Rand) [32]byte {
	var b [32]byte
	for i := 0; i < len(b); i += 8 {
		binary.BigEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// ringRandIDs returns n distinct random NodeIDs.
func ringRandIDs(r *rand.Rand, n int) []identity.NodeID {
	seen := make(map[identity.NodeID]bool, n)
	ids := make([]identity.NodeID, 0, n)
	for len(ids) < n {
		id := identity.NodeID(ringRand32(r))
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// ringRef is the reference model of Ring.Holders: a linear scan for the
// first ID at or after key in sorted order, then the next n-1, wrapping.
func ringRef(ids []identity.NodeID, key [32]byte, n int) []identity.NodeID {
	s := slices.Clone(ids)
	slices.SortFunc(s, func(a, b identity.NodeID) int { return bytes.Compare(a[:], b[:]) })
	s = slices.Compact(s)
	if len(s) == 0 || n <= 0 {
		return nil
	}
	start := 0 // no ID at or after key: wrap to the smallest
	for i, id := range s {
		if bytes.Compare(id[:], key[:]) >= 0 {
			start = i
			break
		}
	}
	var out []identity.NodeID
	for j := 0; j < n && j < len(s); j++ {
		out = append(out, s[(start+j)%len(s)])
	}
	return out
}

// ringShort names NodeIDs in failure messages by their first two bytes.
func ringShort(ids []identity.NodeID) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id.String()[:4])
	}
	return out
}

func TestNewRingSortsAndDropsDuplicates(t *testing.T) {
	in := []identity.NodeID{ringID(0x90), ringID(0x10), ringID(0xd0), ringID(0x50), ringID(0x10), ringID(0x90), ringID(0x10)}
	r := NewRing(in)
	want := []identity.NodeID{ringID(0x10), ringID(0x50), ringID(0x90), ringID(0xd0)}
	if r.Len() != 4 {
		t.Fatalf("Len = %d; want 4", r.Len())
	}
	if !slices.Equal(r.IDs(), want) {
		t.Fatalf("IDs = %v; want %v", ringShort(r.IDs()), ringShort(want))
	}
	// IDs that differ only in their last byte are distinct and ordered.
	var a, b identity.NodeID
	a[31], b[31] = 2, 1
	r2 := NewRing([]identity.NodeID{a, b, a})
	if !slices.Equal(r2.IDs(), []identity.NodeID{b, a}) {
		t.Fatalf("IDs = %x; want [%x %x]", r2.IDs(), b, a)
	}
	// The ring does not share the caller's slice.
	in[0], in[1] = ringID(0xff), ringID(0xfe)
	if !slices.Equal(r.IDs(), want) {
		t.Fatalf("changing NewRing's argument changed the ring: IDs = %v", ringShort(r.IDs()))
	}
	// Nor does Holders return the ring's own storage.
	h := r.Holders(ringKey(0, 0), 4)
	h[0] = ringID(0xee)
	if !slices.Equal(r.IDs(), want) {
		t.Fatalf("changing Holders' result changed the ring: IDs = %v", ringShort(r.IDs()))
	}
}

func TestRingContains(t *testing.T) {
	r := NewRing([]identity.NodeID{ringID(0x10), ringID(0x50), ringID(0x90), ringID(0xd0)})
	for _, b := range []byte{0x10, 0x50, 0x90, 0xd0} {
		if !r.Contains(ringID(b)) {
			t.Errorf("Contains(%#x) = false; want true", b)
		}
	}
	near := ringID(0x50)
	near[31] = 1
	for _, id := range []identity.NodeID{ringID(0), ringID(0x11), ringID(0x4f), ringID(0xff), near, {}} {
		if r.Contains(id) {
			t.Errorf("Contains(%x) = true; want false", id)
		}
	}
}

func TestRingEmptyAndNil(t *testing.T) {
	var nilRing *Ring
	for name, r := range map[string]*Ring{"nil": nilRing, "NewRing(nil)": NewRing(nil), "NewRing(empty)": NewRing([]identity.NodeID{})} {
		if r.Len() != 0 {
			t.Errorf("%s: Len = %d; want 0", name, r.Len())
		}
		if len(r.IDs()) != 0 {
			t.Errorf("%s: IDs = %v; want none", name, r.IDs())
		}
		if h := r.Holders(ringKey(0x42, 0), 3); h != nil {
			t.Errorf("%s: Holders = %v; want nil", name, h)
		}
		if r.Contains(ringID(0x42)) || r.Contains(identity.NodeID{}) {
			t.Errorf("%s: Contains = true; want false", name)
		}
	}
	if nilRing.IDs() != nil {
		t.Errorf("nil ring: IDs = %v; want nil", nilRing.IDs())
	}
}

func TestRingHolders(t *testing.T) {
	r := NewRing([]identity.NodeID{ringID(0xd0), ringID(0x10), ringID(0x90), ringID(0x50)})
	id := ringID
	for _, tc := range []struct {
		name string
		key  [32]byte
		n    int
		want []identity.NodeID
	}{
		{"before the first", ringKey(0x00, 0), 3, []identity.NodeID{id(0x10), id(0x50), id(0x90)}},
		{"at an ID", ringKey(0x50, 0), 3, []identity.NodeID{id(0x50), id(0x90), id(0xd0)}},
		{"just after an ID", ringKey(0x50, 1), 3, []identity.NodeID{id(0x90), id(0xd0), id(0x10)}},
		{"just before an ID", ringKey(0x4f, 0xff), 3, []identity.NodeID{id(0x50), id(0x90), id(0xd0)}},
		{"wraps once", ringKey(0xc0, 0), 3, []identity.NodeID{id(0xd0), id(0x10), id(0x50)}},
		{"at the last", ringKey(0xd0, 0), 3, []identity.NodeID{id(0xd0), id(0x10), id(0x50)}},
		{"after the last", ringKey(0xd0, 1), 3, []identity.NodeID{id(0x10), id(0x50), id(0x90)}},
		{"at the top", [32]byte(bytes.Repeat([]byte{0xff}, 32)), 3, []identity.NodeID{id(0x10), id(0x50), id(0x90)}},
		{"one", ringKey(0x60, 0), 1, []identity.NodeID{id(0x90)}},
		{"all", ringKey(0x60, 0), 4, []identity.NodeID{id(0x90), id(0xd0), id(0x10), id(0x50)}},
		{"more than the ring", ringKey(0x60, 0), 10, []identity.NodeID{id(0x90), id(0xd0), id(0x10), id(0x50)}},
		{"none", ringKey(0x60, 0), 0, nil},
		{"negative", ringKey(0x60, 0), -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Holders(tc.key, tc.n)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Holders(%x.., %d) = %v; want %v", tc.key[0], tc.n, ringShort(got), ringShort(tc.want))
			}
		})
	}

	t.Run("small rings", func(t *testing.T) {
		one := NewRing([]identity.NodeID{ringID(0x80)})
		for _, k := range []byte{0x00, 0x80, 0xff} {
			if got := one.Holders(ringKey(k, 0), 3); !slices.Equal(got, []identity.NodeID{ringID(0x80)}) {
				t.Fatalf("one-ID ring: Holders(%#x, 3) = %v; want [8000]", k, ringShort(got))
			}
		}
		two := NewRing([]identity.NodeID{ringID(0x80), ringID(0x20)})
		if got := two.Holders(ringKey(0x30, 0), 3); !slices.Equal(got, []identity.NodeID{ringID(0x80), ringID(0x20)}) {
			t.Fatalf("two-ID ring: Holders(0x30, 3) = %v; want [8000 2000]", ringShort(got))
		}
		if got := two.Holders(ringKey(0x90, 0), 3); !slices.Equal(got, []identity.NodeID{ringID(0x20), ringID(0x80)}) {
			t.Fatalf("two-ID ring: Holders(0x90, 3) = %v; want [2000 8000]", ringShort(got))
		}
	})
}

// TestRingHoldersMatchReference compares Holders with a linear scan on
// random rings and keys.
func TestRingHoldersMatchReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	for _, size := range []int{1, 2, 3, 5, 17, 64} {
		ids := ringRandIDs(rnd, size)
		r := NewRing(append(ids, ids[:size/2]...)) // with duplicates
		if r.Len() != size {
			t.Fatalf("Len = %d; want %d", r.Len(), size)
		}
		keys := [][32]byte{{}, [32]byte(bytes.Repeat([]byte{0xff}, 32))}
		for _, id := range ids {
			keys = append(keys, id) // exactly at an ID
		}
		for range 300 {
			keys = append(keys, ringRand32(rnd))
		}
		for _, k := range keys {
			for _, n := range []int{1, 3, 5} {
				got, want := r.Holders(k, n), ringRef(ids, k, n)
				if !slices.Equal(got, want) {
					t.Fatalf("ring of %d: Holders(%x, %d) = %v; want %v", size, k, n, ringShort(got), ringShort(want))
				}
				seen := make(map[identity.NodeID]bool)
				for _, h := range got {
					if seen[h] {
						t.Fatalf("ring of %d: Holders(%x, %d) = %v has duplicates", size, k, n, ringShort(got))
					}
					seen[h] = true
				}
			}
		}
	}
}

// ringChanged checks that, between before and after, the holder sets of
// keys change only where id was (removed) or is (added) a holder: such a
// key swaps exactly one holder, id for another or another for id; every
// other key keeps its holders in the same order. It returns the number of
// keys that changed.
func ringChanged(t *testing.T, before, after *Ring, keys [][32]byte, n int, id identity.NodeID, added bool) int {
	t.Helper()
	changed := 0
	for _, k := range keys {
		b, a := before.Holders(k, n), after.Holders(k, n)
		if len(b) != n || len(a) != n {
			t.Fatalf("Holders(%x, %d): %d holders before, %d after; want %d", k, n, len(b), len(a), n)
		}
		involved := slices.Contains(b, id)
		if added {
			involved = slices.Contains(a, id)
		}
		if !involved {
			if !slices.Equal(a, b) {
				t.Fatalf("key %x not held by %s changed holders: %v -> %v", k, id.Short(), ringShort(b), ringShort(a))
			}
			continue
		}
		changed++
		var lost, gained []identity.NodeID
		for _, h := range b {
			if !slices.Contains(a, h) {
				lost = append(lost, h)
			}
		}
		for _, h := range a {
			if !slices.Contains(b, h) {
				gained = append(gained, h)
			}
		}
		if len(lost) != 1 || len(gained) != 1 {
			t.Fatalf("key %x: holders %v -> %v; want exactly one swapped", k, ringShort(b), ringShort(a))
		}
		if !added && lost[0] != id {
			t.Fatalf("key %x: removing %s dropped %s instead", k, id.Short(), lost[0].Short())
		}
		if added && gained[0] != id {
			t.Fatalf("key %x: adding %s added %s instead", k, id.Short(), gained[0].Short())
		}
	}
	return changed
}

func TestRingConsistentOnMembershipChange(t *testing.T) {
	const n = 3
	rnd := rand.New(rand.NewPCG(3, 5))
	ids := ringRandIDs(rnd, 51)
	base, extra := ids[:50], ids[50]
	keys := make([][32]byte, 2000)
	for i := range keys {
		keys[i] = ringRand32(rnd)
	}
	full := NewRing(base)

	for _, i := range []int{0, 17, 49} {
		gone := base[i]
		rest := slices.Concat(base[:i], base[i+1:])
		smaller := NewRing(rest)
		if smaller.Len() != 49 || smaller.Contains(gone) {
			t.Fatalf("ring without %s: Len %d, Contains %v", gone.Short(), smaller.Len(), smaller.Contains(gone))
		}
		moved := ringChanged(t, full, smaller, keys, n, gone, false)
		// About n/50 of the keys: 120 expected.
		if moved == 0 || moved > len(keys)/4 {
			t.Fatalf("removing %s moved %d of %d keys", gone.Short(), moved, len(keys))
		}
		// Putting it back restores every key's holders.
		back := NewRing(append(rest, gone))
		for _, k := range keys {
			if !slices.Equal(back.Holders(k, n), full.Holders(k, n)) {
				t.Fatalf("key %x: holders differ after removing and re-adding %s", k, gone.Short())
			}
		}
	}

	bigger := NewRing(append(slices.Clone(base), extra))
	if bigger.Len() != 51 || !bigger.Contains(extra) {
		t.Fatalf("ring with the extra ID: Len %d, Contains %v", bigger.Len(), bigger.Contains(extra))
	}
	moved := ringChanged(t, full, bigger, keys, n, extra, true)
	if moved == 0 || moved > len(keys)/4 {
		t.Fatalf("adding %s moved %d of %d keys", extra.Short(), moved, len(keys))
	}
}

func TestRingBalance(t *testing.T) {
	// A fixed seed keeps the test deterministic. For 100 random IDs the
	// largest arc is about 5% of the ring; one over 10% is a 1-in-300
	// event. The smallest arc is about 1/10000 of the ring, so an ID that
	// is first holder of none of 10,000 random keys is expected (about one
	// per draw): what every ID must get is its arc's share of the keys.
	rnd := rand.New(rand.NewPCG(1, 2))
	ids := ringRandIDs(rnd, 100)
	r := NewRing(ids)
	const keys = 10000
	first := make(map[identity.NodeID]int)
	for range keys {
		h := r.Holders(ringRand32(rnd), 1)
		if len(h) != 1 {
			t.Fatalf("Holders(k, 1) = %v", ringShort(h))
		}
		first[h[0]]++
	}
	// An ID's arc runs from its predecessor (exclusive) to it (inclusive);
	// the top 64 bits of the IDs measure it closely enough.
	sorted := r.IDs()
	top := func(id identity.NodeID) uint64 { return binary.BigEndian.Uint64(id[:8]) }
	maxCount, held := 0, 0
	for i, id := range sorted {
		arc := float64(top(id)-top(sorted[(i+len(sorted)-1)%len(sorted)])) / (1 << 64)
		if arc <= 0 {
			t.Fatalf("%s has an empty arc", id.Short())
		}
		c := first[id]
		want := arc * keys
		if sd := math.Sqrt(want * (1 - arc)); math.Abs(float64(c)-want) > 5*sd+2 {
			t.Errorf("%s is first holder of %d keys; its arc (%.3f%% of the ring) should give about %.0f", id.Short(), c, 100*arc, want)
		}
		if want >= 10 && c == 0 {
			t.Errorf("%s is first holder of no key; its arc should give about %.0f", id.Short(), want)
		}
		if c > 0 {
			held++
		}
		maxCount = max(maxCount, c)
	}
	if held < 90 {
		t.Errorf("only %d of %d IDs are first holders of any key", held, len(ids))
	}
	if maxCount > keys/10 {
		t.Errorf("one ID is first holder of %d of %d keys; want at most 10%%", maxCount, keys)
	}
	t.Logf("first holders: %d of %d IDs; max %d of %d keys (mean %d)", held, len(ids), maxCount, keys, keys/len(ids))
}
