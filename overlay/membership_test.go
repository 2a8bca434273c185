package overlay

import (
	"bytes"
	"testing"
	"time"
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
