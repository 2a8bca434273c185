package overlay

import (
	"bytes"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

func TestMembershipTrustsOnlyElectedSupernodesAndDropsTheDead(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed := startSN(t, func(c *SupernodeConfig) { c.Seed = true })
		join := func(c *SupernodeConfig) {
			c.Join = []SeedAddr{seed.seedAddr()}
			c.Seeds = []SeedAddr{seed.seedAddr()}
		}
		a := startSN(t, join)
		// rogue links into the mesh and claims to be a seed, but no peer was
		// configured with it as one, and it is never endorsed: its own seed
		// list is empty, so it asks nobody to dial it back.
		rogue := startSN(t, func(c *SupernodeConfig) {
			c.Seed = true
			c.Join = []SeedAddr{seed.seedAddr()}
		})
		waitFor(t, 5*time.Second, "a endorsed and in the seed's view", func() bool { return seed.mem.inView(a.ID()) && a.mem.inView(seed.ID()) })
		waitFor(t, 5*time.Second, "rogue linked", func() bool { return seed.mem.peerLink(rogue.ID()) != nil })
		time.Sleep(500 * time.Millisecond) // announcements have gone round
		rid := rogue.ID()
		for _, s := range []*testSN{seed, a} {
			if s.mem.inView(rogue.ID()) {
				t.Fatalf("%s holds the unelected supernode in its view", s.ID().Short())
			}
			for _, sn := range s.Supernodes() {
				if bytes.Equal(sn.ID, rid[:]) {
					t.Fatalf("%s hands out the unelected supernode to leaves", s.ID().Short())
				}
			}
		}
		if got := seed.Stats().View; got != 2 {
			t.Fatalf("seed's view has %d supernodes, want 2 (itself and a)", got)
		}
		// A supernode that stops drops out of the view: at once when it says
		// Bye, as here; a silent one when its link misses three heartbeats
		// (the link timeout itself is TestSilentLeafDropped's).
		a.stop()
		died := time.Now()
		waitFor(t, 2*time.Second, "a dropped from the view", func() bool { return !seed.mem.inView(a.ID()) })
		t.Logf("dropped from the view %v after it stopped", time.Since(died))
	})
}

// TestTrustSpreadsOnlyThroughValidEndorsements: whom a supernode trusts,
// worked out from the announcements it heard: the seeds, then supernodes
// endorsed by two distinct trusted ones, however deep the chain; never one
// with a single endorser (even listed twice), one endorsed by untrusted
// supernodes, one whose endorsement expired or was forged.
func TestTrustSpreadsOnlyThroughValidEndorsements(t *testing.T) {
	now := time.Now()
	const addr = "127.0.0.1:1" // refused at once: the mesh dials it makes end there
	ids := make([]*identity.Identity, 10)
	for i := range ids {
		ids[i] = mustIdentity(t)
	}
	seeds := []SeedAddr{{Addr: addr, ID: ids[0].NodeID()}, {Addr: addr, ID: ids[1].NodeID()}}
	sn, err := NewSupernode(SupernodeConfig{Identity: mustIdentity(t), Listen: "127.0.0.1:0", Seeds: seeds})
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	endorse := func(by, of int, ttl time.Duration) wire.Endorsement {
		return record.NewEndorsement(ids[by], ids[of].NodeID(), addr, now, ttl)
	}
	forged := endorse(1, 8, time.Hour)
	forged.Sig = bytes.Clone(forged.Sig)
	forged.Sig[0] ^= 1
	bodies := map[int][]wire.Endorsement{
		2: {endorse(0, 2, time.Hour), endorse(1, 2, time.Hour)},        // by both seeds
		3: {endorse(2, 3, time.Hour), endorse(0, 3, time.Hour)},        // by 2 and a seed
		4: {endorse(3, 4, time.Hour), endorse(2, 4, time.Hour)},        // deeper in the chain
		5: {endorse(4, 5, time.Hour), endorse(4, 5, time.Hour)},        // one endorser, twice
		6: {endorse(7, 6, time.Hour), endorse(5, 6, time.Hour)},        // by untrusted ones only
		7: {endorse(0, 7, time.Hour), endorse(1, 7, time.Millisecond)}, // one expires at once
		8: {endorse(0, 8, time.Hour), forged},                          // one forged
		9: {endorse(0, 9, time.Hour), endorse(9, 9, time.Hour)},        // a self-endorsement
	}
	// Heard in an order where the chain comes backwards.
	for i := 9; i >= 0; i-- {
		rec, err := record.NewAnnounce(ids[i], wire.AnnounceBody{Addr: addr, Seed: i < 2, Endorsements: bodies[i]}, 1, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sn.mem.receiveAnnounce(ids[(i+1)%10].NodeID(), rec, false)
	}
	// The digest kept as announcements come is the one worked out from
	// scratch.
	sn.mem.mu.Lock()
	var sum uint64
	for id, h := range sn.mem.announces {
		sum += announceHash(id, h.rec.Seq)
	}
	if sn.mem.digestLocked() != sum|1 || len(sn.mem.announces) != 10 {
		t.Errorf("digest %x of %d announcements, want %x of 10", sn.mem.digestLocked(), len(sn.mem.announces), sum|1)
	}
	sn.mem.mu.Unlock()
	got := sn.mem.trusted(now.Add(time.Second))
	for i, want := range []bool{true, true, true, true, true, false, false, false, false, false} {
		if got[ids[i].NodeID()] != want {
			t.Errorf("supernode %d trusted: %v, want %v", i, got[ids[i].NodeID()], want)
		}
	}
	if !got[sn.ID()] || len(got) != 6 {
		t.Errorf("trusts %d supernodes (itself %v), want 6: itself, two seeds, three elected", len(got), got[sn.ID()])
	}
}
