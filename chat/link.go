package chat

import (
	"bytes"
	"context"

	"slices"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// Direct links. When two contacts are both online and talking, chat goes
// over a WebRTC data channel between them (rtc), set up through
// KindSignal envelopes: signed and sealed, so that the DTLS fingerprints in
// the SDP are the peers' own and a supernode cannot sit in the middle. The
// link is made when there is something to say to an online contact, or
// when it says something; until it is open, and whenever it fails,
// envelopes carry everything. Messages, receipts and typing go over it;
// contact requests and answers always go as envelopes.
//
// Only the peer with the lower node ID offers; the other asks it to with a
// KindLinkInvite letter. So two peers that want a link at the same moment
// never offer at once, and an offer from the lower peer replaces whatever
// link the higher one had (it may be stale: a restart on the other side).

// RTC configures direct links; nil Config.RTC means envelopes only.
type RTC struct {
	// ICEServers returns the STUN and TURN servers to use (the leaf's
	// supernodes, with fresh credentials).
	ICEServers func(ctx context.Context) ([]overlay.ICEServer, error)
	// Tune adjusts each session's configuration (tests: a vnet, timeouts).
	Tune func(*rtc.Config)
	// Idle is how long a link with nothing on it stays up. Default 10 min.
	Idle time.Duration
}

// link is a data-channel session with one contact.
type link struct {
	sess    *rtc.Session
	offerer bool
	open    bool
	made    time.Time
	used    time.Time
	// receipts sent on the link lately (guarded by Service.mu): a data
	// channel is reliable only while it lives, and one whose other end
	// died (a crash, a SIGKILL) takes seconds to notice, so what was sent
	// on it meanwhile may be lost. Messages wait for their receipts and
	// are sent again; receipts are not, so these go again by envelope
	// when the link ends.
	receipts []sentReceipt
}

// sentReceipt is a receipt sent on a direct link.
type sentReceipt struct {
	at      time.Time
	payload []byte
}

// Receipts sent on a direct link in the last receiptKeep before it ends
// are sent again by envelope; at most maxKeptReceipts of them.
const (
	receiptKeep     = 30 * time.Second
	maxKeptReceipts = 256
)

// early holds the signals (trickled candidates) that come for an offered
// session while its answering session is being made: the offerer sends
// them right behind the offer, and the answerer's session only takes
// checks from candidates it was told of.
type early struct {
	session rtc.SessionID
	sigs    []rtc.Signal
}

// maxEarly bounds the signals held for one session being made.
const maxEarly = 64

// inviteEvery is how often the higher peer asks for a link at most.
const inviteEvery = 20 * time.Second

// offers reports whether this peer offers links to c (it has the lower ID).
func (s *Service) offers(c store.Contact) bool { return bytes.Compare(s.me[:], c.NodeID[:]) < 0 }

// LinkInfo describes the direct link with a contact.
type LinkInfo struct {
	Open    bool
	Path    rtc.Path
	Relayed bool
}

// Link reports the direct link with contact id, if there is one.
func (s *Service) Link(id int64) (LinkInfo, bool) {
	s.mu.Lock()
	l := s.links[id]
	var info LinkInfo
	if l != nil {
		info.Open = l.open
	}
	s.mu.Unlock()
	if l == nil {
		return LinkInfo{}, false
	}
	if p, ok := l.sess.Path(); ok {
		info.Path, info.Relayed = p, p.Relayed()
	}
	return info, true
}

// ensureLink starts a direct link to an accepted, online contact unless one
// exists or is being made.
func (s *Service) ensureLink(c store.Contact) {
	if s.cfg.RTC == nil || c.State != store.ContactAccepted || c.PendingKey != nil {
		return
	}
	if s.Presence(c.ID) == wire.StatusOffline {
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	if l := s.links[c.ID]; l != nil {
		l.used = now
		s.mu.Unlock()
		return
	}
	if !s.offers(c) {
		if now.Sub(s.invited[c.ID]) < inviteEvery {
			s.mu.Unlock()
			return
		}
		s.invited[c.ID] = now
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.letters.SendTo(ctx, c, KindLinkInvite, nil)
		return
	}
	s.mu.Unlock()
	s.newLink(c, true, rtc.Signal{})
}

// takeInvite handles a KindLinkInvite from accepted contact c: it has no
// link with us and wants one.
func (s *Service) takeInvite(c store.Contact) {
	if s.cfg.RTC == nil || !s.offers(c) {
		return
	}
	s.mu.Lock()
	l := s.links[c.ID]
	if l != nil && !l.open && s.cfg.Now().Sub(l.made) < 10*time.Second {
		s.mu.Unlock()
		return // an offer of ours is on its way
	}
	delete(s.links, c.ID)
	s.mu.Unlock()
	if l != nil {
		l.sess.Close() // stale: the other side lost it
	}
	s.newLink(c, true, rtc.Signal{})
}

// newLink makes a session with c: as the offerer, or answering offer.
func (s *Service) newLink(c store.Contact, offerer bool, offer rtc.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	servers, err := s.cfg.RTC.ICEServers(ctx)
	cancel()
	if err != nil {
		s.log.Debug("direct link without STUN/TURN", "err", err)
	}
	var ice []webrtc.ICEServer
	for _, sv := range servers {
		ice = append(ice, webrtc.ICEServer{URLs: sv.URLs, Username: sv.Username, Credential: sv.Credential, CredentialType: webrtc.ICECredentialTypePassword})
	}
	l := &link{offerer: offerer, made: s.cfg.Now(), used: s.cfg.Now()}
	cfg := rtc.Config{
		Offerer:    offerer,
		ID:         offer.Session,
		ICEServers: ice,
		Logger:     s.log,
		Send: func(sig rtc.Signal) error {
			payload, err := encode(sig)
			if err != nil {
				return err
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = s.letters.SendTo(sctx, c, KindSignal, payload)
			return err
		},
		OnOpen: func() {
			s.mu.Lock()
			l.open = true
			s.mu.Unlock()
			if p, ok := l.sess.Path(); ok {
				s.log.Info("direct link open", "contact", c.Username, "path", p.String())
			}
			// What waits for this contact may go now, directly.
			s.letters.Due(context.Background(), c.ID)
		},
		OnMessage: func(b []byte) { s.takeFrame(c.ID, b) },
		OnClose: func(reason error) {
			s.mu.Lock()
			if s.links[c.ID] == l {
				delete(s.links, c.ID)
			}
			again := recentReceipts(l.receipts, s.cfg.Now())
			l.receipts = nil
			stopped := s.stopped
			s.mu.Unlock()
			s.log.Debug("direct link closed", "contact", c.Username, "reason", reason, "receipts_again", len(again))
			if stopped || len(again) == 0 {
				return
			}
			for _, payload := range again {
				if err := s.letters.Enqueue(context.Background(), c.ID, KindReceipt, [16]byte{}, payload); err != nil {
					s.log.Warn("receipt not queued again", "contact", c.Username, "err", err)
				}
			}
		},
	}
	if s.cfg.RTC.Tune != nil {
		s.cfg.RTC.Tune(&cfg)
	}
	sess, err := rtc.NewSession(cfg)
	if err != nil {
		s.log.Warn("direct link", "err", err)
		if !offerer {
			s.takeEarly(c.ID, offer.Session)
		}
		return
	}
	l.sess = sess
	s.mu.Lock()
	old := s.links[c.ID]
	if old != nil && offerer {
		s.mu.Unlock()
		sess.Close() // one made meanwhile
		return
	}
	s.links[c.ID] = l // an answer replaces whatever we had
	s.mu.Unlock()
	if old != nil {
		old.sess.Close()
	}
	if offerer {
		err = sess.Start()
	} else {
		// Signals that come from now on go to sess; those that came
		// before follow the offer.
		held := s.takeEarly(c.ID, offer.Session)
		if err = sess.HandleSignal(offer); err == nil {
			for _, sig := range held {
				if err := sess.HandleSignal(sig); err != nil {
					s.log.Debug("early signal refused", "contact", c.Username, "err", err)
				}
			}
		}
	}
	if err != nil {
		s.log.Info("direct link failed to start", "contact", c.Username, "err", err)
		sess.Close()
	}
}

// takeEarly removes and returns the signals held for session of contact
// id.
func (s *Service) takeEarly(id int64, session rtc.SessionID) []rtc.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.early[id]
	if e == nil || e.session != session {
		return nil
	}
	delete(s.early, id)
	return e.sigs
}

// takeSignal handles a KindSignal letter from accepted contact c.
func (s *Service) takeSignal(c store.Contact, payload []byte) error {
	if s.cfg.RTC == nil {
		return nil
	}
	var sig rtc.Signal
	if err := decode(payload, &sig); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.links[c.ID]
	s.mu.Unlock()
	if l != nil && l.sess.ID() == sig.Session {
		if err := l.sess.HandleSignal(sig); err != nil {
			s.log.Debug("signal refused", "contact", c.Username, "err", err)
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.early[c.ID]; e != nil && e.session == sig.Session {
		if len(e.sigs) < maxEarly {
			e.sigs = append(e.sigs, sig) // its session is being made
		}
		return nil
	}
	if sig.Kind != rtc.KindOffer || s.offers(c) {
		return nil // for a session we do not have, or an offer against the rule
	}
	s.early[c.ID] = &early{session: sig.Session}
	go s.newLink(c, false, sig)
	return nil
}

// SendDirect sends a letter over the open direct link with contact id; it
// reports whether it did (letters.DirectLink).
func (s *Service) SendDirect(id int64, kind uint8, payload []byte) bool {
	s.mu.Lock()
	l := s.links[id]
	ok := l != nil && l.open
	if ok {
		l.used = s.cfg.Now()
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	b, err := encode(frame{Kind: kind, Body: payload})
	if err != nil {
		return false
	}
	if err := l.sess.Send(b); err != nil {
		s.log.Debug("direct send failed", "err", err)
		return false
	}
	s.direct.Add(1)
	if kind == KindReceipt {
		now := s.cfg.Now()
		s.mu.Lock()
		if l.receipts = append(l.receipts, sentReceipt{now, payload}); len(l.receipts) > maxKeptReceipts {
			l.receipts = slices.Clone(l.receipts[len(l.receipts)-maxKeptReceipts:])
		}
		s.mu.Unlock()
	}
	return true
}

// recentReceipts returns the payloads of the receipts of rs sent within
// receiptKeep of now.
func recentReceipts(rs []sentReceipt, now time.Time) [][]byte {
	var out [][]byte
	for _, r := range rs {
		if now.Sub(r.at) <= receiptKeep {
			out = append(out, r.payload)
		}
	}
	return out
}

// takeFrame handles a frame from the direct link with contact id: a
// letter from the contact, for the kinds that may come this way.
func (s *Service) takeFrame(id int64, b []byte) {
	var f frame
	if err := decode(b, &f); err != nil {
		s.log.Info("dropping malformed frame", "err", err)
		return
	}
	c, err := s.cfg.DB.Contact(context.Background(), id)
	if err != nil {
		return
	}
	s.mu.Lock()
	if l := s.links[id]; l != nil {
		l.used = s.cfg.Now()
	}
	s.mu.Unlock()
	if err := s.letters.TakeDirect(c, f.Kind, f.Body); err != nil {
		s.log.Warn("frame not stored", "err", err)
	}
}

// closeIdleLinks closes direct links with nothing on them for a while.
func (s *Service) closeIdleLinks() {
	if s.cfg.RTC == nil {
		return
	}
	idle := s.cfg.RTC.Idle
	if idle == 0 {
		idle = 10 * time.Minute
	}
	now := s.cfg.Now()
	var stale []*link
	s.mu.Lock()
	for id, l := range s.links {
		if now.Sub(l.used) > idle {
			stale = append(stale, l)
			delete(s.links, id)
		}
	}
	s.mu.Unlock()
	for _, l := range stale {
		l.sess.Close()
	}
}

// closeLinks closes every direct link (Run's end).
func (s *Service) closeLinks() {
	s.mu.Lock()
	s.stopped = true
	ls := s.links
	s.links = make(map[int64]*link)
	s.mu.Unlock()
	for _, l := range ls {
		l.sess.Close()
	}
}
