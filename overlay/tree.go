package overlay

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// The dissemination tree (Plumtree: Leitão, Pereira and Rodrigues,
// "Epidemic Broadcast Trees", 2007). A new announcement is pushed whole
// over the eager links only; the lazy links hear of it by Have, a list of
// (supernode, sequence number) pairs sent in batches. Every link starts
// eager, so a new one first floods; a supernode that is pushed an
// announcement it already holds answers Prune and both ends make that link
// lazy, which leaves a spanning tree of eager links after a few
// announcements. One that hears by Have of an announcement newer than its
// own and does not receive it within wantAfter asks for it with Want, which
// also makes that link eager again (a graft): the tree repairs itself
// where a link or a supernode went away. Each supernode then receives
// each announcement about once whole and a few times by name, so the
// traffic grows with the number of changes, not with the tier's size or
// the links' number. Down notices travel the same tree: pushed whole over
// the eager links, named (the supernode and the announcement they void)
// to lazy ones, asked for when they do not come.

const (
	// haveEvery is how often the names of new announcements go out to
	// lazy links, in one Have per link.
	haveEvery = 500 * time.Millisecond
	// lazyFanout is how many lazy links, chosen at random, each batch of
	// names goes to.
	lazyFanout = 6
	// wantAfter is how long a supernode that heard of an announcement by
	// name waits for it to come whole before it asks.
	wantAfter = time.Second
	// maxMissing bounds the announcements heard of by name and still
	// awaited: a peer that names made-up supernodes fills no memory.
	maxMissing = 4 * wire.MaxList
)

// missing is an announcement, or the notices that a supernode is down,
// heard of by name and not yet held: the sequence number of the
// announcement, the linked supernodes that named it (the first is asked
// next), and when to ask.
type missing struct {
	seq  uint64
	from []identity.NodeID
	due  time.Time
}

// wanted keys what is missing: the announcement of id, or (down) the
// notices that id is down.
type wanted struct {
	id   identity.NodeID
	down bool
}

// pushLocked records that the announcement (id, seq) is new here, to be
// named to lazy links at the next batch, and returns the eager links to
// push it whole to (neither the one it came from nor its supernode's own).
// s.mu must be held.
func (s *membership) pushLocked(id identity.NodeID, seq uint64, from identity.NodeID) []*Link {
	s.pending = append(s.pending, wire.AnnounceRef{Node: bytes.Clone(id[:]), Seq: seq})
	if m := s.missing[wanted{id: id}]; m != nil && m.seq <= seq {
		delete(s.missing, wanted{id: id})
	}
	return s.eagerLocked(from, id)
}

// downPushLocked records that id is now down by notices as of its
// announcement seq, to be named to lazy links at the next batch. s.mu
// must be held.
func (s *membership) downPushLocked(id identity.NodeID, seq uint64) {
	s.pendingDowns = append(s.pendingDowns, wire.AnnounceRef{Node: bytes.Clone(id[:]), Seq: seq})
	delete(s.missing, wanted{id: id, down: true})
}

// eagerLocked returns the eager links but those to not1 and not2. s.mu
// must be held.
func (s *membership) eagerLocked(not1, not2 identity.NodeID) []*Link {
	var eager []*Link
	for pid, p := range s.peers {
		if pid != not1 && pid != not2 && !p.lazy {
			eager = append(eager, p.link)
		}
	}
	return eager
}

// prune makes the link to from lazy: it pushed an announcement already
// held. It tells from to do the same.
func (s *membership) prune(from identity.NodeID) {
	s.mu.Lock()
	p := s.peers[from]
	if p == nil || p.lazy {
		s.mu.Unlock()
		return
	}
	p.lazy = true
	s.mu.Unlock()
	p.link.Send(&wire.Prune{})
}

// receivePrune makes the link to from lazy, as it asked.
func (s *membership) receivePrune(from identity.NodeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.peers[from]; p != nil {
		p.lazy = true
	}
}

// receiveHave notes what from names and this supernode lacks: newer
// announcements, and supernodes down as of the announcement held here, to
// be asked for if they do not come whole within wantAfter.
func (s *membership) receiveHave(from identity.NodeID, have *wire.Have) {
	due := s.sn.cfg.Clock.Now().Add(wantAfter)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range have.Announces {
		if id, ok := s.refLocked(r); ok {
			if h := s.announces[id]; (h == nil || h.rec.Seq < r.Seq) && !s.downLocked(id, r.Seq) {
				s.missLocked(wanted{id: id}, r.Seq, from, due)
			}
		}
	}
	for _, r := range have.Downs {
		if id, ok := s.refLocked(r); ok {
			// Only notices about the announcement held here matter: an
			// older one is void, and of one not held there is no view to
			// take it out of.
			if h := s.announces[id]; h != nil && h.rec.Seq == r.Seq && !s.downLocked(id, r.Seq) {
				s.missLocked(wanted{id: id, down: true}, r.Seq, from, due)
			}
		}
	}
}

// refLocked returns the NodeID a name gives, unless it is malformed or
// this supernode's own. s.mu must be held.
func (s *membership) refLocked(r wire.AnnounceRef) (identity.NodeID, bool) {
	me := s.sn.ID()
	if len(r.Node) != len(me) || identity.NodeID(r.Node) == me {
		return identity.NodeID{}, false
	}
	return identity.NodeID(r.Node), true
}

// missLocked notes that from named w at seq. s.mu must be held.
func (s *membership) missLocked(w wanted, seq uint64, from identity.NodeID, due time.Time) {
	m := s.missing[w]
	switch {
	case m == nil:
		if len(s.missing) < maxMissing {
			s.missing[w] = &missing{seq: seq, from: []identity.NodeID{from}, due: due}
		}
	case seq > m.seq:
		m.seq, m.from = seq, append(m.from[:0], from)
	case seq == m.seq && len(m.from) < lazyFanout && !slices.Contains(m.from, from):
		m.from = append(m.from, from)
	}
}

// receiveWant sends over l what it asks for, not pushed, and grafts the
// link into the tree.
func (s *membership) receiveWant(l *Link, want *wire.Want) {
	var send []*heard
	var notices []wire.DownNotice
	s.mu.Lock()
	if p := s.peers[l.Peer()]; p != nil {
		p.lazy = false
	}
	for _, n := range want.Nodes {
		if len(n) == len(identity.NodeID{}) {
			if h := s.announces[identity.NodeID(n)]; h != nil {
				send = append(send, h)
			}
		}
	}
	for _, n := range want.Downs {
		if len(n) == len(identity.NodeID{}) {
			if d := s.downs[identity.NodeID(n)]; d != nil && d.down {
				for _, notice := range d.notices {
					notices = append(notices, notice)
				}
			}
		}
	}
	s.mu.Unlock()
	for _, h := range send {
		if l.Send(&wire.Announce{Record: *h.rec}) != nil {
			return
		}
	}
	sendDowns(l, notices)
}

// treeLoop names new announcements and downs to lazy links every
// haveEvery and asks for what was named to this supernode and did not
// come in time.
func (s *membership) treeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(haveEvery):
		}
		s.sendHaves()
		s.sendWants()
	}
}

// sendHaves names what is new since the last batch to lazyFanout lazy
// links at random.
func (s *membership) sendHaves() {
	s.mu.Lock()
	refs, downs := s.pending, s.pendingDowns
	s.pending, s.pendingDowns = nil, nil
	var lazy []*Link
	if len(refs)+len(downs) > 0 {
		for _, p := range s.peers {
			if p.lazy {
				lazy = append(lazy, p.link)
			}
		}
		s.rng.Shuffle(len(lazy), func(i, j int) { lazy[i], lazy[j] = lazy[j], lazy[i] })
	}
	s.mu.Unlock()
	sendHave(lazy[:min(len(lazy), lazyFanout)], refs, downs)
}

// sendHave names refs and downs over each link, paged under the wire's
// limits.
func sendHave(links []*Link, refs, downs []wire.AnnounceRef) {
	var msgs []*wire.Have
	for _, p := range wire.Pages(refs, wire.AnnounceRefSize) {
		msgs = append(msgs, &wire.Have{Announces: p})
	}
	for _, p := range wire.Pages(downs, wire.AnnounceRefSize) {
		msgs = append(msgs, &wire.Have{Downs: p})
	}
	for _, l := range links {
		for _, m := range msgs {
			if l.Send(m) != nil {
				break
			}
		}
	}
}

// sendWants asks for what was named to this supernode and whose wait is
// over, each of the first supernode that named it and is still linked,
// and grafts those links into the tree. What no linked supernode can give
// any more is forgotten.
func (s *membership) sendWants() {
	now := s.sn.cfg.Clock.Now()
	ask := make(map[*Link]*wire.Want)
	s.mu.Lock()
	for w, m := range s.missing {
		if now.Before(m.due) {
			continue
		}
		var p *snPeer
		for len(m.from) > 0 && p == nil {
			p = s.peers[m.from[0]]
			m.from = m.from[1:]
		}
		if p == nil {
			delete(s.missing, w)
			continue
		}
		p.lazy = false
		m.due = now.Add(wantAfter)
		a := ask[p.link]
		if a == nil {
			a = new(wire.Want)
			ask[p.link] = a
		}
		if w.down {
			a.Downs = append(a.Downs, bytes.Clone(w.id[:]))
		} else {
			a.Nodes = append(a.Nodes, bytes.Clone(w.id[:]))
		}
	}
	s.mu.Unlock()
	for l, a := range ask {
		for _, page := range wire.Pages(a.Nodes, wire.KeySize) {
			if l.Send(&wire.Want{Nodes: page}) != nil {
				break
			}
		}
		for _, page := range wire.Pages(a.Downs, wire.KeySize) {
			if l.Send(&wire.Want{Downs: page}) != nil {
				break
			}
		}
	}
}
