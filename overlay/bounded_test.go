package overlay

import (
	"context"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// TestBoundedMeshStaysWithinItsLinksAndFindsRecords: a tier larger than
// its link bound (21 supernodes, MaxPeers 8) is not all-to-all, yet every
// supernode's view holds the whole tier, records published through one
// supernode are found through every other (the holders are linked on
// demand), closing a link to make room is never taken for a failure, and
// a supernode that stops leaves the views of those that had a link to it
// while its records stay found through the other holders.
func TestBoundedMeshStaysWithinItsLinksAndFindsRecords(t *testing.T) {
	inSim(t, func(t *testing.T) {
		const n, bound = 20, 8
		all := boundedTier(t, n, bound)
		viewsWhole := func(want int) func() bool { return func() bool { return viewsAre(all, want) } }
		// If the views never become whole, say what each one lacks.
		defer func() {
			if !t.Failed() {
				return
			}
			for i, s := range all {
				st := s.Stats()
				trusted := len(s.mem.trusted(time.Now()))
				s.mem.mu.Lock()
				ann, sus := len(s.mem.announces), len(s.mem.endorsements)
				s.mem.mu.Unlock()
				if st.View == n+1 {
					continue
				}
				t.Logf("supernode %d: view %d, links %d, announcements %d, trusted %d, endorsements %d", i, st.View, st.Supernodes, ann, trusted, sus)
				tr := s.mem.trusted(time.Now())
				for j, o := range all {
					if s.mem.inView(o.ID()) {
						continue
					}
					s.mem.mu.Lock()
					h := s.mem.announces[o.ID()]
					sp, susp := s.mem.suspects[o.ID()]
					var ends int
					var seq uint64
					if h != nil {
						ends, seq = len(h.endorsers), h.rec.Seq
					}
					s.mem.mu.Unlock()
					o.mem.mu.Lock()
					oseq := o.mem.announces[o.ID()].rec.Seq
					o.mem.mu.Unlock()
					t.Logf("   missing %d: held %v seq %d (its own %d), endorsers %d, trusted %v, suspected %v %v", j, h != nil, seq, oseq, ends, tr[o.ID()], susp, sp)
				}
			}
		}()
		waitFor(t, 2*time.Minute, "every view holds the whole tier", viewsWhole(n+1))
		// Let the links settle, then count: no supernode over the bound,
		// and the views stay whole (an eviction is not a failure).
		time.Sleep(time.Minute)
		maxLinks := 0
		for i, s := range all {
			st := s.Stats()
			maxLinks = max(maxLinks, st.Supernodes)
			if st.Supernodes > bound {
				t.Errorf("supernode %d holds %d supernode links, over the bound of %d", i, st.Supernodes, bound)
			}
			if st.View != n+1 {
				t.Errorf("supernode %d's view has %d of %d supernodes after the links settled", i, st.View, n+1)
			}
		}
		t.Logf("most links held by a supernode: %d (bound %d, tier %d)", maxLinks, bound, n+1)

		// Presence published through each of 10 supernodes, looked up through
		// every supernode.
		ctx := context.Background()
		var keys [][32]byte
		for i := 1; i <= 10; i++ {
			leaf, id := onlineLeafAt(t, []SeedAddr{all[i].seedAddr()}, nil)
			rec, _ := record.NewPresence(id, wire.PresenceBody{Status: wire.StatusOnline}, 1, time.Now(), time.Hour)
			if err := leaf.Publish(ctx, rec); err != nil {
				t.Fatalf("publish through supernode %d: %v", i, err)
			}
			keys = append(keys, record.PresenceKey(id.NodeID()))
		}
		lookAll := func(from []*testSN) (found, asked int) {
			for _, s := range from {
				for _, key := range keys {
					asked++
					if r := s.dir.lookup(ctx, key); r != nil && len(r.Records) == 1 {
						found++
					}
				}
			}
			return found, asked
		}
		if found, asked := lookAll(all); found != asked {
			t.Fatalf("lookups through every supernode: %d of %d found", found, asked)
		}

		// One stops; the others find every record still (3 replicas).
		gone := all[n]
		rest := all[:n]
		linked := make([]bool, len(rest))
		for i, s := range rest {
			linked[i] = s.mem.peerLink(gone.ID()) != nil
		}
		gone.stop()
		// Replicas are pushed after the first store, and again to new
		// holders after a view change: a record whose copies were not all
		// in place may be missing for a moment, not for good.
		waitFor(t, 30*time.Second, "every record found again after a supernode stopped", func() bool {
			found, asked := lookAll(rest)
			return found == asked
		})
		// Those linked to it saw the link fail; the others learn when a dial
		// to it fails or its announcement expires.
		for i, s := range rest {
			if linked[i] && s.mem.inView(gone.ID()) {
				t.Errorf("supernode %d was linked to the stopped one and still holds it in its view", i)
			}
		}

	})
}
