package overlay

import (
	"net"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// TestDownNoticesTakeADeadSupernodeOutOfEveryView: in a tier larger than
// its link bound (15 supernodes, MaxPeers 8), a supernode that stops and
// one that crashes (cut off from the network, no goodbye) leave the view
// of every other supernode, linked to them or not, long before their
// announcements expire: by the farewell of the one that stops, and by the
// notices its ring neighbours sign for the one that crashed. A notice
// from one supernode alone takes no one out.
func TestDownNoticesTakeADeadSupernodeOutOfEveryView(t *testing.T) {
	inSim(t, func(t *testing.T) {
		w := worldOf(t)
		const n, bound = 14, 8
		all := boundedTier(t, n, bound)
		waitFor(t, 2*time.Minute, "every view holds the whole tier", func() bool { return viewsAre(all, n+1) })
		time.Sleep(time.Minute) // the links settle under the bound

		// gone leaves all views (those in rest) within limit, and none of
		// them held it by a link when it went.
		leaves := func(gone *testSN, rest []*testSN, limit time.Duration, what string) {
			t.Helper()
			unlinked := 0
			for _, s := range rest {
				if s.mem.peerLink(gone.ID()) == nil {
					unlinked++
				}
			}
			if unlinked == 0 {
				t.Fatalf("%s: every supernode is linked to it; the test needs some that are not", what)
			}
			start := time.Now()
			waitFor(t, limit, what+": out of every view", func() bool {
				for _, s := range rest {
					if s.mem.inView(gone.ID()) {
						return false
					}
				}
				return true
			})
			t.Logf("%s: out of all %d views (%d not linked to it) in %v", what, len(rest), unlinked, time.Since(start))
		}

		stopped, rest := all[n], all[:n]
		go stopped.stop()
		leaves(stopped, rest, 5*time.Second, "a supernode that stops")

		crashed, rest := rest[n-1], rest[:n-1]
		host := func(s *testSN) string { h, _, _ := net.SplitHostPort(s.Addr()); return h }
		var others []string
		for _, s := range rest {
			others = append(others, host(s))
		}
		w.net.Partition([]string{host(crashed)}, others)
		leaves(crashed, rest, 30*time.Second, "a supernode that crashed")
		for _, s := range rest {
			s.mem.mu.Lock()
			h := s.mem.announces[crashed.ID()]
			s.mem.mu.Unlock()
			if h == nil || h.rec.Expires <= time.Now().UnixMilli() {
				t.Fatalf("the crashed supernode's announcement expired or went: the notices did not take it out")
			}
		}

		// A notice about a newer announcement of the crashed one than any
		// held, from one supernode, voids nothing: it stays out.
		bump := record.NewDownNotice(rest[0].Supernode.cfg.Identity, crashed.ID(), heldSeq(t, rest[0], crashed)+1, time.Now(), downTTL)
		for _, s := range rest {
			s.mem.receiveDown(rest[0].ID(), []wire.DownNotice{bump})
		}
		for i, s := range rest {
			if s.mem.inView(crashed.ID()) {
				t.Fatalf("supernode %d took the crashed one back on a notice with a higher number", i)
			}
		}

		// One supernode's notice about a live one, spread through the tier:
		// the live one stays in every view (and refutes it where it hears).
		liar, target := rest[0], rest[len(rest)-1]
		liar.mem.mu.Lock()
		seq := liar.mem.announces[target.ID()].rec.Seq
		liar.mem.mu.Unlock()
		notice := record.NewDownNotice(liar.Supernode.cfg.Identity, target.ID(), seq, time.Now(), downTTL)
		for _, s := range rest {
			s.mem.receiveDown(liar.ID(), []wire.DownNotice{notice})
		}
		time.Sleep(10 * time.Second)
		for i, s := range rest {
			if !s.mem.inView(target.ID()) {
				t.Errorf("supernode %d took a live supernode out of its view on one notice", i)
			}
		}
	})
}

// heldSeq is the sequence number of the announcement of x that s holds.
func heldSeq(t *testing.T, s, x *testSN) uint64 {
	t.Helper()
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	h := s.mem.announces[x.ID()]
	if h == nil {
		t.Fatal("no announcement held")
	}
	return h.rec.Seq
}
