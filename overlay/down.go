package overlay

import (
	"crypto/ed25519"
	"slices"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// Down notices. A supernode that dies is noticed first by those linked to
// it, its ring neighbours among them (linkNeighbours keeps those links).
// Without notices, every other supernode kept it in its view until its
// announcement expired, and that is what kept announcements short-lived
// and re-announced every few minutes: a cost that grows with the tier.
//
//   - A supernode within downNear ring positions of X whose link to X
//     fails dials X back once; if that dial fails too, it signs a notice
//     down(X, seq of X's announcement) and gossips it like an
//     announcement.
//   - A supernode that stops signs one of itself (a farewell) and sends it
//     to every supernode it is linked to before it closes the links.
//   - A notice counts when X itself signed it, or downQuorum distinct
//     supernodes in the view, each within downNear ring positions of X:
//     one hostile supernode cannot take another out of the tier. X then
//     leaves the view (suspectedLocked) until an announcement of it newer
//     than the notice comes.
//   - A live X refutes a notice about itself with a fresh announcement, at
//     most once per refuteEvery.
const (
	downNear    = 4
	downQuorum  = 2
	downTTL     = record.MaxAnnounceTTL // as long as the announcement it voids may live
	refuteEvery = 10 * time.Second
)

// ringHeartbeat is how often a supernode pings its ring neighbours (other
// links: SupernodeConfig.Heartbeat, 15 s): a link silent for three
// intervals fails, so a ring neighbour notices a crash within about 9 s.
// Each end decides for itself; the other answers every Ping with a Pong.
const ringHeartbeat = 3 * time.Second

// heartbeat returns the Ping interval of the link to supernode id:
// ringHeartbeat if id is one of this supernode's ring neighbours, else the
// configured heartbeat (if shorter, that).
func (s *membership) heartbeat(id identity.NodeID) time.Duration {
	beat := s.sn.cfg.Heartbeat
	s.mu.Lock()
	defer s.mu.Unlock()
	if beat > ringHeartbeat && s.ring != nil && slices.Contains(s.ring.Neighbours(s.sn.ID(), ringNeighbours), id) {
		return ringHeartbeat
	}
	return beat
}

// downs is what a supernode holds of the notices about one supernode.
type downs struct {
	seq     uint64                              // the announcement they are about
	notices map[identity.NodeID]wire.DownNotice // by signer
	at      time.Time                           // when the last one came, for gossipOnce
	down    bool                                // they count: out of the view
}

// downLocked reports whether id is down by notices that count, as of an
// announcement no newer than seq. s.mu must be held.
func (s *membership) downLocked(id identity.NodeID, seq uint64) bool {
	d := s.downs[id]
	return d != nil && d.down && seq <= d.seq
}

// receiveDown takes notices gossiped by from (this supernode's own, when
// from is its ID), passes on the new ones that check out, and updates the
// view when a supernode is down by them. Cheap checks come before the
// signature.
func (s *membership) receiveDown(from identity.NodeID, notices []wire.DownNotice) {
	now := s.sn.cfg.Clock.Now()
	var fresh []wire.DownNotice
	changed, refute := false, false
	for _, n := range notices {
		if len(n.Node) != len(identity.NodeID{}) || len(n.Signer) != ed25519.PublicKeySize {
			continue
		}
		node, signer := identity.NodeID(n.Node), identity.NodeIDOf(n.Signer)
		if (refute && node == s.sn.ID()) || !s.mayCount(node, signer, n.Seq) {
			continue
		}
		if _, _, err := record.VerifyDownNotice(n, now); err != nil {
			s.sn.log.Debug("down notice refused", "from", from.Short(), "err", err)
			continue
		}
		if node == s.sn.ID() {
			refute = true
			continue
		}
		s.mu.Lock()
		d := s.downs[node]
		if d == nil || d.seq < n.Seq {
			d = &downs{seq: n.Seq, notices: make(map[identity.NodeID]wire.DownNotice)}
			s.downs[node] = d
		}
		if _, dup := d.notices[signer]; !dup && d.seq == n.Seq {
			d.notices[signer], d.at = n, now
			fresh = append(fresh, n)
			// Its own farewell counts at once, and a quorum of its ring
			// neighbours' notices even while this supernode still holds a
			// link to it (on links other than the ring's, silence shows
			// only after 45 s); if it lives, it refutes them.
			if !d.down && (signer == node || len(d.notices) >= downQuorum) {
				d.down, changed = true, true
				s.downPushLocked(node, d.seq)
			}
		}
		s.mu.Unlock()
	}
	if refute {
		s.refute()
	}
	if len(fresh) > 0 {
		s.spreadDown(from, fresh)
	}
	if changed {
		s.viewChanged()
	}
}

// mayCount reports whether a notice about node signed by signer as of seq
// could count here: about the announcement of node held here (a newer
// one only in node's own farewell), not held yet, and signed by node itself or by a supernode in
// the view within downNear ring positions of node. One about this
// supernode is looked at (to refute it) if it could count elsewhere.
func (s *membership) mayCount(node, signer identity.NodeID, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.announces[node]
	if h == nil || seq < h.rec.Seq || (seq > h.rec.Seq && signer != node) {
		// About an older announcement, or a newer one than held: only
		// the node itself may speak of that (a farewell that overtook its
		// last announcement); from others it would void the notices held.
		return false
	}
	if node == s.sn.ID() {
		// Refuted only if it could count elsewhere: signed by a supernode
		// near this one in its view.
		return signer != node && s.ring != nil && s.ring.Contains(signer) &&
			slices.Contains(s.ring.Neighbours(node, downNear), signer)
	}
	if d := s.downs[node]; d != nil && d.seq == seq {
		if _, dup := d.notices[signer]; dup {
			return false
		}
	}
	if signer == node {
		return true
	}
	if s.ring == nil || !s.ring.Contains(signer) {
		return false
	}
	return slices.Contains(s.ring.Neighbours(node, downNear), signer)
}

// refute answers a notice that this supernode is down with a fresh
// announcement, which voids every notice about an older one: at once, or
// refuteEvery after the last refutation (never dropped, or the notice
// would stand until the next announcement).
func (s *membership) refute() {
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	if s.refutePending {
		s.mu.Unlock()
		return
	}
	wait := time.Duration(0)
	if !s.refuted.IsZero() && now.Sub(s.refuted) < refuteEvery {
		wait = refuteEvery - now.Sub(s.refuted) // not dropped: delayed
	}
	s.refutePending = true
	s.mu.Unlock()
	s.sn.wg.Add(1)
	go func() {
		defer s.sn.wg.Done()
		if wait > 0 {
			select {
			case <-s.sn.ctx.Done():
				return
			case <-s.sn.cfg.Clock.After(wait):
			}
		}
		s.mu.Lock()
		s.refutePending, s.refuted = false, s.sn.cfg.Clock.Now()
		s.mu.Unlock()
		s.sn.log.Info("refuting a notice that this supernode is down")
		s.announce()
	}()
}

// spreadDown passes notices on down the dissemination tree (the eager
// links, tree.go), not back to from; gossipOnce repairs what it misses.
func (s *membership) spreadDown(from identity.NodeID, notices []wire.DownNotice) {
	s.mu.Lock()
	to := s.eagerLocked(from, from)
	s.mu.Unlock()
	for _, l := range to {
		l.Send(&wire.Down{Notices: notices})
	}
}

// nearLocked reports whether this supernode is within downNear ring
// positions of id, so that its notice about id would count. s.mu must be
// held.
func (s *membership) nearLocked(id identity.NodeID) bool {
	return s.ring != nil && slices.Contains(s.ring.Neighbours(id, downNear), s.sn.ID())
}

// confirmDown dials id back after its link failed, if this supernode is
// near it on the ring and id did not say it was leaving; if the dial fails
// too, it signs a notice. It dials on its own, not through dialPeer: the
// link that failed may be the one dialPeer made, whose dial counts as in
// flight until the link's end has run.
func (s *membership) confirmDown(id identity.NodeID, addr string) {
	s.mu.Lock()
	near := s.nearLocked(id)
	if h := s.announces[id]; h != nil && s.downLocked(id, h.rec.Seq) {
		near = false // down already
	}
	s.mu.Unlock()
	if !near || addr == "" || s.sn.isClosed() {
		return
	}
	s.sn.wg.Add(1)
	go func() {
		defer s.sn.wg.Done()
		if err := s.linkPeer(addr, id); err != nil && !s.sn.isClosed() {
			s.noticeDown(id)
		}
	}()
}

// noticeDown signs and spreads a notice that id is down, if this supernode
// is near it on the ring and holds its announcement.
func (s *membership) noticeDown(id identity.NodeID) {
	s.mu.Lock()
	h := s.announces[id]
	near := s.nearLocked(id)
	s.mu.Unlock()
	if h == nil || !near {
		return
	}
	s.sn.log.Info("supernode down: link and dial back failed", "peer", id.Short())
	n := record.NewDownNotice(s.sn.cfg.Identity, id, h.rec.Seq, s.sn.cfg.Clock.Now(), downTTL)
	s.receiveDown(s.sn.ID(), []wire.DownNotice{n})
}

// farewell tells every linked supernode that this one is leaving, with a
// notice it signs of itself, before the links close.
func (s *membership) farewell() {
	s.mu.Lock()
	own := s.announces[s.sn.ID()]
	links := s.peerLinksLocked()
	s.mu.Unlock()
	if own == nil || len(links) == 0 {
		return
	}
	n := record.NewDownNotice(s.sn.cfg.Identity, s.sn.ID(), own.rec.Seq, s.sn.cfg.Clock.Now(), downTTL)
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, l := range links {
			wg.Add(1)
			go func() { defer wg.Done(); l.Send(&wire.Down{Notices: []wire.DownNotice{n}}) }()
		}
		wg.Wait()
		close(done)
	}()
	select { // a stalled peer does not hold the shutdown
	case <-done:
	case <-s.sn.cfg.Clock.After(farewellWait):
	}
}

// farewellWait bounds how long a stopping supernode waits for its
// farewells to be written.
const farewellWait = time.Second

// recentDownsLocked returns the notices that came in the last
// gossipRecent, for gossipOnce, and with all set every notice that counts,
// for a supernode that syncs the whole view. s.mu must be held.
func (s *membership) recentDownsLocked(now time.Time, all bool) []wire.DownNotice {
	var out []wire.DownNotice
	for id, d := range s.downs {
		if h := s.announces[id]; h == nil || h.rec.Seq > d.seq {
			delete(s.downs, id) // a newer announcement voids them, or none is left
			continue
		}
		if (all && d.down) || (!all && now.Sub(d.at) <= gossipRecent) {
			for _, n := range d.notices {
				if n.Expires > now.UnixMilli() {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// sendDowns sends notices over l, paged under the wire's list limit.
func sendDowns(l *Link, notices []wire.DownNotice) {
	for len(notices) > 0 {
		n := min(len(notices), gossipMax)
		if l.Send(&wire.Down{Notices: notices[:n]}) != nil {
			return
		}
		notices = notices[n:]
	}
}
