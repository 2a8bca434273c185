package overlay

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// The supernode mesh: a supernode joins through cfg.Join (the seeds, then
// cached supernodes); each Welcome and Supernodes message lists more. It
// keeps links to its ring neighbours and, up to a quarter of MaxPeers, to
// the supernodes it learns of (gossip links, which carry announcements);
// it links to any other supernode on demand (linkTo: a record's holder),
// and closes the least recently used link when over MaxPeers. A tier of up
// to MaxPeers/4+1 supernodes is fully linked.

// ringNeighbours is how many ring neighbours on each side a supernode
// keeps linked.
const ringNeighbours = 2

// evictReason and duplicateReason are the Byes of a link closed to stay
// within MaxPeers, or as the loser of two links dialled at once: the other
// end must not take either for a failure.
const (
	evictReason     = "supernode links over the bound"
	duplicateReason = "duplicate supernode link"
)

// joinLoop keeps the supernode in the mesh: while it has no peer supernode
// it retries cfg.Join with full-jitter backoff; afterwards it checks again
// from time to time.
func (s *membership) joinLoop() {
	back := Backoff{Base: time.Second, Cap: time.Minute}
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		alone := len(s.peers) == 0
		wait := back.Delay(attempt, s.rng)
		s.mu.Unlock()
		if !alone {
			// Linked: rejoin through any Join supernode we have lost, so
			// that its Welcome lists whatever else we lost too; only
			// when nearly cut off (bounded links are not all-to-all: the
			// Join supernode may have closed ours to make room, and
			// redialling the seeds every 30 s from half the tier kept
			// them churning links at 413 kbit/s in a tier of 200).
			attempt = 0
			wait = 30 * time.Second
			for _, j := range s.sn.cfg.Join {
				if !s.linkedAddr(j.Addr) && s.nearlyAlone() {
					s.dialPeer(j.Addr, j.ID)
				}
			}
		} else {
			for _, j := range s.sn.cfg.Join {
				s.dialPeer(j.Addr, j.ID)
			}
		}
		select {
		case <-s.sn.ctx.Done():
			return
		case <-s.joinKick:
		case <-s.sn.cfg.Clock.After(wait):
		}
	}
}

// dialPeer links to the supernode at addr in the background, unless it is
// this supernode or already linked or being dialled.
func (s *membership) dialPeer(addr string, expect identity.NodeID) {
	if expect == s.sn.ID() {
		return
	}
	if s.sn.isClosed() {
		return
	}
	s.mu.Lock()
	if !expect.IsZero() && (s.peers[expect] != nil || s.dialing[expect]) {
		s.mu.Unlock()
		return
	}
	if !expect.IsZero() {
		s.dialing[expect] = true
	}
	s.mu.Unlock()
	s.sn.wg.Add(1)
	go func() {
		defer s.sn.wg.Done()
		defer func() {
			if !expect.IsZero() {
				s.mu.Lock()
				delete(s.dialing, expect)
				s.wakeLocked(expect)
				s.mu.Unlock()
			}
		}()
		if err := s.linkPeer(addr, expect); err != nil {
			s.sn.log.Debug("mesh dial failed", "addr", addr, "err", err)
			if !expect.IsZero() && !s.sn.isClosed() {
				s.suspect(expect)
			}
		}
	}()
}

// wakeLocked wakes the linkTo calls waiting for a link to id. s.mu must
// be held.
func (s *membership) wakeLocked(id identity.NodeID) {
	for _, ch := range s.waiters[id] {
		close(ch)
	}
	delete(s.waiters, id)
}

// linkTo returns a link to supernode id, dialling it if there is none (a
// record's holder, which this supernode need not be linked to), or nil if
// it cannot be reached before ctx is done. A failed dial makes id a
// suspect (see suspect).
func (s *membership) linkTo(ctx context.Context, id identity.NodeID) *Link {
	for range 2 { // a dial in flight may end in a duplicate-link tie-break
		s.mu.Lock()
		if p := s.peers[id]; p != nil {
			p.used = s.sn.cfg.Clock.Now()
			s.mu.Unlock()
			return p.link
		}
		info, ok := s.infoLocked(id)
		if !ok || s.suspectedLocked(id) {
			s.mu.Unlock()
			return nil
		}
		ch := make(chan struct{})
		s.waiters[id] = append(s.waiters[id], ch)
		s.mu.Unlock()
		s.dialPeer(info.Addr, id)
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
	return s.peerLink(id)
}

// sendTo runs send with the link to supernode id: at once if linked,
// else in the background once linkTo has made one (it is dropped if id
// cannot be reached within holderTimeout).
func (s *membership) sendTo(id identity.NodeID, send func(*Link)) {
	if l := s.peerLink(id); l != nil {
		send(l)
		return
	}
	if s.sn.isClosed() {
		return
	}
	s.sn.wg.Add(1)
	go func() {
		defer s.sn.wg.Done()
		ctx, cancel := context.WithTimeout(s.sn.ctx, holderTimeout)
		defer cancel()
		if l := s.linkTo(ctx, id); l != nil {
			send(l)
		}
	}()
}

// wantLinkLocked reports whether a supernode learned of should be dialled now:
// one of this supernode's ring neighbours, or while the links are under a
// quarter of MaxPeers (each link counts at both ends: a quarter dialled
// by each side keeps most supernodes near half the bound, with room for
// the links made on demand, instead of closing and redialling links
// without end). s.mu must be held.
func (s *membership) wantLinkLocked(id identity.NodeID) bool {
	if s.peers[id] != nil || s.dialing[id] {
		return false
	}
	if len(s.peers)+len(s.dialing) < s.sn.cfg.MaxPeers/4 {
		return true
	}
	return s.ring != nil && slices.Contains(s.ring.Neighbours(s.sn.ID(), ringNeighbours), id)
}

// linkNeighbours dials the ring neighbours not linked yet.
func (s *membership) linkNeighbours() {
	s.mu.Lock()
	var dial []wire.Supernode
	if s.ring != nil {
		for _, id := range s.ring.Neighbours(s.sn.ID(), ringNeighbours) {
			if info, ok := s.infoLocked(id); ok && s.peers[id] == nil && !s.dialing[id] {
				dial = append(dial, info)
			}
		}
	}
	s.mu.Unlock()
	s.learn(dial)
}

// minLinkAge is how long a link should be kept after it was made or last
// asked for: one closed sooner may have a call in flight (an endorsement,
// a lookup). Over the bound, older links close first, least recently used
// first; younger ones only when there are no older ones to close.
const minLinkAge = 30 * time.Second

// evictLocked closes the links over MaxPeers: not the ring neighbours nor
// keep; those used longer than minLinkAge ago first, least recently used
// first. s.mu must be held; the links are closed by the caller, after.
func (s *membership) evictLocked(keep identity.NodeID) []*Link {
	over := len(s.peers) - s.sn.cfg.MaxPeers
	if over <= 0 {
		return nil
	}
	var neighbours []identity.NodeID
	if s.ring != nil {
		neighbours = s.ring.Neighbours(s.sn.ID(), ringNeighbours)
	}
	var cands []*snPeer
	now := s.sn.cfg.Clock.Now()
	for id, p := range s.peers {
		if id != keep && !p.evicted && !slices.Contains(neighbours, id) {
			cands = append(cands, p)
		}
	}
	old := func(p *snPeer) bool { return now.Sub(p.used) >= minLinkAge }
	slices.SortFunc(cands, func(a, b *snPeer) int {
		if old(a) != old(b) {
			if old(a) {
				return -1
			}
			return 1
		}
		return a.used.Compare(b.used)
	})
	var out []*Link
	for _, p := range cands[:min(over, len(cands))] {
		p.evicted = true
		out = append(out, p.link)
	}
	return out
}

func (s *membership) linkPeer(addr string, expect identity.NodeID) error {
	ctx, cancel := context.WithTimeout(s.sn.ctx, s.sn.cfg.HandshakeTimeout)
	defer cancel()
	l, err := dialLink(ctx, s.sn.cfg.Network, s.sn.cert, addr, expect)
	if err != nil {
		return err
	}
	if l.Peer() == s.sn.ID() {
		l.Close("")
		return nil // our own address, e.g. in the seed list
	}
	if !s.sn.track(l) {
		l.Close("")
		return ErrClosed
	}
	defer s.sn.untrack(l)
	hello := &wire.Hello{Role: wire.RoleSupernode, ListenAddr: s.sn.advertised(), Seed: s.sn.cfg.Seed, Software: s.sn.cfg.Software,
		Announced: s.announced()}
	if err := l.Send(hello); err != nil {
		l.Close("")
		return err
	}
	// HandshakeTimeout bounds the dial, the handshake and the Welcome
	// together: a ring neighbour confirming a failure waits no longer.
	left := s.sn.cfg.HandshakeTimeout
	if d, ok := ctx.Deadline(); ok {
		left = max(time.Until(d), time.Millisecond)
	}
	m, err := l.Recv(left)
	if err != nil {
		l.Close("")
		return err
	}
	w, ok := m.(*wire.Welcome)
	if !ok {
		l.Close("expected welcome")
		return fmt.Errorf("%w: supernode answered %T", ErrProtocol, m)
	}
	s.learnAdvertise(w.ObservedAddr)
	s.servePeer(l, &wire.Hello{Role: wire.RoleSupernode, ListenAddr: addr, Seed: w.SupernodeSeed, Announced: w.Announced}, true, w.Supernodes)
	return nil
}

// learnAdvertise sets the advertised address from what a peer observed,
// when none was configured or derivable from the listen address.
func (s *membership) learnAdvertise(observed string) {
	host, _, err := net.SplitHostPort(observed)
	if err != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.sn.Addr())
	s.sn.mu.Lock()
	if s.sn.advertise == "" {
		s.sn.advertise = net.JoinHostPort(host, port)
		s.sn.log.Info("advertising observed address", "addr", s.sn.advertise)
	}
	s.sn.mu.Unlock()
}

// servePeer runs a supernode-to-supernode link. For an accepted link it
// answers the Hello with a Welcome; a dialled one has already had its
// Welcome, whose list is passed in.
func (s *membership) servePeer(l *Link, hello *wire.Hello, dialed bool, list ...[]wire.Supernode) {
	id := l.Peer()
	addr := hello.ListenAddr
	if len(addr) > wire.MaxAddr {
		s.sn.log.Warn("closing supernode link: listen address too long", "peer", id.Short(), "bytes", len(addr))
		l.Close("listen address too long")
		return
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
		if rhost, _, err := net.SplitHostPort(l.RemoteAddr().String()); err == nil {
			addr = net.JoinHostPort(rhost, port)
		}
	}
	me := &snPeer{link: l, dialed: dialed, info: wire.Supernode{ID: id[:], Addr: addr, Seed: hello.Seed}}
	if !dialed {
		w := &wire.Welcome{
			ObservedAddr:  l.RemoteAddr().String(),
			HeartbeatMS:   uint32(s.sn.cfg.Heartbeat / time.Millisecond),
			SupernodeSeed: s.sn.cfg.Seed,
			Announced:     s.announced(),
		}
		// The whole list only to a supernode that holds under half the
		// announcements (new, or back) or in a small tier: any other
		// knows them from the announcements, and at 10,000 supernodes
		// the list is 600 KB for every link a lookup opens.
		var all []wire.Supernode
		if mine := int(w.Announced); int(hello.Announced) < mine/2 || mine <= s.sn.cfg.MaxPeers/4 {
			all = s.sn.Supernodes()
		}
		if err := sendSupernodes(l.Send, w, all); err != nil {
			s.sn.log.Warn("closing supernode link: welcome not sent", "peer", id.Short(), "err", err)
			l.Close("")
			return
		}
	}
	if addr == "" {
		// A supernode that cannot say where it listens cannot be handed
		// to anyone; keep serving it as a link but list it nowhere.
		me.info.Addr = ""
	}
	cleared, kept := s.registerPeer(me)
	if !kept {
		l.Close(duplicateReason)
		return
	}
	if cleared {
		s.viewChanged() // it was a suspect: alive after all
	}
	stopPing := make(chan struct{})
	defer close(stopPing)
	// The Ping interval may shorten (the peer became a ring neighbour)
	// while the keepalive still waits out the longer one: the read timeout
	// follows the longer of the two, so silence is judged by the pings
	// actually sent.
	var waiting atomic.Int64
	beat := func() time.Duration { return max(s.heartbeat(id), time.Duration(waiting.Load())) }
	pingEvery := func() time.Duration { d := s.heartbeat(id); waiting.Store(int64(d)); return d }
	go keepaliveWith(l, s.sn.cfg.Clock, pingEvery, stopPing, func(p *wire.Ping) { p.Announced, p.Digest = s.digest() })
	s.sn.log.Info("supernode linked", "peer", id.Short(), "addr", addr, "dialed", dialed)
	for _, sl := range list {
		s.learn(sl)
	}
	// A supernode that holds fewer announcements than this one (new to
	// the tier, back, or cut off while the tree missed it) is brought up
	// to date (syncLink); any other gets this one's own, which it may
	// lack. Each heartbeat's Ping says the count again.
	var lastSync time.Time
	if !s.syncLink(l, hello.Announced, 0, &lastSync) {
		s.mu.Lock()
		own := s.announces[s.sn.ID()]
		s.mu.Unlock()
		if own != nil {
			l.Send(&wire.Announce{Record: *own.rec})
		}
	}
	reason := s.sn.converse(l, beat, func(m wire.Message) error {
		switch m := m.(type) {
		case *wire.Supernodes:
			s.learn(m.Supernodes)
		case *wire.Announce:
			s.receiveAnnounce(id, &m.Record, m.Push)
			s.sn.elect.movePending()
		case *wire.Have:
			s.receiveHave(id, m)
		case *wire.Want:
			s.receiveWant(l, m)
		case *wire.Prune:
			s.receivePrune(id)
		case *wire.Down:
			s.receiveDown(id, m.Notices)
		case *wire.DialBack:
			s.sn.elect.handleDialBack(l, m)
		case *wire.Ping:
			s.syncLink(l, m.Announced, m.Digest, &lastSync)
		default:
			if !s.sn.handleService(l, m, true) {
				return fmt.Errorf("%w: supernode sent %T", ErrProtocol, m)
			}
		}
		return nil
	})
	s.mu.Lock()
	failed := false
	if s.peers[id] == me {
		delete(s.peers, id)
		// Closed to make room, or as the loser of two links dialled at
		// once, by either end, is not a failure.
		failed = !me.evicted && reason != "peer said bye: "+evictReason && reason != "peer said bye: "+duplicateReason
	}
	s.mu.Unlock()
	if failed && !s.sn.isClosed() {
		s.suspect(id)           // it stopped answering, or said Bye: out of the view
		s.confirmDown(id, addr) // a ring neighbour dials back, and notices a failure
	} else {
		s.viewChanged()
	}
	s.sn.log.Info("supernode link closed", "peer", id.Short(), "reason", reason)
}

// sendSupernodes sends list through send, paged under the wire's limits:
// the first page in head (a Welcome, if not nil) and the rest as Supernodes
// messages. A supernode's whole view can be far longer than one message
// may carry.
func sendSupernodes(send func(wire.Message) error, head *wire.Welcome, list []wire.Supernode) error {
	pages := wire.Pages(list, wire.SupernodeSize)
	if head != nil {
		if len(pages) > 0 {
			head.Supernodes, pages = pages[0], pages[1:]
		}
		if err := send(head); err != nil {
			return err
		}
	}
	for _, p := range pages {
		if err := send(&wire.Supernodes{Supernodes: p}); err != nil {
			return err
		}
	}
	return nil
}

// registerPeer adds a peer link. When two links join the same pair of
// supernodes (both dialled at once), both ends keep the one dialled by the
// smaller NodeID; it reports whether p is the one kept, and whether its
// supernode was a suspect (no longer).
func (s *membership) registerPeer(p *snPeer) (cleared, kept bool) {
	id := p.link.Peer()
	mine := s.sn.ID()
	s.mu.Lock()
	old := s.peers[id]
	keepNew := true
	if old != nil && old.dialed != p.dialed {
		// Two live directions: keep the one the smaller ID dialled. (Two
		// links in the same direction mean a redial: the new one wins.)
		smallerDialed := bytes.Compare(mine[:], id[:]) < 0 // we are smaller
		keepNew = p.dialed == smallerDialed
	}
	var evicted []*Link
	if keepNew {
		p.used = s.sn.cfg.Clock.Now()
		s.peers[id] = p
		_, cleared = s.suspects[id]
		delete(s.suspects, id)
		s.wakeLocked(id)
		evicted = s.evictLocked(id)
	}
	others := make([]*snPeer, 0, len(s.peers))
	for pid, q := range s.peers {
		if pid != id {
			others = append(others, q)
		}
	}
	s.mu.Unlock()
	if old != nil && keepNew {
		old.link.Close(duplicateReason)
	}
	for _, l := range evicted {
		l.Close(evictReason)
	}
	if keepNew && p.info.Addr != "" && len(others) < s.sn.cfg.MaxPeers/4 {
		// A small tier: tell the others, so the mesh closes even when the
		// newcomer's own dials are slow. (A large one is not all-to-all:
		// they learn of it from its announcement.)
		for _, q := range others {
			q.link.Send(&wire.Supernodes{Supernodes: []wire.Supernode{p.info}})
		}
	}
	return cleared, keepNew
}

// learn dials the supernodes in list that it wants links to (see
// wantLinkLocked); the others are reached on demand.
func (s *membership) learn(list []wire.Supernode) {
	for _, sn := range list {
		var id identity.NodeID
		if len(sn.ID) != len(id) || sn.Addr == "" || len(sn.Addr) > wire.MaxAddr {
			continue
		}
		copy(id[:], sn.ID)
		s.mu.Lock()
		want := s.wantLinkLocked(id)
		s.mu.Unlock()
		if want {
			s.dialPeer(sn.Addr, id)
		}
	}
}

// syncEvery is how often at most one link is brought up to date.
const syncEvery = 2 * time.Minute

// syncLink brings the supernode at the other end of l up to date, at most
// once per syncEvery per link (last), by what it says it holds (theirs,
// and digest: 0 for not said):
//
//   - under half as many announcements as this one (new to the tier, or
//     back after a long time): every one held here, whole, and the down
//     notices that count;
//   - fewer by more than a few (syncSlack: more than changes in flight):
//     the names of every one held here and of every supernode down, for
//     it to ask for what it lacks (tree.go);
//   - a few fewer, or as many but others (the digest differs: a change the
//     tree missed, or one in flight): the names of those heard in the last
//     two syncEvery.
//
// Sending the whole view to a supernode one announcement behind cost a
// seed 433 kbit/s in a tier of 200 (on-demand links to it come and go). It
// reports whether it sent anything.
func (s *membership) syncLink(l *Link, theirs uint32, digest uint64, last *time.Time) bool {
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	mine := len(s.announces)
	whole := int(theirs) < mine/2
	allNames := !whole && int(theirs)+syncSlack(mine) < mine
	fewer := int(theirs) < mine
	others := digest != 0 && digest != s.digestLocked()
	if !fewer && !others || (!last.IsZero() && now.Sub(*last) < syncEvery) {
		s.mu.Unlock()
		return false
	}
	var send []*wire.Record
	var refs, downRefs []wire.AnnounceRef
	for id, h := range s.announces {
		switch {
		case whole:
			send = append(send, h.rec)
		case allNames || now.Sub(h.at) <= 2*syncEvery:
			refs = append(refs, wire.AnnounceRef{Node: bytes.Clone(id[:]), Seq: h.rec.Seq})
		}
	}
	var notices []wire.DownNotice
	switch {
	case whole:
		notices = s.recentDownsLocked(now, true) // what of the view is down
	case allNames:
		for id, d := range s.downs {
			if d.down {
				downRefs = append(downRefs, wire.AnnounceRef{Node: bytes.Clone(id[:]), Seq: d.seq})
			}
		}
	}
	s.mu.Unlock()
	*last = now
	for _, rec := range send {
		if l.Send(&wire.Announce{Record: *rec}) != nil {
			return true
		}
	}
	sendHave([]*Link{l}, refs, downRefs)
	sendDowns(l, notices)
	return true
}

// syncSlack is by how many announcements two supernodes holding about n
// may differ while changes are in flight.
func syncSlack(n int) int { return 8 + n/64 }

// digest returns how many announcements this supernode holds and a digest
// of which: the sum of a hash of each owner and sequence number, the same
// wherever the same announcements are held.
func (s *membership) digest() (uint32, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint32(len(s.announces)), s.digestLocked()
}

func (s *membership) digestLocked() uint64 { return s.sum | 1 } // never 0, which means "not said"

// setAnnounceLocked keeps h as id's announcement (nil: forgets it) and
// keeps the digest up to date, so that a Ping costs no pass over the
// tier. s.mu must be held.
func (s *membership) setAnnounceLocked(id identity.NodeID, h *heard) {
	if old := s.announces[id]; old != nil {
		s.sum -= announceHash(id, old.rec.Seq)
	}
	if h == nil {
		delete(s.announces, id)
		return
	}
	s.announces[id] = h
	s.sum += announceHash(id, h.rec.Seq)
	s.recentLog = append(s.recentLog, recentRef{id: id, seq: h.rec.Seq, at: h.at})
	s.nextExpiry = min(s.nextExpiry, h.rec.Expires)
	for _, e := range h.endorsers {
		s.nextExpiry = min(s.nextExpiry, e.expires)
	}
}

// announceHash is an announcement's share of the digest.
func announceHash(id identity.NodeID, seq uint64) uint64 {
	var b [40]byte
	copy(b[:], id[:])
	binary.BigEndian.PutUint64(b[32:], seq)
	x := sha256.Sum256(b[:])
	return binary.BigEndian.Uint64(x[:8])
}

// announced returns how many announcements this supernode holds.
func (s *membership) announced() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint32(len(s.announces))
}

// nearlyAlone reports whether this supernode holds fewer links than it
// keeps to its ring neighbours.
func (s *membership) nearlyAlone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers) < 2*ringNeighbours
}

// linkedAddr reports whether a linked supernode is at addr.
func (s *membership) linkedAddr(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.info.Addr == addr {
			return true
		}
	}
	return false
}

// selfVerifyLoop gets this supernode endorsed when it was not elected with
// endorsements (a supernode started on purpose): two trusted peers dial it
// back. Endorsements are renewed with a re-announcement (announceLoop);
// if that failed, this renews them before they expire. Seeds need none.
func (s *membership) selfVerifyLoop(ctx context.Context) {
	if s.sn.cfg.Seed {
		return
	}
	for {
		addr := s.sn.advertised()
		fresh := s.freshEndorsements(s.sn.cfg.EndorsementTTL / 8)
		wait := 30 * time.Second
		need := s.sn.mem.requiredEndorsements()
		if addr != "" && fresh < need {
			ends := s.requestEndorsements(ctx, addr)
			if len(ends) >= need {
				s.mu.Lock()
				s.endorsements = ends
				s.mu.Unlock()
				s.announce()
				s.viewChanged()
				wait = s.sn.cfg.EndorsementTTL / 16
			} else {
				wait = 2 * time.Second
			}
		} else if fresh >= need {
			wait = s.sn.cfg.EndorsementTTL / 16
		}
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(wait):
		}
	}
}

// requestEndorsements asks trusted peers to dial this supernode back until
// two endorsed it, those it is linked to first. A supernode that is
// trusted asks only supernodes nearer the roots of trust than itself
// (trustDepthsLocked), the deepest of those first: endorsements then
// always point away from the seeds, so renewing
// them can never leave a group of supernodes trusted only by each other
// (with any trusted endorser, a tier renewing its hour-long endorsements
// lost the trust of most of its supernodes within the hour: each one's
// endorsers were trusted only through others that renewed from it).
func (s *membership) requestEndorsements(ctx context.Context, addr string) []wire.Endorsement {
	s.mu.Lock()
	depths := s.trustDepthsLocked(s.sn.cfg.Clock.Now(), false)
	mine, trusted := depths[s.sn.ID()]
	var cands []identity.NodeID
	for id, d := range depths {
		if id != s.sn.ID() && (!trusted || d < mine) {
			cands = append(cands, id)
		}
	}
	s.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	linked := func(id identity.NodeID) int {
		if s.peers[id] != nil {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(cands, func(a, b identity.NodeID) int {
		return cmp.Or(cmp.Compare(linked(a), linked(b)), cmp.Compare(depths[b], depths[a]))
	})
	s.mu.Unlock()
	// The links: those held, else made on demand (the links are bounded,
	// and a busy seed may have closed ours).
	var links []*Link
	for _, id := range cands {
		if len(links) >= 2 {
			break
		}
		lctx, cancel := context.WithTimeout(ctx, s.sn.cfg.HandshakeTimeout)
		if l := s.linkTo(lctx, id); l != nil {
			links = append(links, l)
		}
		cancel()
	}
	me := s.sn.ID()
	var out []wire.Endorsement
	for _, l := range links {
		cctx, cancel := context.WithTimeout(ctx, 3*probeTimeout)
		m, err := l.Call(cctx, func(r uint64) wire.Message { return &wire.DialBack{ReqID: r, Candidate: me[:], Addr: addr} })
		cancel()
		if e, ok := m.(*wire.Endorsed); err == nil && ok && len(e.Endorsements) == 1 {
			if _, err := record.VerifyEndorsement(e.Endorsements[0], me, addr, s.sn.cfg.Clock.Now()); err == nil {
				out = append(out, e.Endorsements[0])
			}
		}
	}
	return out
}
