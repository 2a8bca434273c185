package overlay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// Membership: every supernode signs an announcement (a KindAnnounce record:
// its address, load and the endorsements that elected it) and gossips it
// over the mesh; each supernode passes announcements it had not seen on
// down a dissemination tree of its links (tree.go). A supernode trusts an
// announcement when it is a valid record and either comes from a
// configured seed or carries endorsements from two distinct supernodes it
// already trusts (see requiredEndorsements). The view — the supernodes
// that hold directory records — is itself plus every supernode it trusts
// and does not suspect: one whose link failed (it stops answering: three
// heartbeats), or whose dial failed, is suspected until a newer
// announcement of it comes; an announcement not refreshed expires.
//
// The links are bounded (SupernodeConfig.MaxPeers): each supernode keeps
// links to its ring neighbours, dials others up to a quarter of the bound,
// and links to record holders on demand (linkTo), closing the least
// recently used when over the bound. A small tier stays fully linked.
// Announcements go down the tree, and recent ones are named to a random
// peer every few seconds (gossipLoop) for those the tree missed.
// A supernode that dies leaves the views by signed down notices (down.go),
// so announcements live a day and are refreshed every 8 hours. See
// docs/MEMBERSHIP.md for the design.

// membership is a supernode's view of the supernode tier: its links to
// the other supernodes (the mesh), the announcements it heard, whom it
// trusts, and the ring of those it trusts. Its lock is taken after the
// supernode's, never before, and nothing else is locked while it is held.
type membership struct {
	sn *Supernode

	mu            sync.Mutex
	peers         map[identity.NodeID]*snPeer         // guarded by mu
	dialing       map[identity.NodeID]bool            // guarded by mu: mesh dials in flight
	suspects      map[identity.NodeID]suspicion       // guarded by mu: failed links or dials
	downs         map[identity.NodeID]*downs          // guarded by mu: down notices (down.go)
	refuted       time.Time                           // guarded by mu: the last refutation of a notice about this supernode
	refutePending bool                                // guarded by mu: a refutation waits (refute)
	waiters       map[identity.NodeID][]chan struct{} // guarded by mu: linkTo's, told when a dial ends
	announces     map[identity.NodeID]*heard          // guarded by mu: announcements heard, own included
	pending       []wire.AnnounceRef                  // guarded by mu: new announcements to name to lazy links (tree.go)
	recentLog     []recentRef                         // guarded by mu: announcements as they came, the oldest first (gossipOnce)
	nextExpiry    int64                               // guarded by mu: unix ms when an announcement or an endorsement held next expires (expire)
	pendingDowns  []wire.AnnounceRef                  // guarded by mu: supernodes newly down, to name to lazy links (tree.go)
	missing       map[wanted]*missing                 // guarded by mu: named to this supernode, not yet held (tree.go)
	sum           uint64                              // guarded by mu: digest of announces (see setAnnounceLocked)
	announceSeq   uint64                              // guarded by mu
	ring          *record.Ring                        // guarded by mu: the view
	endorsements  []wire.Endorsement                  // guarded by mu: own, announced
	rng           *rand.Rand                          // guarded by mu
	joinKick      chan struct{}

	received, receivedNew atomic.Uint64 // announcements received whole, and new ones (Stats)
}

// heard is an announcement as a supernode keeps it: the record, its body
// decoded and its endorsements verified once, when it came. Working out
// whom to trust then checks no signature: at a thousand supernodes,
// verifying every endorsement again at each view change cost more than
// everything else the tier did.
type heard struct {
	at        time.Time // when it came
	rec       *wire.Record
	body      wire.AnnounceBody
	endorsers []endorser // distinct verifiers whose endorsement was valid when it came
}

// endorser is a verified endorsement: who signed it and when it expires.
type endorser struct {
	id      identity.NodeID
	expires int64 // unix ms
}

// hear decodes rec (a valid announcement of supernode id) and verifies its
// endorsements at now.
func hear(rec *wire.Record, id identity.NodeID, now time.Time) (*heard, error) {
	body, err := record.DecodeAnnounce(rec)
	if err != nil {
		return nil, err
	}
	h := &heard{at: now, rec: rec, body: body}
	for _, e := range body.Endorsements {
		v, err := record.VerifyEndorsement(e, id, body.Addr, now)
		if err != nil || slices.ContainsFunc(h.endorsers, func(x endorser) bool { return x.id == v }) {
			continue
		}
		h.endorsers = append(h.endorsers, endorser{id: v, expires: e.Expires})
	}
	return h, nil
}

// isSeedAnnounce reports whether an announcement's seed claim matches a
// configured seed (by NodeID when pinned, else by address).
func (s *membership) isSeedAnnounce(id identity.NodeID, body wire.AnnounceBody) bool {
	for _, sd := range s.sn.cfg.Seeds {
		if (!sd.ID.IsZero() && sd.ID == id) || (sd.ID.IsZero() && sd.Addr == body.Addr) {
			return true
		}
	}
	return false
}

// requiredEndorsements is how many endorsements from distinct trusted
// supernodes make an announcement trusted: two, or one in a network
// configured with a single seed (else nobody could ever be elected there:
// the seed would be the only trusted verifier). Every peer with the same
// seed list computes the same number.
func (s *membership) requiredEndorsements() int {
	return max(1, min(2, len(s.sn.cfg.Seeds)))
}

// trustDepthsLocked computes the trusted supernodes and how far each is
// from the roots: the seeds (and this supernode, if self) at 0, then any
// whose announcement carries requiredEndorsements endorsements from
// trusted supernodes, at one more than the deepest of the endorsements
// that made it trusted. Trust spreads outwards from the roots, each
// announcement looked at once per endorser, and no signature is checked
// (see heard). Without self, every supernode with the same announcements
// computes the same depths. s.mu must be held.
func (s *membership) trustDepthsLocked(now time.Time, self bool) map[identity.NodeID]int {
	me := s.sn.ID()
	depth := make(map[identity.NodeID]int)
	var queue []identity.NodeID
	if self {
		depth[me] = 0
		queue = append(queue, me)
	}
	endorsed := make(map[identity.NodeID][]identity.NodeID) // endorser → supernodes it endorsed
	ms := now.UnixMilli()
	for id, h := range s.announces {
		if h.rec.Expires <= ms || (self && id == me) {
			continue
		}
		if h.body.Seed && s.isSeedAnnounce(id, h.body) {
			depth[id] = 0
			queue = append(queue, id)
			continue
		}
		for _, e := range h.endorsers {
			if e.expires > ms {
				endorsed[e.id] = append(endorsed[e.id], id)
			}
		}
	}
	need := s.requiredEndorsements()
	count := make(map[identity.NodeID]int)
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, id := range endorsed[v] {
			if _, ok := depth[id]; ok {
				continue
			}
			if count[id]++; count[id] >= need {
				depth[id] = depth[v] + 1 // the queue is in order of depth
				queue = append(queue, id)
			}
		}
	}
	return depth
}

// refreshViewLocked recomputes the view and ring; it returns the old and
// new rings when the view changed, else nils. s.mu must be held.
func (s *membership) refreshViewLocked() (oldRing, newRing *record.Ring) {
	now := s.sn.cfg.Clock.Now()
	trusted := s.trustDepthsLocked(now, true)
	ids := []identity.NodeID{s.sn.ID()}
	for id := range trusted {
		if id != s.sn.ID() && !s.suspectedLocked(id) {
			ids = append(ids, id)
		}
	}
	r := record.NewRing(ids)
	if s.ring != nil && slices.Equal(s.ring.IDs(), r.IDs()) {
		return nil, nil
	}
	oldRing, s.ring = s.ring, r
	if oldRing == nil {
		oldRing = record.NewRing(nil)
	}
	return oldRing, r
}

// viewChanged recomputes the view and, if it changed, hands records and
// subscriptions to their new holders.
func (s *membership) viewChanged() {
	s.mu.Lock()
	oldRing, newRing := s.refreshViewLocked()
	s.mu.Unlock()
	if newRing != nil {
		s.sn.log.Debug("view changed", "supernodes", newRing.Len())
		s.linkNeighbours()
		s.sn.dir.rereplicate(oldRing, newRing)
		s.sn.mail.rereplicateMail(oldRing, newRing)
		s.tellLeaves(oldRing, newRing)
	}
}

// tellLeaves hands this supernode's leaves the supernodes that joined the
// view, so that a leaf which logged in while the view was small finds its
// standbys (and refreshes its host cache) without logging in again.
func (s *membership) tellLeaves(oldRing, newRing *record.Ring) {
	s.mu.Lock()
	var joined []wire.Supernode
	for _, id := range newRing.IDs() {
		if oldRing.Contains(id) {
			continue
		}
		if info, ok := s.infoLocked(id); ok {
			joined = append(joined, info)
		}
	}
	s.mu.Unlock()
	if len(joined) == 0 {
		return
	}
	for _, l := range s.sn.leafLinks() {
		if err := sendSupernodes(l.Send, nil, joined); err != nil {
			s.sn.log.Debug("joined supernodes not sent to a leaf", "leaf", l.Peer().Short(), "err", err)
		}
	}
}

// peerLink returns the link to supernode id, or nil if none is up.
func (s *membership) peerLink(id identity.NodeID) *Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.peers[id]; p != nil {
		return p.link
	}
	return nil
}

// trusted returns the supernodes this one trusts now: seeds and itself,
// then those endorsed by trusted ones (see trustDepthsLocked).
func (s *membership) trusted(now time.Time) map[identity.NodeID]bool {
	s.mu.Lock()
	depths := s.trustDepthsLocked(now, true)
	s.mu.Unlock()
	trusted := make(map[identity.NodeID]bool, len(depths))
	for id := range depths {
		trusted[id] = true
	}
	return trusted
}

// peerInView returns supernode id's address if it is in the view.
func (s *membership) peerInView(id identity.NodeID) (wire.Supernode, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil || !s.ring.Contains(id) {
		return wire.Supernode{}, false
	}
	return s.infoLocked(id)
}

// viewPeers lists the supernodes in the view, other than this one, with
// the addresses others can dial.
func (s *membership) viewPeers() []wire.Supernode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		return nil
	}
	var out []wire.Supernode
	for _, id := range s.ring.IDs() {
		if info, ok := s.infoLocked(id); ok && id != s.sn.ID() {
			out = append(out, info)
		}
	}
	return out
}

// infoLocked returns how to reach supernode id: its link's address, or
// its announcement's. s.mu must be held.
func (s *membership) infoLocked(id identity.NodeID) (wire.Supernode, bool) {
	if p := s.peers[id]; p != nil && p.info.Addr != "" {
		return p.info, true
	}
	if h := s.announces[id]; h != nil && h.body.Addr != "" {
		return wire.Supernode{ID: bytes.Clone(id[:]), Addr: h.body.Addr, Seed: h.body.Seed}, true
	}
	return wire.Supernode{}, false
}

// suspectedLocked reports whether id is suspected: a link to it failed, or
// a dial, or down notices say it is down (down.go), and no newer
// announcement of it came since. s.mu must be held.
func (s *membership) suspectedLocked(id identity.NodeID) bool {
	h := s.announces[id]
	if h != nil && s.downLocked(id, h.rec.Seq) {
		return true
	}
	sp, ok := s.suspects[id]
	if !ok {
		return false
	}
	return h == nil || h.rec.Seq <= sp.seq
}

// redialSuspects dials, every suspectFor, the suspects still announced: a
// link made clears the suspicion (registerPeer), a dial that fails renews
// it. A dial can fail for a passing reason (a supernode busy with
// handshakes as a tier starts); a supernode that is dead stays out of the
// view until its announcement expires.
func (s *membership) redialSuspects() {
	now := s.sn.cfg.Clock.Now()
	var dial []wire.Supernode
	s.mu.Lock()
	for id, sp := range s.suspects {
		h := s.announces[id]
		if h == nil || h.rec.Seq > sp.seq || h.rec.Expires <= now.UnixMilli() {
			delete(s.suspects, id) // a newer announcement, or none left
			continue
		}
		if now.Sub(sp.since) >= suspectFor && s.peers[id] == nil && !s.dialing[id] && h.body.Addr != "" {
			sp.since = now
			s.suspects[id] = sp
			dial = append(dial, wire.Supernode{ID: bytes.Clone(id[:]), Addr: h.body.Addr})
		}
	}
	s.mu.Unlock()
	for _, sn := range dial {
		s.dialPeer(sn.Addr, identity.NodeID(sn.ID))
	}
}

// suspicion is why a supernode is suspected: since when, and the sequence
// number of its announcement then (a newer one clears it).
type suspicion struct {
	since time.Time
	seq   uint64
}

// suspectFor is how often a suspect still announced is dialled again
// (redialSuspects).
const suspectFor = 20 * time.Second

// suspect marks id as suspected (its link or a dial to it failed) and
// updates the view.
func (s *membership) suspect(id identity.NodeID) {
	s.mu.Lock()
	var seq uint64
	if h := s.announces[id]; h != nil {
		seq = h.rec.Seq
	}
	s.suspects[id] = suspicion{since: s.sn.cfg.Clock.Now(), seq: seq}
	s.mu.Unlock()
	s.viewChanged()
}

// counts returns how many supernodes are linked and how many are in the
// view (itself included).
func (s *membership) counts() (linked, view int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil {
		view = s.ring.Len()
	}
	return len(s.peers), view
}

// currentRing returns the ring of the current view.
func (s *membership) currentRing() *record.Ring {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		s.refreshViewLocked()
	}
	return s.ring
}

// inView reports whether id is in the current view.
func (s *membership) inView(id identity.NodeID) bool { return s.currentRing().Contains(id) }

// myAnnounce signs a fresh announcement of this supernode.
func (s *membership) myAnnounce() (*wire.Record, error) {
	primaries, _ := s.sn.load()
	body := wire.AnnounceBody{
		Addr:     s.sn.advertised(),
		Seed:     s.sn.cfg.Seed,
		Leaves:   uint32(primaries),
		Capacity: uint32(s.sn.cfg.MaxLeaves),
	}
	s.mu.Lock()
	body.Endorsements = slices.Clone(s.endorsements)
	s.announceSeq = max(s.announceSeq+1, uint64(s.sn.cfg.Clock.Now().UnixMilli()))
	seq := s.announceSeq
	s.mu.Unlock()
	if body.Addr == "" {
		return nil, nil // not reachable yet: nothing to announce
	}
	return record.NewAnnounce(s.sn.cfg.Identity, body, seq, s.sn.cfg.Clock.Now(), s.sn.cfg.AnnounceTTL)
}

// announce signs a fresh announcement, keeps it and sends it to every peer.
func (s *membership) announce() {
	rec, err := s.myAnnounce()
	if err != nil || rec == nil {
		if err != nil {
			s.sn.log.Warn("cannot announce", "err", err)
		}
		return
	}
	h, err := hear(rec, s.sn.ID(), s.sn.cfg.Clock.Now())
	if err != nil {
		s.sn.log.Warn("cannot announce", "err", err)
		return
	}
	s.mu.Lock()
	s.setAnnounceLocked(s.sn.ID(), h)
	eager := s.pushLocked(s.sn.ID(), rec.Seq, s.sn.ID())
	s.mu.Unlock()
	for _, l := range eager {
		l.Send(&wire.Announce{Record: *rec, Push: true})
	}
}

// peerLinksLocked lists the links to peer supernodes. s.mu must be held.
func (s *membership) peerLinksLocked() []*Link {
	out := make([]*Link, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p.link)
	}
	return out
}

// receiveAnnounce validates and keeps an announcement from a linked
// supernode, passes it on down the tree if it is new (tree.go), and dials
// its supernode if it wants a link to it (see wantLinkLocked). One heard
// before is dropped by its sequence number, before any signature is
// checked; if it was pushed, the link it came by leaves the tree (prune).
func (s *membership) receiveAnnounce(from identity.NodeID, rec *wire.Record, pushed bool) {
	if rec.Kind != wire.KindAnnounce || len(rec.Owner) != ed25519.PublicKeySize {
		s.sn.log.Debug("announcement refused", "from", from.Short(), "kind", rec.Kind)
		return
	}
	id := identity.NodeIDOf(rec.Owner)
	s.received.Add(1)
	if id == s.sn.ID() || !s.newer(id, rec.Seq) {
		if pushed {
			s.prune(from)
		}
		return
	}
	if _, err := s.sn.cfg.policy().Validate(rec); err != nil {
		s.sn.log.Debug("announcement refused", "from", from.Short(), "err", err)
		return
	}
	h, err := hear(rec, id, s.sn.cfg.Clock.Now())
	if err != nil {
		return
	}
	s.mu.Lock()
	if old := s.announces[id]; old != nil && old.rec.Seq >= rec.Seq {
		s.mu.Unlock()
		return // a newer one came meanwhile
	}
	s.setAnnounceLocked(id, h)
	s.receivedNew.Add(1)
	eager := s.pushLocked(id, rec.Seq, from)
	want := s.wantLinkLocked(id) // a ring neighbour, or links to spare
	s.mu.Unlock()
	for _, l := range eager {
		l.Send(&wire.Announce{Record: *rec, Push: true})
	}
	if want && h.body.Addr != "" {
		s.dialPeer(h.body.Addr, id)
	}
	s.viewChanged()
}

// recentRef is an announcement as it came, for gossipOnce.
type recentRef struct {
	id  identity.NodeID
	seq uint64
	at  time.Time
}

// expire forgets the announcements that expired (a supernode that
// counted one its peer had dropped would sync it the whole view) and
// updates the view, which endorsements that expired may change too; it
// does nothing before the first of them expires (nextExpiry): working out
// the view again every 5 s on every supernode was a third of a
// 500-supernode simulation's CPU.
func (s *membership) expire() {
	s.mu.Lock()
	now := s.sn.cfg.Clock.Now().UnixMilli()
	if now < s.nextExpiry {
		s.mu.Unlock()
		return
	}
	next := int64(math.MaxInt64)
	for id, h := range s.announces {
		if h.rec.Expires <= now {
			s.setAnnounceLocked(id, nil)
			continue
		}
		next = min(next, h.rec.Expires)
		for _, e := range h.endorsers {
			if e.expires > now {
				next = min(next, e.expires)
			}
		}
	}
	s.nextExpiry = next
	s.mu.Unlock()
	s.viewChanged()
}

// newer reports whether seq is newer than the announcement of id held.
func (s *membership) newer(id identity.NodeID, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.announces[id]
	return old == nil || old.rec.Seq < seq
}

// announceLoop announces this supernode, then re-announces it every
// AnnounceInterval (the first time at a random point of it), renewing its
// endorsements first when they would otherwise have less than
// renewBefore left.
func (s *membership) announceLoop(ctx context.Context) {
	s.mu.Lock()
	wait := s.sn.cfg.AnnounceInterval/8 + time.Duration(s.rng.Int64N(int64(s.sn.cfg.AnnounceInterval*7/8)+1))
	s.mu.Unlock()
	for {
		s.announce()
		s.expire()
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(wait):
		}
		wait = s.sn.cfg.AnnounceInterval
		s.renewEndorsements(ctx)
	}
}

// renewBefore is how long before they expire endorsements are renewed at
// a re-announcement: more than one interval, so the next one is not too
// late.
func (s *membership) renewBefore() time.Duration { return s.sn.cfg.AnnounceInterval * 3 / 2 }

// renewEndorsements renews this supernode's endorsements if fewer than
// needed would still have renewBefore left (seeds need none). The
// announcement that follows carries them. If no peer endorses it now,
// selfVerifyLoop tries again before they expire.
func (s *membership) renewEndorsements(ctx context.Context) {
	addr := s.sn.advertised()
	if s.sn.cfg.Seed || addr == "" || s.freshEndorsements(s.renewBefore()) >= s.requiredEndorsements() {
		return
	}
	if ends := s.requestEndorsements(ctx, addr); len(ends) >= s.requiredEndorsements() {
		s.mu.Lock()
		s.endorsements = ends
		s.mu.Unlock()
	}
}

// freshEndorsements counts this supernode's endorsements that have more
// than left before they expire.
func (s *membership) freshEndorsements(left time.Duration) int {
	at := s.sn.cfg.Clock.Now().Add(left).UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := 0
	for _, e := range s.endorsements {
		if e.Expires > at {
			fresh++
		}
	}
	return fresh
}

// Gossip of recent changes, beside the tree (tree.go): every gossipEvery
// each supernode names the announcements it heard in the last gossipRecent
// to one linked peer at random and pushes it the recent down notices, so a
// change the tree missed (a link that was being replaced, a graft not yet
// made) still spreads like an epidemic, in rounds that grow with the log
// of the tier.
const (
	gossipEvery  = 5 * time.Second
	gossipRecent = 10 * time.Second // each change is named about twice
	gossipMax    = 128              // announcements in one push, the most recent first
)

// gossipLoop pushes recent announcements to a random peer every
// gossipEvery.
func (s *membership) gossipLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(gossipEvery):
		}
		s.gossipOnce()
		s.expire()
		s.mu.Lock()
		evicted := s.evictLocked(identity.NodeID{})
		s.mu.Unlock()
		for _, l := range evicted {
			l.Close(evictReason)
		}
		s.redialSuspects()
	}
}

// gossipOnce names the announcements and pushes the down notices heard in
// the last gossipRecent to one linked peer chosen at random.
func (s *membership) gossipOnce() {
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	// The log is in order of arrival: drop what is no longer recent, then
	// take the most recent first. (A pass over every announcement held,
	// every 5 s on every supernode, was a sixth of a 500-supernode
	// simulation's CPU.)
	old := 0
	for old < len(s.recentLog) && now.Sub(s.recentLog[old].at) > gossipRecent {
		old++
	}
	s.recentLog = slices.Delete(s.recentLog, 0, old)
	var recent []wire.AnnounceRef
	for i := len(s.recentLog) - 1; i >= 0 && len(recent) < gossipMax; i-- {
		r := s.recentLog[i]
		if h := s.announces[r.id]; h != nil && h.rec.Seq == r.seq && h.rec.Expires > now.UnixMilli() {
			recent = append(recent, wire.AnnounceRef{Node: bytes.Clone(r.id[:]), Seq: r.seq})
		}
	}
	notices := s.recentDownsLocked(now, false)
	var to *Link
	if len(s.peers) > 0 && len(recent)+len(notices) > 0 {
		i, k := s.rng.IntN(len(s.peers)), 0
		for _, p := range s.peers {
			if k == i {
				to = p.link
				break
			}
			k++
		}
	}
	s.mu.Unlock()
	if to == nil {
		return
	}
	sendHave([]*Link{to}, recent, nil)
	sendDowns(to, notices)
}
