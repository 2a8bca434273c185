package overlay

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// Election. Leaves that can serve offer themselves (Candidacy) to their
// primary supernode, with their uptime, whether they have resources to spare
// and whether their user allows it. The supernode — not the leaf — picks
// two supernodes (itself only when the view has fewer than two others) to
// dial the candidate back over TCP and UDP; each that reaches it signs an
// endorsement. Every ElectionInterval a supernode whose primary leaves
// exceed its high watermark promotes its best eligible leaf (fresh
// endorsements from requiredEndorsements trusted supernodes, up for MinUptime, spare resources,
// not opted out, not demoted within Cooldown) and, once the new supernode is
// in the view, moves some of its leaves there. A supernode that is not a
// seed and not pinned demotes itself after its load has stayed under the
// low watermark for DemoteAfter, if it has served MinTenure and the view
// keeps MinSupernodes without it: it moves its leaves to others first. The
// gap between the watermarks, the tenure and the cooldown keep nodes from
// flapping. Overload never shuts a supernode down: it redirects.

// election runs a supernode's side of the election: its leaves' offers,
// dial-backs for other supernodes, promotions and the moves after them.
// Its lock is taken before the supernode's, never after.
type election struct {
	sn *Supernode

	mu          sync.Mutex
	candidates  map[identity.NodeID]*candidacy // guarded by mu
	pendingMove map[identity.NodeID]int        // guarded by mu: leaves to move to a promoted node
	rng         *rand.Rand                     // guarded by mu
	promotions  atomic.Uint64
	demotions   atomic.Uint64
}

// newElection makes the election of sn, with a random source drawn from
// sn's (so that a simulation stays deterministic per seed).
func newElection(sn *Supernode) *election {
	return &election{
		sn:          sn,
		candidates:  make(map[identity.NodeID]*candidacy),
		pendingMove: make(map[identity.NodeID]int),
		rng:         rand.New(rand.NewPCG(sn.rng.Uint64(), sn.rng.Uint64())),
	}
}

// candidacy is what a supernode knows of one of its leaves' offers.
type candidacy struct {
	addr         string
	uptime       time.Duration // as reported, at seen
	seen         time.Time
	spare        bool
	optOut       bool
	demotedAgo   time.Duration // 0: never demoted
	endorsements []wire.Endorsement
	verifying    bool
}

// promotionSettle is how many election intervals a promotion may take to
// join the view and take its leaves before the next one is allowed.
const promotionSettle = 10

// watermarks returns the promotion and demotion thresholds in primary leaves.
func (s *election) watermarks() (high, low int) {
	high = min(s.sn.cfg.MaxLeaves*4/5, s.sn.cfg.TargetLeaves*3/2)
	low = max(1, s.sn.cfg.TargetLeaves/5)
	return high, low
}

// candidateAddr is where others must dial a candidate: the address we see
// it at, with the port it says it listens on.
func candidateAddr(l *Link, offered string) string {
	_, port, err := net.SplitHostPort(offered)
	if err != nil {
		return ""
	}
	host, _, err := net.SplitHostPort(l.RemoteAddr().String())
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// leafGone forgets the offer of a leaf that logged out.
func (s *election) leafGone(id identity.NodeID) {
	s.mu.Lock()
	delete(s.candidates, id)
	s.mu.Unlock()
}

// handleCandidacy records a leaf's offer and, when it needs endorsements,
// has it dialled back.
func (s *election) handleCandidacy(l *Link, m *wire.Candidacy) {
	id := l.Peer()
	addr := candidateAddr(l, m.Addr)
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	c := s.candidates[id]
	if c == nil {
		c = &candidacy{}
		s.candidates[id] = c
	}
	if c.addr != addr {
		c.endorsements = nil
	}
	c.addr, c.uptime, c.seen = addr, time.Duration(m.UptimeS)*time.Second, now
	c.spare, c.optOut, c.demotedAgo = m.Spare, m.OptOut, time.Duration(m.DemotedS)*time.Second
	need := !c.optOut && addr != "" && !c.verifying && s.freshEndorsementsLocked(id, c, now) < s.sn.mem.requiredEndorsements()
	if need {
		c.verifying = true
	}
	s.mu.Unlock()
	s.sn.log.Debug("candidacy", "leaf", id.Short(), "addr", addr, "verify", need)
	if !need {
		l.Send(&wire.Endorsed{ReqID: m.ReqID, Reason: "no verification needed now"})
		return
	}
	go func() {
		ends := s.verifyCandidate(id, addr)
		s.sn.log.Debug("candidate verified", "leaf", id.Short(), "endorsements", len(ends))
		s.mu.Lock()
		if c := s.candidates[id]; c != nil {
			c.verifying = false
			if c.addr == addr {
				c.endorsements = ends
			}
		}
		s.mu.Unlock()
		reason := ""
		if len(ends) < s.sn.mem.requiredEndorsements() {
			reason = "not reachable from outside over TCP and UDP"
		}
		l.Send(&wire.Endorsed{ReqID: m.ReqID, Endorsements: ends, Reason: reason})
	}()
}

// freshEndorsementsLocked counts a candidate's valid endorsements from
// distinct trusted supernodes. s.mu must be held (membership's lock is
// taken inside).
func (s *election) freshEndorsementsLocked(id identity.NodeID, c *candidacy, now time.Time) int {
	trusted := s.sn.mem.trusted(now)
	return record.CountEndorsements(wire.AnnounceBody{Addr: c.addr, Endorsements: c.endorsements}, id, now, func(v identity.NodeID) bool { return trusted[v] })
}

// verifyCandidate has two supernodes of this one's choosing dial the
// candidate back, and returns the endorsements they made.
func (s *election) verifyCandidate(id identity.NodeID, addr string) []wire.Endorsement {
	ring := s.sn.mem.currentRing()
	var verifiers []identity.NodeID
	for _, v := range ring.IDs() {
		if v != s.sn.ID() && v != id {
			verifiers = append(verifiers, v)
		}
	}
	s.mu.Lock()
	s.rng.Shuffle(len(verifiers), func(i, j int) { verifiers[i], verifiers[j] = verifiers[j], verifiers[i] })
	s.mu.Unlock()
	if len(verifiers) > 2 {
		verifiers = verifiers[:2]
	}
	if len(verifiers) < 2 {
		verifiers = append(verifiers, s.sn.ID())
	}
	results := make(chan *wire.Endorsement, len(verifiers))
	for _, v := range verifiers {
		go func() {
			if v == s.sn.ID() {
				results <- s.endorse(id, addr)
				return
			}
			ctx, cancel := context.WithTimeout(s.sn.ctx, 3*probeTimeout)
			defer cancel()
			l := s.sn.mem.linkTo(ctx, v)
			if l == nil {
				results <- nil
				return
			}
			m, err := l.Call(ctx, func(r uint64) wire.Message { return &wire.DialBack{ReqID: r, Candidate: id[:], Addr: addr} })
			if e, ok := m.(*wire.Endorsed); err == nil && ok && len(e.Endorsements) == 1 {
				results <- &e.Endorsements[0]
				return
			}
			results <- nil
		}()
	}
	var out []wire.Endorsement
	for range verifiers {
		if e := <-results; e != nil {
			if _, err := record.VerifyEndorsement(*e, id, addr, s.sn.cfg.Clock.Now()); err == nil {
				out = append(out, *e)
			}
		}
	}
	return out
}

// endorse dials a candidate back itself and signs an endorsement if it
// answered over TCP and UDP.
func (s *election) endorse(id identity.NodeID, addr string) *wire.Endorsement {
	host, _, _ := net.SplitHostPort(s.sn.Addr())
	if err := checkReachable(s.sn.ctx, s.sn.cfg.Network, s.sn.cfg.Identity, id, addr, host); err != nil {
		s.sn.log.Debug("dial-back failed", "candidate", id.Short(), "addr", addr, "err", err)
		return nil
	}
	e := record.NewEndorsement(s.sn.cfg.Identity, id, addr, s.sn.cfg.Clock.Now(), s.sn.cfg.EndorsementTTL)
	return &e
}

// handleDialBack answers a peer supernode's request to verify a candidate.
func (s *election) handleDialBack(l *Link, m *wire.DialBack) {
	var id identity.NodeID
	if len(m.Candidate) != len(id) {
		l.Send(&wire.Endorsed{ReqID: m.ReqID, Reason: "bad candidate"})
		return
	}
	copy(id[:], m.Candidate)
	go func() {
		if e := s.endorse(id, m.Addr); e != nil {
			l.Send(&wire.Endorsed{ReqID: m.ReqID, Endorsements: []wire.Endorsement{*e}})
			return
		}
		l.Send(&wire.Endorsed{ReqID: m.ReqID, Reason: "not reachable"})
	}()
}

// eligibleLocked reports whether a candidate may be promoted now.
func (s *election) eligibleLocked(id identity.NodeID, c *candidacy, now time.Time) bool {
	up := c.uptime + now.Sub(c.seen)
	cooled := c.demotedAgo == 0 || c.demotedAgo+now.Sub(c.seen) >= s.sn.cfg.Cooldown
	return !c.optOut && c.spare && cooled && up >= s.sn.cfg.MinUptime && s.freshEndorsementsLocked(id, c, now) >= s.sn.mem.requiredEndorsements()
}

// electionLoop promotes and demotes, every ElectionInterval.
func (s *election) electionLoop(ctx context.Context) {
	started := s.sn.cfg.Clock.Now()
	var lowSince, lastPromotion time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(s.sn.cfg.ElectionInterval):
		}
		now := s.sn.cfg.Clock.Now()
		high, low := s.watermarks()
		load, viewSize := s.sn.load()
		s.mu.Lock()
		var best identity.NodeID
		var bestUp time.Duration
		var bestLink *Link
		// One promotion at a time: the next waits until the last one's
		// leaves have moved (its node joined the view), or it timed out.
		settling := len(s.pendingMove) > 0 && now.Sub(lastPromotion) < promotionSettle*s.sn.cfg.ElectionInterval
		if !settling {
			clear(s.pendingMove)
		}
		if load > high && !settling && now.Sub(lastPromotion) >= s.sn.cfg.ElectionInterval {
			for id, c := range s.candidates {
				link, standby := s.sn.leafState(id)
				if link == nil || standby || !s.eligibleLocked(id, c, now) {
					continue
				}
				if up := c.uptime + now.Sub(c.seen); bestLink == nil || up > bestUp {
					best, bestUp, bestLink = id, up, link
				}
			}
		}
		var ends []wire.Endorsement
		if bestLink != nil {
			ends = s.candidates[best].endorsements
			s.pendingMove[best] = (load - s.sn.cfg.TargetLeaves) / 2
			lastPromotion = now
		}
		s.mu.Unlock()
		if bestLink != nil {
			s.sn.log.Info("promoting leaf", "leaf", best.Short(), "load", load, "high", high)
			s.promotions.Add(1)
			bestLink.Send(&wire.Promote{Endorsements: ends})
		}
		if s.sn.cfg.Seed || s.sn.cfg.Pinned || load >= low || viewSize <= s.sn.cfg.MinSupernodes || now.Sub(started) < s.sn.cfg.MinTenure {
			lowSince = time.Time{}
			continue
		}
		if lowSince.IsZero() {
			lowSince = now
		}
		if now.Sub(lowSince) >= s.sn.cfg.DemoteAfter {
			s.demotions.Add(1)
			s.demote()
			return
		}
	}
}

// movePending moves some leaves to a newly promoted supernode once it is
// in the view.
func (s *election) movePending() {
	s.mu.Lock()
	var moves []*Link
	var target wire.Supernode
	for id, n := range s.pendingMove {
		info, ok := s.sn.mem.peerInView(id)
		if !ok {
			continue
		}
		delete(s.pendingMove, id)
		target = info
		moves = s.sn.primaryLeafLinks(id, n)
		break
	}
	s.mu.Unlock()
	if len(moves) == 0 {
		return
	}
	// Spread the moves so that the new supernode's login rate takes them:
	// a burst past it would be turned away and tried again.
	per := time.Second / time.Duration(max(1, s.sn.cfg.LoginRate/2))
	go func() {
		for _, l := range moves {
			l.Send(&wire.Move{Supernode: target})
			select {
			case <-s.sn.ctx.Done():
				return
			case <-s.sn.cfg.Clock.After(per):
			}
		}
	}()
}

// demote moves every leaf to the least loaded other supernodes, then stops
// this supernode and tells its owner.
func (s *election) demote() {
	others := s.sn.mem.viewPeers()
	links := s.sn.leafLinks()
	s.sn.log.Info("demoting: load stayed under the low watermark", "leaves", len(links))
	if len(others) > 0 {
		for i, l := range links {
			l.Send(&wire.Move{Supernode: others[i%len(others)]})
		}
	}
	if s.sn.cfg.OnDemote != nil {
		go s.sn.cfg.OnDemote()
	}
	s.sn.Close()
}
