package overlay

import (
	"testing"
	"time"
)

// TestTreeCarriesEachAnnouncementAboutOnce: in a tier larger than its link
// bound (15 supernodes, MaxPeers 8), once the links settle, a supernode's
// new announcements reach every other supernode, and each is received
// whole about once per supernode (the eager links form a tree), not once
// per link as a flood would (about 7 times each at this bound).
func TestTreeCarriesEachAnnouncementAboutOnce(t *testing.T) {
	t.Parallel()
	inSim(t, func(t *testing.T) {
		const n, bound, rounds = 14, 8, 5
		all := quietTier(t, n, bound, nil)
		waitFor(t, 2*time.Minute, "every view holds the whole tier", func() bool { return viewsAre(all, n+1) })
		time.Sleep(time.Minute) // the links settle under the bound, the tree prunes

		whole := func() (total uint64) {
			for _, s := range all {
				total += s.Stats().Announces
			}
			return total
		}
		before := whole()
		from := all[3]
		for range rounds {
			from.mem.announce()
			time.Sleep(5 * time.Second)
		}
		seq := heldSeq(t, from, from)
		for i, s := range all {
			if s != from && heldSeq(t, s, from) != seq {
				t.Fatalf("supernode %d does not hold the last announcement", i)
			}
		}
		per := float64(whole()-before) / float64(rounds*n)
		t.Logf("each announcement received whole %.2f times per supernode", per)
		if per > 2 {
			t.Fatalf("each announcement received whole %.2f times per supernode, want at most 2 (a tree, not a flood)", per)
		}
	})
}

// TestTreeRepairsItselfByName: with every link of the tier lazy (the tree
// pruned away entirely, as if each eager link had gone), a new
// announcement still reaches every supernode, named by Have and asked for
// with Want, which grafts links back into the tree; and a supernode that
// stops still leaves every view, its farewell's notices named the same way.
func TestTreeRepairsItselfByName(t *testing.T) {
	t.Parallel()
	inSim(t, func(t *testing.T) {
		const n, bound = 14, 8
		all := quietTier(t, n, bound, nil)
		waitFor(t, 2*time.Minute, "every view holds the whole tier", func() bool { return viewsAre(all, n+1) })
		time.Sleep(time.Minute)

		allLazy := func() {
			for _, s := range all {
				s.mem.mu.Lock()
				for _, p := range s.mem.peers {
					p.lazy = true
				}
				s.mem.mu.Unlock()
			}
		}
		allLazy()
		from := all[5]
		from.mem.announce()
		seq := heldSeq(t, from, from)
		waitFor(t, 15*time.Second, "every supernode holds the new announcement", func() bool {
			for _, s := range all {
				if heldSeq(t, s, from) != seq {
					return false
				}
			}
			return true
		})
		grafted := 0
		for _, s := range all {
			s.mem.mu.Lock()
			for _, p := range s.mem.peers {
				if !p.lazy {
					grafted++
				}
			}
			s.mem.mu.Unlock()
		}
		if grafted == 0 {
			t.Fatal("no link was grafted back into the tree")
		}

		allLazy()
		stopped, rest := all[n], all[:n]
		go stopped.stop()
		start := time.Now()
		waitFor(t, 15*time.Second, "the stopped supernode is out of every view", func() bool {
			for _, s := range rest {
				if s.mem.inView(stopped.ID()) {
					return false
				}
			}
			return true
		})
		t.Logf("out of every view in %v", time.Since(start))
	})
}

// TestTrustHoldsThroughEndorsementRenewals: endorsements are renewed with
// a re-announcement, not on a timer of their own; with endorsements that
// live 4 minutes and announcements every 90 s (renewed at the one after
// which under 135 s would be left), a tier larger than its link bound
// renews each supernode's endorsements several times over 16 minutes, and
// every supernode stays trusted in every view throughout (renewing from
// any trusted peer once made trust collapse at the first renewal).
func TestTrustHoldsThroughEndorsementRenewals(t *testing.T) {
	t.Parallel()
	inSim(t, func(t *testing.T) {
		const n, bound = 14, 8
		all := quietTier(t, n, bound, func(c *SupernodeConfig) {
			c.EndorsementTTL = 4 * time.Minute
			c.AnnounceInterval = 90 * time.Second
		})
		waitFor(t, 2*time.Minute, "every view holds the whole tier", func() bool { return viewsAre(all, n+1) })
		first := make(map[*testSN]int64)
		for _, s := range all[1:] {
			first[s] = endorsedUntil(s)
		}
		for tick := range 16 * 12 {
			time.Sleep(5 * time.Second)
			for i, s := range all {
				if v := s.Stats().View; v != n+1 {
					t.Fatalf("after %v: supernode %d's view holds %d of %d", time.Duration(tick+1)*5*time.Second, i, v, n+1)
				}
			}
		}
		for i, s := range all[1:] {
			if endorsedUntil(s) <= first[s]+int64(8*time.Minute/time.Millisecond) {
				t.Errorf("supernode %d renewed its endorsements fewer than three times in 16 minutes", i+1)
			}
		}
	})
}

// endorsedUntil is when the first of s's own endorsements expires (unix ms).
func endorsedUntil(s *testSN) int64 {
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	var until int64
	for i, e := range s.mem.endorsements {
		if i == 0 || e.Expires < until {
			until = e.Expires
		}
	}
	return until
}

// quietTier is boundedTier with the production heartbeat (15 s) instead of
// the harness's 200 ms, so that minutes of virtual time stay cheap under
// the race detector, pinned (without leaves a supernode demotes itself
// after 40 minutes); mod, if not nil, changes every supernode's config.
func quietTier(t *testing.T, n, bound int, mod func(*SupernodeConfig)) []*testSN {
	t.Helper()
	set := func(c *SupernodeConfig) {
		c.MaxPeers = bound
		c.Heartbeat = 15 * time.Second
		c.Pinned = true
		if mod != nil {
			mod(c)
		}
	}
	seed := startSN(t, func(c *SupernodeConfig) { c.Seed = true; set(c) })
	all := []*testSN{seed}
	for range n {
		all = append(all, startSN(t, func(c *SupernodeConfig) {
			set(c)
			c.Join = []SeedAddr{seed.seedAddr()}
			c.Seeds = []SeedAddr{seed.seedAddr()}
		}))
	}
	return all
}
