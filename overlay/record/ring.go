package record

import (
	"bytes"
	"slices"

	"github.com/parleynet/parley/overlay/identity"
)

// Ring is a consistent-hash ring of supernode IDs. NodeIDs are SHA-256
// hashes, so they spread evenly over the key space without virtual nodes.
// A key's holders are the first supernodes at or after it, clockwise.
// A Ring is immutable; a nil *Ring is an empty ring.
type Ring struct {
	ids []identity.NodeID // sorted, distinct
}

// NewRing returns the ring of ids (duplicates dropped).
func NewRing(ids []identity.NodeID) *Ring {
	s := slices.Clone(ids)
	slices.SortFunc(s, func(a, b identity.NodeID) int { return bytes.Compare(a[:], b[:]) })
	return &Ring{ids: slices.Compact(s)}
}

// Len returns the number of supernodes on the ring.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// IDs returns the supernodes on the ring, in ring order. The caller must
// not change the slice.
func (r *Ring) IDs() []identity.NodeID {
	if r == nil {
		return nil
	}
	return r.ids
}

// Contains reports whether id is on the ring.
func (r *Ring) Contains(id identity.NodeID) bool {
	if r == nil {
		return false
	}
	_, ok := slices.BinarySearchFunc(r.ids, id, func(a, b identity.NodeID) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// Holders returns the n supernodes (fewer if the ring is smaller) that
// hold key: the first at or after key, clockwise.
func (r *Ring) Holders(key [32]byte, n int) []identity.NodeID {
	if r.Len() == 0 || n <= 0 {
		return nil
	}
	n = min(n, len(r.ids))
	i, _ := slices.BinarySearchFunc(r.ids, identity.NodeID(key), func(a, b identity.NodeID) int { return bytes.Compare(a[:], b[:]) })
	out := make([]identity.NodeID, n)
	for j := range out {
		out[j] = r.ids[(i+j)%len(r.ids)]
	}
	return out
}

// Neighbours returns up to n supernodes on each side of id on the ring
// (id itself not included, each at most once): the ones that take over
// its records, or whose records it takes over, when the view changes.
func (r *Ring) Neighbours(id identity.NodeID, n int) []identity.NodeID {
	if r.Len() == 0 || n <= 0 {
		return nil
	}
	i, found := slices.BinarySearchFunc(r.ids, id, func(a, b identity.NodeID) int { return bytes.Compare(a[:], b[:]) })
	var out []identity.NodeID
	add := func(x identity.NodeID) {
		if x != id && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	next := i
	if found {
		next = i + 1
	}
	for j := range n {
		add(r.ids[(next+j)%len(r.ids)])
		add(r.ids[((i-1-j)%len(r.ids)+len(r.ids))%len(r.ids)])
	}
	return out
}
