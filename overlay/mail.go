package overlay

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// Envelope routing and mailboxes. A leaf hands a sealed envelope to its
// supernode (DeliverRoute), which looks up the recipient's presence record
// and passes the envelope to the supernodes named there (DeliverToLeaf),
// each of which hands it to the recipient if it is logged in there. The
// recipient's peer acknowledges it. When no named supernode can deliver, the
// envelope goes to the mailboxes that the holders of the recipient's
// records keep for it (DeliverStore, Replicas copies), until the recipient
// fetches it after logging in and acknowledges it, or it expires. Mailboxes
// follow the ring like records do. Envelopes are opaque: sealed and signed
// end to end, so a supernode can neither read nor forge one.

// MaxEnvelope is the largest envelope a supernode carries.
const MaxEnvelope = 64 << 10

// mailboxes routes envelopes and keeps the mailboxes of the peers whose
// records this supernode holds. It handles Deliver, MailFetch and MailAck.
type mailboxes struct {
	sn    *Supernode
	store mailStore
}

// MailLimits bound the mailboxes a supernode keeps.
type MailLimits struct {
	// TTL is how long an envelope waits for its recipient. Default 30 days.
	TTL time.Duration
	// PerSender bounds the envelopes and bytes one sender may leave in one
	// recipient's mailbox. Defaults 500 and 8 MiB.
	PerSender      int
	PerSenderBytes int
	// PerRecipientBytes bounds one mailbox. Default 32 MiB.
	PerRecipientBytes int
	// TotalBytes bounds all mailboxes of this supernode. Default 512 MiB.
	TotalBytes int
}

func (m *MailLimits) setDefaults() {
	if m.TTL == 0 {
		m.TTL = 30 * 24 * time.Hour
	}
	if m.PerSender == 0 {
		m.PerSender = 500
	}
	if m.PerSenderBytes == 0 {
		m.PerSenderBytes = 8 << 20
	}
	if m.PerRecipientBytes == 0 {
		m.PerRecipientBytes = 32 << 20
	}
	if m.TotalBytes == 0 {
		m.TotalBytes = 512 << 20
	}
}

const (
	deliverTimeout = 5 * time.Second // one hop of a Deliver, including the leaf's answer
	mailPageBytes  = 192 << 10       // mail per MailResult, under the frame limit
	mailPageItems  = 256
)

// mailbox is one recipient's mail on one holder.
type mailbox struct {
	items map[[16]byte]*mailItem
	bytes int
	used  map[identity.NodeID]*quotaUse // per sender
}

type mailItem struct {
	from   identity.NodeID
	data   []byte
	stored int64 // unix ms
}

type quotaUse struct{ n, bytes int }

// mailStore is a supernode's mailboxes.
type mailStore struct {
	mu    sync.Mutex
	boxes map[identity.NodeID]*mailbox
	bytes int
	stats MailStats
}

// MailStats are a supernode's mailbox counters.
type MailStats struct {
	Boxes, Envelopes, Bytes int
	Delivered, Stored       uint64 // envelopes routed by this supernode
	Refused                 uint64 // mailbox stores refused (quota)
}

// MailID returns the mailbox ID of an envelope: the first 16 bytes of its
// SHA-256, the same on every holder.
func MailID(data []byte) [16]byte {
	sum := sha256.Sum256(data)
	return [16]byte(sum[:16])
}

func nodeIDFrom(b []byte) (identity.NodeID, bool) {
	var id identity.NodeID
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// keep stores an envelope in to's mailbox on this holder.
func (s *mailboxes) keepMail(to, from identity.NodeID, data []byte, stored int64) (uint8, string) {
	lim := s.sn.cfg.Mail
	if len(data) == 0 || len(data) > MaxEnvelope {
		return wire.DeliverRefused, "envelope empty or too big"
	}
	now := s.sn.cfg.Clock.Now()
	if stored <= 0 || stored > now.UnixMilli() {
		stored = now.UnixMilli()
	}
	if now.Sub(time.UnixMilli(stored)) >= lim.TTL {
		return wire.DeliverRefused, "envelope expired"
	}
	id := MailID(data)
	m := &s.store
	m.mu.Lock()
	defer m.mu.Unlock()
	box := m.boxes[to]
	if box == nil {
		box = &mailbox{items: make(map[[16]byte]*mailItem), used: make(map[identity.NodeID]*quotaUse)}
		m.boxes[to] = box
	}
	if _, dup := box.items[id]; dup {
		return wire.DeliverStored, ""
	}
	u := box.used[from]
	if u == nil {
		u = &quotaUse{}
	}
	switch {
	case u.n+1 > lim.PerSender || u.bytes+len(data) > lim.PerSenderBytes:
		m.stats.Refused++
		return wire.DeliverRefused, "sender's quota for this mailbox is used up"
	case box.bytes+len(data) > lim.PerRecipientBytes:
		m.stats.Refused++
		return wire.DeliverRefused, "recipient's mailbox is full"
	case m.bytes+len(data) > lim.TotalBytes:
		m.stats.Refused++
		return wire.DeliverRefused, "supernode's mail storage is full"
	}
	box.used[from] = u
	u.n++
	u.bytes += len(data)
	box.items[id] = &mailItem{from: from, data: data, stored: stored}
	box.bytes += len(data)
	m.bytes += len(data)
	return wire.DeliverStored, ""
}

// dropMailLocked removes one envelope. m.mu must be held.
func (m *mailStore) dropLocked(to identity.NodeID, box *mailbox, id [16]byte) {
	it := box.items[id]
	if it == nil {
		return
	}
	delete(box.items, id)
	box.bytes -= len(it.data)
	m.bytes -= len(it.data)
	if u := box.used[it.from]; u != nil {
		u.n--
		u.bytes -= len(it.data)
		if u.n <= 0 {
			delete(box.used, it.from)
		}
	}
	if len(box.items) == 0 {
		delete(m.boxes, to)
	}
}

// ackMail deletes acknowledged envelopes from to's mailbox here.
func (s *mailboxes) ackMail(to identity.NodeID, ids [][]byte) {
	m := &s.store
	m.mu.Lock()
	defer m.mu.Unlock()
	box := m.boxes[to]
	if box == nil {
		return
	}
	for _, b := range ids {
		if len(b) == 16 {
			m.dropLocked(to, box, [16]byte(b))
			if m.boxes[to] == nil {
				return
			}
		}
	}
}

// localMail lists to's mail here, oldest first, up to a page.
func (s *mailboxes) localMail(to identity.NodeID) (out []wire.Mail, more bool) {
	m := &s.store
	m.mu.Lock()
	box := m.boxes[to]
	var all []wire.Mail
	if box != nil {
		for id, it := range box.items {
			all = append(all, wire.Mail{ID: id[:], From: it.from[:], Data: it.data, Stored: it.stored})
		}
	}
	m.mu.Unlock()
	return pageMail(all)
}

// pageMail sorts mail oldest first and cuts it to one page.
func pageMail(all []wire.Mail) ([]wire.Mail, bool) {
	slices.SortFunc(all, func(a, b wire.Mail) int {
		return cmp.Or(cmp.Compare(a.Stored, b.Stored), slices.Compare(a.ID, b.ID))
	})
	size := 0
	for i, it := range all {
		size += len(it.Data) + 64
		if i >= mailPageItems || (i > 0 && size > mailPageBytes) {
			return all[:i], true
		}
	}
	return all, false
}

// sweepMail drops mail older than the TTL.
func (s *mailboxes) sweepMail(now time.Time) {
	cutoff := now.Add(-s.sn.cfg.Mail.TTL).UnixMilli()
	m := &s.store
	m.mu.Lock()
	defer m.mu.Unlock()
	for to, box := range m.boxes {
		for id, it := range box.items {
			if it.stored <= cutoff {
				m.dropLocked(to, box, id)
			}
		}
	}
}

// MailStats returns the mailbox counters.
func (s *Supernode) MailStats() MailStats {
	m := &s.mail.store
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stats
	st.Boxes, st.Bytes = len(m.boxes), m.bytes
	for _, b := range m.boxes {
		st.Envelopes += len(b.items)
	}
	return st
}

// deliverLocal hands an envelope to the leaf to if it is logged in here,
// and waits for its acknowledgement.
func (s *mailboxes) deliverLocal(ctx context.Context, to, from identity.NodeID, data []byte) (uint8, string) {
	leaf, _ := s.sn.leafState(to)
	if leaf == nil {
		return wire.DeliverOffline, "recipient not logged in here"
	}
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	m, err := leaf.Call(ctx, func(id uint64) wire.Message {
		return &wire.Deliver{ReqID: id, Mode: wire.DeliverToLeaf, To: to[:], From: from[:], Data: data}
	})
	if err != nil {
		return wire.DeliverOffline, err.Error()
	}
	r, ok := m.(*wire.DeliverResult)
	if !ok {
		return wire.DeliverOffline, "bad answer from leaf"
	}
	return r.Code, r.Reason
}

// deliverAt sends a Deliver of the given mode to supernode h (or handles it
// here) and returns its result.
func (s *mailboxes) deliverAt(ctx context.Context, h identity.NodeID, mode uint8, to, from identity.NodeID, data []byte, stored int64) (uint8, string) {
	if h == s.sn.ID() {
		if mode == wire.DeliverStore {
			return s.keepMail(to, from, data, stored)
		}
		return s.deliverLocal(ctx, to, from, data)
	}
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout+time.Second)
	defer cancel()
	l := s.sn.mem.linkTo(ctx, h)
	if l == nil {
		return wire.DeliverUnavailable, "supernode not reachable"
	}
	m, err := l.Call(ctx, func(id uint64) wire.Message {
		return &wire.Deliver{ReqID: id, Mode: mode, To: to[:], From: from[:], Data: data, Stored: stored}
	})
	if err != nil {
		return wire.DeliverUnavailable, err.Error()
	}
	r, ok := m.(*wire.DeliverResult)
	if !ok {
		return wire.DeliverUnavailable, "bad answer"
	}
	return r.Code, r.Reason
}

// routeEnvelope delivers a leaf's envelope: to the recipient through the
// supernodes its presence names, else into its mailboxes.
func (s *mailboxes) routeEnvelope(ctx context.Context, from identity.NodeID, d *wire.Deliver) *wire.DeliverResult {
	to, ok := nodeIDFrom(d.To)
	if !ok || len(d.Data) == 0 || len(d.Data) > MaxEnvelope {
		return &wire.DeliverResult{Code: wire.DeliverRefused, Reason: "malformed envelope or recipient"}
	}
	if code, _ := s.deliverLocal(ctx, to, from, d.Data); code == wire.DeliverDelivered {
		s.countMail(true)
		return &wire.DeliverResult{Code: code}
	}
	for _, sn := range s.presenceSupernodes(ctx, to) {
		if sn == s.sn.ID() {
			continue // tried above
		}
		if code, _ := s.deliverAt(ctx, sn, wire.DeliverToLeaf, to, from, d.Data, 0); code == wire.DeliverDelivered {
			s.countMail(true)
			return &wire.DeliverResult{Code: code}
		}
	}
	return s.storeMail(ctx, to, from, d.Data, 0)
}

func (s *mailboxes) countMail(delivered bool) {
	s.store.mu.Lock()
	if delivered {
		s.store.stats.Delivered++
	} else {
		s.store.stats.Stored++
	}
	s.store.mu.Unlock()
}

// presenceSupernodes returns the supernodes to's valid presence record
// names, or none if it is offline or unknown.
func (s *mailboxes) presenceSupernodes(ctx context.Context, to identity.NodeID) []identity.NodeID {
	key := record.PresenceKey(to)
	r := s.sn.dir.lookup(ctx, key)
	var out []identity.NodeID
	for i := range r.Records {
		rec := &r.Records[i]
		if k, err := s.sn.cfg.policy().Validate(rec); err != nil || k != key {
			continue
		}
		body, err := record.DecodePresence(rec)
		if err != nil || body.Status == wire.StatusOffline {
			continue
		}
		for _, sn := range body.Supernodes {
			if id, ok := nodeIDFrom(sn.ID); ok && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// storeMail puts an envelope in to's mailboxes on its holders.
func (s *mailboxes) storeMail(ctx context.Context, to, from identity.NodeID, data []byte, stored int64) *wire.DeliverResult {
	if stored == 0 {
		stored = s.sn.cfg.Clock.Now().UnixMilli()
	}
	holders := s.sn.mem.currentRing().Holders(record.PresenceKey(to), Replicas)
	type res struct {
		code   uint8
		reason string
	}
	results := make(chan res, len(holders))
	for _, h := range holders {
		go func() {
			code, reason := s.deliverAt(ctx, h, wire.DeliverStore, to, from, data, stored)
			results <- res{code, reason}
		}()
	}
	copies, refused, reason := 0, 0, "no holder of the recipient's records answered"
	for range holders {
		r := <-results
		switch r.code {
		case wire.DeliverStored:
			copies++
		case wire.DeliverRefused:
			refused++
			reason = r.reason
		}
	}
	switch {
	case copies > 0:
		s.countMail(false)
		return &wire.DeliverResult{Code: wire.DeliverStored, Copies: uint8(copies)}
	case refused > 0:
		return &wire.DeliverResult{Code: wire.DeliverRefused, Reason: reason}
	}
	return &wire.DeliverResult{Code: wire.DeliverUnavailable, Reason: reason}
}

// fetchMail gathers a leaf's mail from the holders of its records.
func (s *mailboxes) fetchMail(ctx context.Context, to identity.NodeID) *wire.MailResult {
	holders := s.sn.mem.currentRing().Holders(record.PresenceKey(to), Replicas)
	type res struct {
		mail []wire.Mail
		more bool
		ok   bool
	}
	results := make(chan res, len(holders))
	for _, h := range holders {
		go func() {
			if h == s.sn.ID() {
				mail, more := s.localMail(to)
				results <- res{mail, more, true}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, holderTimeout)
			defer cancel()
			l := s.sn.mem.linkTo(cctx, h)
			if l == nil {
				results <- res{}
				return
			}
			m, err := l.Call(cctx, func(id uint64) wire.Message { return &wire.MailFetch{ReqID: id, For: to[:]} })
			r, ok := m.(*wire.MailResult)
			if err != nil || !ok || r.Unavailable {
				results <- res{}
				return
			}
			results <- res{r.Mail, r.More, true}
		}()
	}
	seen := make(map[[16]byte]bool)
	var all []wire.Mail
	answered, more := false, false
	for range holders {
		r := <-results
		answered = answered || r.ok
		more = more || r.more
		for _, it := range r.mail {
			// A holder's word is not trusted: the ID must match the data.
			if len(it.ID) != 16 || MailID(it.Data) != [16]byte(it.ID) || seen[[16]byte(it.ID)] {
				continue
			}
			seen[[16]byte(it.ID)] = true
			all = append(all, it)
		}
	}
	page, cut := pageMail(all)
	return &wire.MailResult{Mail: page, More: more || cut, Unavailable: !answered}
}

// ackMailAtHolders passes a leaf's acknowledgement to the holders.
func (s *mailboxes) ackMailAtHolders(to identity.NodeID, ids [][]byte) {
	for _, h := range s.sn.mem.currentRing().Holders(record.PresenceKey(to), Replicas) {
		if h == s.sn.ID() {
			s.ackMail(to, ids)
		} else {
			s.sn.mem.sendTo(h, func(l *Link) { l.Send(&wire.MailAck{IDs: ids, For: to[:]}) })
		}
	}
}

// rereplicateMail pushes mailboxes to holders that a view change added and
// forgets those this supernode no longer holds.
func (s *mailboxes) rereplicateMail(oldRing, newRing *record.Ring) {
	me := s.sn.ID()
	type push struct {
		h, to, from identity.NodeID
		data        []byte
		stored      int64
	}
	var pushes []push
	m := &s.store
	m.mu.Lock()
	for to, box := range m.boxes {
		key := record.PresenceKey(to)
		was, now := oldRing.Holders(key, Replicas), newRing.Holders(key, Replicas)
		for _, h := range now {
			if h == me || containsID(was, h) {
				continue
			}
			for _, it := range box.items {
				pushes = append(pushes, push{h, to, it.from, it.data, it.stored})
			}
		}
		if !containsID(now, me) && newRing.Len() > 0 {
			for id := range box.items {
				m.dropLocked(to, box, id)
			}
		}
	}
	m.mu.Unlock()
	if len(pushes) == 0 {
		return
	}
	go func() {
		for _, p := range pushes {
			s.deliverAt(s.sn.ctx, p.h, wire.DeliverStore, p.to, p.from, p.data, p.stored)
		}
	}()
}

// handleMail answers the envelope and mailbox messages. from is the
// link's authenticated peer; isPeer tells whether it is a supernode.
func (s *mailboxes) handleMail(l *Link, m wire.Message, isPeer bool) (handled bool) {
	from := l.Peer()
	switch m := m.(type) {
	case *wire.Deliver:
		if len(m.Data) > MaxEnvelope {
			l.Send(&wire.DeliverResult{ReqID: m.ReqID, Code: wire.DeliverRefused, Reason: "envelope too big"})
			return true
		}
		go func() {
			var r *wire.DeliverResult
			switch {
			case !isPeer:
				if m.Mode != wire.DeliverRoute {
					r = &wire.DeliverResult{Code: wire.DeliverRefused, Reason: "a leaf may only route envelopes"}
				} else {
					r = s.routeEnvelope(s.sn.ctx, from, m)
				}
			default:
				to, ok1 := nodeIDFrom(m.To)
				sender, ok2 := nodeIDFrom(m.From)
				if !ok1 || !ok2 {
					r = &wire.DeliverResult{Code: wire.DeliverRefused, Reason: "malformed recipient or sender"}
					break
				}
				var code uint8
				var reason string
				switch m.Mode {
				case wire.DeliverToLeaf:
					code, reason = s.deliverLocal(s.sn.ctx, to, sender, m.Data)
				case wire.DeliverStore:
					code, reason = s.keepMail(to, sender, m.Data, m.Stored)
				default:
					code, reason = wire.DeliverRefused, fmt.Sprintf("unknown delivery mode %d", m.Mode)
				}
				r = &wire.DeliverResult{Code: code, Reason: reason}
			}
			r.ReqID = m.ReqID
			l.Send(r)
		}()
	case *wire.MailFetch:
		if isPeer {
			to, ok := nodeIDFrom(m.For)
			if !ok {
				l.Send(&wire.MailResult{ReqID: m.ReqID, Unavailable: true})
				return true
			}
			mail, more := s.localMail(to)
			l.Send(&wire.MailResult{ReqID: m.ReqID, Mail: mail, More: more})
			return true
		}
		go func() {
			r := s.fetchMail(s.sn.ctx, from)
			r.ReqID = m.ReqID
			l.Send(r)
		}()
	case *wire.MailAck:
		if len(m.IDs) > mailPageItems*2 {
			return true
		}
		if isPeer {
			if to, ok := nodeIDFrom(m.For); ok {
				s.ackMail(to, m.IDs)
			}
			return true
		}
		go s.ackMailAtHolders(from, m.IDs)
	default:
		return false
	}
	return true
}
