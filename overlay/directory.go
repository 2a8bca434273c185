package overlay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// The directory. Records live on a consistent-hash ring of the supernodes in
// the view, each on the Replicas supernodes that follow its key (its
// holders). A leaf's Store goes to its supernode, which tries the holders in
// ring order: the first that answers decides (so the first valid claim for a
// name wins), and the others get replicas. A leaf's Lookup goes to its
// supernode, which answers from its own store if it is a holder (1 hop) or
// asks all holders at once and returns the newest valid answer (2 hops); a
// holder that does not answer is skipped. When the view changes, each
// supernode pushes the records it holds to their new holders and forgets
// those it no longer holds. Every supernode validates every record it
// stores; readers validate again, so a supernode cannot forge one.
//
// Subscriptions: a leaf subscribes to keys at its supernode, which
// subscribes at the keys' holders (refreshed, so subscriptions follow the
// ring). A holder that stores a new record, or sees one expire, notifies its
// subscribed supernodes, which pass it to their subscribed leaves.

// Replicas is how many supernodes hold each record.
const Replicas = 3

const (
	holderTimeout   = 2 * time.Second // one request to a holder
	holderSubTTL    = 5 * time.Minute // a supernode's subscription at a holder
	subRefreshEvery = 2 * time.Minute // supernodes renew their subscriptions
	// holderSubSweepEvery is how often a holder drops lapsed subscriptions.
	holderSubSweepEvery = holderSubTTL / 5
)

// directory is a supernode's share of the directory: the records it holds
// on the ring, the supernodes subscribed to them here, and its own leaves'
// subscriptions (kept at the records' holders). It handles Store, Lookup,
// Subscribe and Notify.
type directory struct {
	sn *Supernode

	mu           sync.Mutex
	records      map[[32]byte]*wire.Record                  // guarded by mu: records held here
	holderSubs   map[[32]byte]map[identity.NodeID]time.Time // guarded by mu: supernodes subscribed here
	leafSubs     map[[32]byte]map[identity.NodeID]struct{}  // guarded by mu: own leaves' subscriptions
	lastNotified map[[32]byte]uint64                        // guarded by mu: last seq passed to leaves
}

func newDirectory(sn *Supernode) *directory {
	return &directory{
		sn:           sn,
		records:      make(map[[32]byte]*wire.Record),
		holderSubs:   make(map[[32]byte]map[identity.NodeID]time.Time),
		leafSubs:     make(map[[32]byte]map[identity.NodeID]struct{}),
		lastNotified: make(map[[32]byte]uint64),
	}
}

// storeCode maps a record error to a Store result code.
func storeCode(err error) (uint8, string) {
	switch {
	case err == nil:
		return wire.StoreOK, ""
	case errors.Is(err, record.ErrNameTaken):
		return wire.StoreNameTaken, err.Error()
	case errors.Is(err, record.ErrStale):
		return wire.StoreStale, err.Error()
	}
	return wire.StoreBadRecord, err.Error()
}

// holderStore stores rec here, as one of its holders.
func (s *directory) holderStore(rec *wire.Record) (uint8, string) {
	key, err := s.sn.cfg.policy().Validate(rec)
	if err != nil {
		return storeCode(err)
	}
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	if old := s.records[key]; old != nil {
		if record.Same(old, rec) {
			s.mu.Unlock()
			return wire.StoreOK, ""
		}
		if err := record.Supersedes(rec, old, now); err != nil {
			s.mu.Unlock()
			return storeCode(err)
		}
	}
	s.records[key] = rec
	s.mu.Unlock()
	s.notifySubscribers(key, rec)
	return wire.StoreOK, ""
}

// route stores a leaf's record on its holders.
func (s *directory) route(ctx context.Context, rec *wire.Record) (uint8, string) {
	key, err := s.sn.cfg.policy().Validate(rec)
	if err != nil {
		return storeCode(err)
	}
	holders := s.sn.mem.currentRing().Holders(key, Replicas)
	for i, h := range holders {
		code, reason := s.storeAt(ctx, h, rec, false)
		if code == wire.StoreUnavailable {
			continue
		}
		if code == wire.StoreOK {
			for _, r := range holders[i+1:] {
				go s.storeAt(s.sn.ctx, r, rec, true)
			}
		}
		return code, reason
	}
	return wire.StoreUnavailable, "no holder of the record answered"
}

// storeAt stores rec at holder h: here, or over the mesh link to h.
func (s *directory) storeAt(ctx context.Context, h identity.NodeID, rec *wire.Record, replica bool) (uint8, string) {
	if h == s.sn.ID() {
		return s.holderStore(rec)
	}
	ctx, cancel := context.WithTimeout(ctx, holderTimeout)
	defer cancel()
	l := s.sn.mem.linkTo(ctx, h)
	if l == nil {
		return wire.StoreUnavailable, "holder not reachable"
	}
	m, err := l.Call(ctx, func(id uint64) wire.Message { return &wire.Store{ReqID: id, Record: *rec, Replica: replica} })
	if err != nil {
		return wire.StoreUnavailable, err.Error()
	}
	r, ok := m.(*wire.StoreResult)
	if !ok {
		return wire.StoreUnavailable, "bad answer"
	}
	return r.Code, r.Reason
}

// localRecords returns what this supernode stores under key.
func (s *directory) localRecords(key [32]byte) []wire.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[key]; r != nil && r.Expires > s.sn.cfg.Clock.Now().UnixMilli() {
		return []wire.Record{*r}
	}
	return nil
}

// lookup answers a leaf's lookup: locally if this supernode holds the key,
// else by asking every holder at once and keeping the best valid answer.
func (s *directory) lookup(ctx context.Context, key [32]byte) *wire.LookupResult {
	holders := s.sn.mem.currentRing().Holders(key, Replicas)
	for _, h := range holders {
		if h == s.sn.ID() {
			if recs := s.localRecords(key); len(recs) > 0 {
				return &wire.LookupResult{Records: recs, Hops: 1}
			}
		}
	}
	type answer struct {
		recs []wire.Record
		ok   bool
	}
	answers := make(chan answer, len(holders))
	asked := 0
	for _, h := range holders {
		if h == s.sn.ID() {
			continue
		}
		asked++
		go func() {
			ctx, cancel := context.WithTimeout(ctx, holderTimeout)
			defer cancel()
			l := s.sn.mem.linkTo(ctx, h)
			if l == nil {
				answers <- answer{}
				return
			}
			m, err := l.Call(ctx, func(id uint64) wire.Message { return &wire.Lookup{ReqID: id, Key: key[:], Direct: true} })
			r, ok := m.(*wire.LookupResult)
			if err != nil || !ok || r.Unavailable {
				answers <- answer{}
				return
			}
			answers <- answer{recs: r.Records, ok: true}
		}()
	}
	selfHolds := false
	for _, h := range holders {
		selfHolds = selfHolds || h == s.sn.ID()
	}
	var best *wire.Record
	answered := selfHolds
	for range asked {
		a := <-answers
		answered = answered || a.ok
		for i := range a.recs {
			r := &a.recs[i]
			k, err := s.sn.cfg.policy().Validate(r)
			if err != nil || k != key {
				continue
			}
			if best == nil || record.Supersedes(r, best, s.sn.cfg.Clock.Now()) == nil {
				best = r
			}
		}
	}
	res := &wire.LookupResult{Hops: 2, Unavailable: !answered}
	if best != nil {
		res.Records = []wire.Record{*best}
	}
	return res
}

// rereplicate pushes the records held here to holders that the view change
// added, and forgets records this supernode no longer holds. It also
// renews subscriptions at new holders.
func (s *directory) rereplicate(oldRing, newRing *record.Ring) {
	me := s.sn.ID()
	s.mu.Lock()
	type push struct {
		to  identity.NodeID
		rec *wire.Record
	}
	var pushes []push
	for key, rec := range s.records {
		was := oldRing.Holders(key, Replicas)
		now := newRing.Holders(key, Replicas)
		for _, h := range now {
			if h != me && !containsID(was, h) {
				pushes = append(pushes, push{h, rec})
			}
		}
		if !containsID(now, me) && newRing.Len() > 0 {
			delete(s.records, key)
		}
	}
	var subKeys [][32]byte
	for key := range s.leafSubs {
		subKeys = append(subKeys, key)
	}
	s.mu.Unlock()
	for _, p := range pushes {
		go s.storeAt(s.sn.ctx, p.to, p.rec, true)
	}
	if len(subKeys) > 0 {
		go s.subscribeAtHolders(subKeys)
	}
}

func containsID(ids []identity.NodeID, id identity.NodeID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// leafSubscribe records a leaf's subscriptions and subscribes at holders.
func (s *directory) leafSubscribe(leaf identity.NodeID, keys [][]byte, unsub bool) {
	var fresh [][32]byte
	s.mu.Lock()
	for _, kb := range keys {
		var key [32]byte
		if len(kb) != len(key) {
			continue
		}
		copy(key[:], kb)
		subs := s.leafSubs[key]
		if unsub {
			delete(subs, leaf)
			if len(subs) == 0 {
				delete(s.leafSubs, key)
			}
			continue
		}
		if subs == nil {
			subs = make(map[identity.NodeID]struct{})
			s.leafSubs[key] = subs
		}
		subs[leaf] = struct{}{}
		fresh = append(fresh, key)
	}
	s.mu.Unlock()
	if len(fresh) > 0 {
		s.subscribeAtHolders(fresh)
	}
}

// leafGone drops a departed leaf's subscriptions.
func (s *directory) leafGone(leaf identity.NodeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, subs := range s.leafSubs {
		delete(subs, leaf)
		if len(subs) == 0 {
			delete(s.leafSubs, key)
		}
	}
}

// subscribeAtHolders subscribes this supernode at the holders of keys.
func (s *directory) subscribeAtHolders(keys [][32]byte) {
	ring := s.sn.mem.currentRing()
	byHolder := make(map[identity.NodeID][][]byte)
	for _, key := range keys {
		for _, h := range ring.Holders(key, Replicas) {
			byHolder[h] = append(byHolder[h], append([]byte(nil), key[:]...))
		}
	}
	for h, ks := range byHolder {
		if h == s.sn.ID() {
			s.holderSubscribe(h, ks)
			continue
		}
		s.sn.mem.sendTo(h, func(l *Link) {
			// Paged: after a view change one holder can take thousands of
			// keys, and a list over the wire's limit is refused whole.
			for _, page := range wire.Pages(ks, wire.KeySize) {
				if err := l.Send(&wire.Subscribe{Keys: page}); err != nil {
					s.sn.log.Warn("subscriptions not sent to a holder", "holder", h.Short(), "keys", len(ks), "err", err)
					break
				}
			}
		})
	}
}

// holderSubscribe records supernode sub's subscription to keys held here.
func (s *directory) holderSubscribe(sub identity.NodeID, keys [][]byte) {
	until := s.sn.cfg.Clock.Now().Add(holderSubTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kb := range keys {
		var key [32]byte
		if len(kb) != len(key) || len(s.holderSubs) > 1<<20 {
			continue
		}
		copy(key[:], kb)
		m := s.holderSubs[key]
		if m == nil {
			m = make(map[identity.NodeID]time.Time)
			s.holderSubs[key] = m
		}
		m[sub] = until
	}
}

// notifySubscribers tells the supernodes subscribed at this holder, and
// this supernode's own subscribed leaves, that key changed (rec nil: gone).
func (s *directory) notifySubscribers(key [32]byte, rec *wire.Record) {
	now := s.sn.cfg.Clock.Now()
	s.mu.Lock()
	var to []identity.NodeID
	for sub, until := range s.holderSubs[key] {
		if until.After(now) {
			to = append(to, sub)
		}
	}
	s.mu.Unlock()
	msg := &wire.Notify{Key: key[:], Record: rec}
	for _, sub := range to {
		if sub == s.sn.ID() {
			s.forwardNotify(msg)
		} else {
			s.sn.mem.sendTo(sub, func(l *Link) { l.Send(msg) })
		}
	}
}

// forwardNotify passes a holder's notification to this supernode's
// subscribed leaves, once per change (every holder sends one).
func (s *directory) forwardNotify(n *wire.Notify) {
	var key [32]byte
	if len(n.Key) != len(key) {
		return
	}
	copy(key[:], n.Key)
	var seq uint64 // 0 stands for "gone"
	if n.Record != nil {
		k, err := s.sn.cfg.policy().Validate(n.Record)
		if err != nil || k != key {
			return
		}
		seq = n.Record.Seq
	}
	s.mu.Lock()
	last, seen := s.lastNotified[key]
	if seen && last == seq {
		s.mu.Unlock()
		return
	}
	if n.Record != nil && seen && last > seq {
		s.mu.Unlock()
		return
	}
	s.lastNotified[key] = seq
	var leaves []identity.NodeID
	for id := range s.leafSubs[key] {
		leaves = append(leaves, id)
	}
	s.mu.Unlock()
	for _, id := range leaves {
		if l, _ := s.sn.leafState(id); l != nil {
			l.Send(n)
		}
	}
}

// dirLoop sweeps expired records (notifying subscribers) and renews this
// supernode's subscriptions at holders.
func (s *directory) dirLoop(ctx context.Context) {
	lastRefresh, lastSubSweep := s.sn.cfg.Clock.Now(), s.sn.cfg.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.sn.cfg.Clock.After(s.sn.cfg.SweepInterval):
		}
		now := s.sn.cfg.Clock.Now()
		var gone [][32]byte
		s.mu.Lock()
		for key, r := range s.records {
			if r.Expires <= now.UnixMilli() {
				delete(s.records, key)
				gone = append(gone, key)
			}
		}
		// Subscriptions live minutes: sweeping them at every record sweep
		// walked every subscribed key (hundreds of thousands at a busy
		// holder) for nothing.
		if now.Sub(lastSubSweep) >= holderSubSweepEvery {
			lastSubSweep = now
			for key, subs := range s.holderSubs {
				for id, until := range subs {
					if !until.After(now) {
						delete(subs, id)
					}
				}
				if len(subs) == 0 {
					delete(s.holderSubs, key)
				}
			}
		}
		var subKeys [][32]byte
		if now.Sub(lastRefresh) >= subRefreshEvery {
			for key := range s.leafSubs {
				subKeys = append(subKeys, key)
			}
			lastRefresh = now
		}
		s.mu.Unlock()
		for _, key := range gone {
			s.notifySubscribers(key, nil)
		}
		s.sn.mail.sweepMail(now)
		if len(subKeys) > 0 {
			s.subscribeAtHolders(subKeys)
		}
	}
}

// handleDirectory answers the directory messages common to leaves and
// peers. from is the sender; isPeer tells whether it is a supernode.
func (s *directory) handleDirectory(l *Link, m wire.Message, isPeer bool) (handled bool) {
	switch m := m.(type) {
	case *wire.Store:
		go func() {
			var code uint8
			var reason string
			if isPeer {
				code, reason = s.holderStore(&m.Record)
			} else {
				code, reason = s.route(s.sn.ctx, &m.Record)
			}
			l.Send(&wire.StoreResult{ReqID: m.ReqID, Code: code, Reason: reason})
		}()
	case *wire.Lookup:
		var key [32]byte
		if len(m.Key) != len(key) {
			l.Send(&wire.LookupResult{ReqID: m.ReqID, Unavailable: true})
			return true
		}
		copy(key[:], m.Key)
		if isPeer && m.Direct {
			l.Send(&wire.LookupResult{ReqID: m.ReqID, Records: s.localRecords(key), Hops: 1})
			return true
		}
		go func() {
			r := s.lookup(s.sn.ctx, key)
			r.ReqID = m.ReqID
			l.Send(r)
		}()
	case *wire.Subscribe:
		if isPeer {
			if m.Unsub {
				return true
			}
			s.holderSubscribe(l.Peer(), m.Keys)
		} else {
			s.leafSubscribe(l.Peer(), m.Keys, m.Unsub)
		}
	case *wire.Notify:
		if isPeer {
			s.forwardNotify(m)
		}
	default:
		return l.deliver(m)
	}
	return true
}

// policy returns the record validation policy of this supernode.
func (c *SupernodeConfig) policy() record.Policy {
	return record.Policy{Difficulty: c.ClaimDifficulty, Now: c.Clock.Now}
}

// HasRecord reports whether this supernode holds an unexpired record under key.
func (s *Supernode) HasRecord(key [32]byte) bool { return len(s.dir.localRecords(key)) > 0 }
