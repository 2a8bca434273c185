package call

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// call is one call. Its fields are owned by the Manager's loop, except
// those marked atomic, which the media path touches.
type call struct {
	id       ID
	contact  store.Contact
	dir      store.Direction
	state    State
	started  time.Time
	answered time.Time
	ended    time.Time
	outcome  store.CallOutcome
	reason   string
	err      error
	path     rtc.Path

	media    Media // the call's own media (WithMedia), or nil for Config.Media
	sess     *rtc.Session
	offer    *rtc.Signal  // incoming: the invite's offer
	remoteFP string       // the fingerprint the other end signed
	pending  []rtc.Signal // incoming: its signals before we answered

	ringTimer, connTimer, closeTimer Timer
	stop                             chan struct{} // closed when the call ends: stops the media loops
	out                              *outbox

	lastHeard atomic.Int64           // atomic: unix nanoseconds of the last packet or keepalive
	sink      atomic.Pointer[Sink]   // atomic: where received audio goes, once media is open
	src       atomic.Pointer[Source] // atomic: what is sent, once media is open
	sent      atomic.Uint64          // atomic: audio packets sent
	received  atomic.Uint64          // atomic: audio packets received
}

// info describes c.
func (c *call) info() Info {
	return Info{
		ID:        c.id,
		ContactID: c.contact.ID,
		Username:  c.contact.Username,
		Direction: c.dir,
		State:     c.state,
		Started:   c.started,
		Answered:  c.answered,
		Ended:     c.ended,
		Outcome:   c.outcome,
		Reason:    c.reason,
		Err:       c.err,
		Path:      c.path,
		Sent:      c.sent.Load(),
		Received:  c.received.Load(),
	}
}

// heard notes that something came from the other end.
func (c *call) heard() { c.lastHeard.Store(time.Now().UnixNano()) }

// silence is how long nothing came from the other end.
func (c *call) silence(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.lastHeard.Load()))
}

// onPacket is the session's AudioConfig.OnPacket.
func (c *call) onPacket(seq uint16, ts uint32, payload []byte) {
	c.heard()
	c.received.Add(1)
	if s := c.sink.Load(); s != nil {
		(*s).Push(seq, ts, payload)
	}
}

// newCall makes a call and its outbox; register makes it current.
func (m *Manager) newCall(id ID, contact store.Contact, dir store.Direction, state State) *call {
	c := &call{id: id, contact: contact, dir: dir, state: state, started: m.now(), stop: make(chan struct{})}
	c.out = m.newOutbox(c)
	return c
}

// register makes c a current call and logs it.
func (m *Manager) register(c *call) {
	m.calls[c.id] = c
	ctx, cancel := dbCtx()
	defer cancel()
	if _, err := m.cfg.DB.AddCall(ctx, store.Call{ContactID: c.contact.ID, CallID: c.id, Direction: c.dir, Started: c.started}); err != nil {
		m.log.Warn("logging a call", "call", c.id.short(), "err", err)
	}
}

// current returns the call going on, if any.
func (m *Manager) current() *call {
	for _, c := range m.calls {
		return c
	}
	return nil
}

// dial starts an outgoing call to contact.
func (m *Manager) dial(contact store.Contact, servers []webrtc.ICEServer, o dialOptions) (ID, error) {
	if m.current() != nil {
		return ID{}, ErrInCall
	}
	id := NewID()
	for _, taken := m.dead[id]; taken; _, taken = m.dead[id] {
		id = NewID()
	}
	c := m.newCall(id, contact, store.Outgoing, StateDialing)
	c.media = o.media
	sess, err := m.newSession(c, true, servers)
	if err != nil {
		return ID{}, fmt.Errorf("call: %w", err)
	}
	c.sess = sess
	m.register(c)
	m.log.Info("calling", "call", id.short(), "contact", contact.Username)
	c.ringTimer = m.cfg.Clock.AfterFunc(m.cfg.RingTimeout, func() { m.post(func() { m.ringOut(c) }) })
	m.emit(EventDialing, c)
	if err := sess.Start(); err != nil {
		m.finish(c, store.CallFailed, "could not make the offer: "+err.Error(), fmt.Errorf("%w: %w", ErrFailed, err))
		return ID{}, fmt.Errorf("call: %w", err)
	}
	return id, nil
}

// newSession makes the WebRTC session of c, as the offerer (the caller) or
// the answerer. Its callbacks go to the loop, and are dropped once c has
// ended; the audio goes straight to c's sink.
func (m *Manager) newSession(c *call, offerer bool, servers []webrtc.ICEServer) (*rtc.Session, error) {
	post := func(f func()) {
		m.post(func() {
			if c.state != StateEnded {
				f()
			}
		})
	}
	cfg := rtc.Config{
		Offerer:    offerer,
		ID:         rtc.SessionID(c.id),
		ICEServers: servers,
		Send: func(sig rtc.Signal) error {
			post(func() { m.sendSignal(c, sig) })
			return nil
		},
		OnOpen:        func() { post(func() { m.onOpen(c) }) },
		OnMessage:     func(b []byte) { m.onMessage(c, b) },
		OnClose:       func(reason error) { post(func() { m.onSessionClosed(c, reason) }) },
		OnInterrupted: func(on bool) { post(func() { m.onInterrupted(c, on) }) },
		Audio:         &rtc.AudioConfig{OnPacket: c.onPacket},
		Logger:        m.log.With("call", c.id.short()),
		// The caller's session lives through the ringing; the Manager's own
		// timers bound ringing and connecting, this is a backstop.
		ConnectTimeout: m.cfg.RingTimeout + ringGrace + m.cfg.ConnectTimeout,
	}
	if !offerer {
		cfg.ExpectRemoteFingerprint = c.remoteFP
	}
	if m.cfg.Tune != nil {
		m.cfg.Tune(&cfg)
	}
	return rtc.NewSession(cfg)
}

// sendSignal sends a signal of c's session: the offer in the invite, the
// answer in the accept, everything else in a signal letter.
func (m *Manager) sendSignal(c *call, sig rtc.Signal) {
	l := Letter{Call: c.id, Signal: &sig}
	switch {
	case sig.Kind == rtc.KindOffer && sig.Generation == 0:
		l.Fingerprint = c.sess.LocalFingerprint()
		c.out.push(KindInvite, l)
	case sig.Kind == rtc.KindAnswer && sig.Generation == 0:
		l.Fingerprint = c.sess.LocalFingerprint()
		c.out.push(KindAccept, l)
	default:
		c.out.push(KindSignal, l)
	}
}

// take acts on a letter from contact from.
func (m *Manager) take(from store.Contact, kind uint8, l Letter, sent time.Time) {
	if kind == KindInvite {
		m.takeInvite(from, l, sent)
		return
	}
	c := m.calls[l.Call]
	if c == nil {
		if _, over := m.dead[l.Call]; !over {
			m.keepEarly(from, kind, l)
		}
		return
	}
	if c.contact.ID != from.ID {
		m.log.Info("letter about another contact's call", "from", from.Username, "kind", kindName(kind), "call", c.id.short())
		return
	}
	outgoing := c.dir == store.Outgoing
	unanswered := c.state == StateDialing || c.state == StateRinging
	switch kind {
	case KindRinging:
		if outgoing && c.state == StateDialing {
			c.state = StateRinging
			m.log.Info("ringing", "call", c.id.short(), "contact", c.contact.Username)
			m.emit(EventRinging, c)
		}
	case KindAccept:
		if outgoing && unanswered {
			m.takeAccept(c, l)
		}
	case KindDecline:
		if outgoing && unanswered {
			m.finish(c, store.CallDeclined, "declined by "+c.contact.Username, ErrDeclined)
		}
	case KindBusy:
		if outgoing && unanswered {
			m.finish(c, store.CallBusy, c.contact.Username+" is in another call", ErrBusy)
		}
	case KindCancel:
		if !outgoing {
			m.takeCancel(c, l.Reason)
		}
	case KindHangup:
		m.takeHangup(c, l.Reason)
	case KindSignal:
		m.takeSignal(c, *l.Signal)
	}
}

// keepEarly keeps a letter of a call whose invite has not come yet: the
// caller's candidates, or its cancel.
func (m *Manager) keepEarly(from store.Contact, kind uint8, l Letter) {
	if kind != KindSignal && kind != KindCancel && kind != KindHangup {
		return
	}
	now := m.now()
	for id, e := range m.early {
		if now.Sub(e.at) > earlyTTL {
			delete(m.early, id)
		}
	}
	e := m.early[l.Call]
	if e == nil {
		if len(m.early) >= maxEarly {
			return
		}
		e = &early{contactID: from.ID, at: now}
		m.early[l.Call] = e
	}
	if e.contactID != from.ID {
		return
	}
	switch kind {
	case KindSignal:
		if len(e.signals) < maxPending {
			e.signals = append(e.signals, *l.Signal)
		}
	default:
		e.cancelled, e.reason = true, l.Reason
	}
}

// bury remembers that call id is over, so that its late letters are
// dropped and its invite, should it come again, is not rung.
func (m *Manager) bury(id ID) {
	if _, ok := m.dead[id]; ok {
		return
	}
	m.dead[id] = struct{}{}
	m.deadOrder = append(m.deadOrder, id)
	if len(m.deadOrder) > maxDead {
		delete(m.dead, m.deadOrder[0])
		m.deadOrder = m.deadOrder[1:]
	}
	delete(m.early, id)
}

// logMissed logs an incoming call that never rang.
func (m *Manager) logMissed(from store.Contact, id ID, started time.Time, outcome store.CallOutcome, reason string) {
	now := m.now()
	if started.After(now) || started.IsZero() {
		started = now
	}
	ctx, cancel := dbCtx()
	defer cancel()
	if _, err := m.cfg.DB.AddCall(ctx, store.Call{ContactID: from.ID, CallID: id, Direction: store.Incoming,
		Started: started, Ended: now, Outcome: outcome, Reason: reason}); err != nil && !errors.Is(err, store.ErrExists) {
		m.log.Warn("logging a call", "call", id.short(), "err", err)
	}
	m.bury(id)
	c := &call{id: id, contact: from, dir: store.Incoming, state: StateEnded, started: started, ended: now,
		outcome: outcome, reason: reason}
	m.log.Info("call not rung", "call", id.short(), "contact", from.Username, "outcome", outcome, "reason", reason)
	m.emit(EventEnded, c)
}

// takeInvite acts on an invite: ring, answer busy, or resolve glare.
func (m *Manager) takeInvite(from store.Contact, l Letter, sent time.Time) {
	now := m.now()
	if c := m.calls[l.Call]; c != nil {
		if c.contact.ID == from.ID && c.dir == store.Incoming && c.state == StateRinging {
			c.out.push(KindRinging, Letter{Call: c.id}) // the first ringing may have been lost
		}
		return
	}
	if _, over := m.dead[l.Call]; over {
		return
	}
	e := m.early[l.Call]
	delete(m.early, l.Call)
	if e != nil && e.contactID != from.ID {
		e = nil
	}
	switch {
	case e != nil && e.cancelled && e.reason == ReasonGlare:
		m.bury(l.Call)
		return
	case e != nil && e.cancelled:
		m.logMissed(from, l.Call, sent, store.CallMissed, "cancelled by the caller before it arrived")
		return
	case now.Sub(sent) > m.cfg.RingTimeout:
		m.logMissed(from, l.Call, sent, store.CallMissed, "rang out while you were offline")
		return
	}

	auto := false
	if x := m.current(); x != nil {
		ours := x.contact.ID == from.ID && x.dir == store.Outgoing
		switch {
		case ours && bytes.Compare(l.Call[:], x.id[:]) > 0:
			// Glare: we are calling each other, and ours has the lower ID,
			// so it goes on at both ends; the contact cancels its own. Its
			// invite may come late, after it answered ours.
			m.log.Info("calls crossed; ours goes on", "ours", x.id.short(), "theirs", l.Call.short())
			m.bury(l.Call)
			return
		case ours && (x.state == StateDialing || x.state == StateRinging):
			// Glare, and theirs has the lower ID: it goes on instead of ours,
			// and we answer it at once.
			m.log.Info("calls crossed; theirs goes on", "ours", x.id.short(), "theirs", l.Call.short())
			x.out.push(KindCancel, Letter{Call: x.id, Reason: ReasonGlare})
			m.finish(x, store.CallCancelled, "crossed with "+from.Username+"'s call to you, which went on instead", nil)
			auto = true
		case x.contact.ID == from.ID && x.dir == store.Incoming && x.state == StateRinging:
			// The contact called again (its app restarted?): ring the new one.
			m.finish(x, store.CallMissed, "the caller called again", ErrCancelled)
		default:
			m.refuseBusy(from, l)
			return
		}
	}

	c := m.newCall(l.Call, from, store.Incoming, StateRinging)
	c.offer, c.remoteFP = l.Signal, l.Fingerprint
	m.register(c)
	if e != nil {
		c.pending = e.signals
	}
	if auto {
		m.answerSoon(c)
		return
	}
	m.log.Info("incoming call", "call", c.id.short(), "contact", from.Username)
	c.out.push(KindRinging, Letter{Call: c.id})
	c.ringTimer = m.cfg.Clock.AfterFunc(m.cfg.RingTimeout+ringGrace, func() { m.post(func() { m.ringOut(c) }) })
	m.emit(EventIncoming, c)
}

// refuseBusy answers an invite busy, and logs it.
func (m *Manager) refuseBusy(from store.Contact, l Letter) {
	m.log.Info("incoming call while busy", "call", l.Call.short(), "contact", from.Username)
	c := m.newCall(l.Call, from, store.Incoming, StateEnded)
	c.out.push(KindBusy, Letter{Call: l.Call})
	c.out.close()
	m.logMissed(from, l.Call, m.now(), store.CallBusy, "you were in another call")
}

// answerSoon answers c once its ICE servers are known (the loop does not
// wait on the network).
func (m *Manager) answerSoon(c *call) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		servers := m.iceServers(context.Background())
		m.post(func() {
			if c.state == StateRinging {
				m.answer(c, servers)
			}
		})
	}()
}

// setAnswered moves c, answered by either end, from ringing to
// connecting, and logs when.
func (m *Manager) setAnswered(c *call) {
	stopTimer(&c.ringTimer)
	c.state = StateConnecting
	c.answered = m.now()
	ctx, cancel := dbCtx()
	defer cancel()
	if err := m.cfg.DB.SetCallAnswered(ctx, c.id, c.answered); err != nil {
		m.log.Warn("logging a call", "call", c.id.short(), "err", err)
	}
	m.log.Info("answered", "call", c.id.short(), "contact", c.contact.Username, "direction", c.dir)
}

// answer answers ringing incoming call c.
func (m *Manager) answer(c *call, servers []webrtc.ICEServer) {
	m.setAnswered(c)
	sess, err := m.newSession(c, false, servers)
	if err != nil {
		m.fail(c, "could not set up the media session: "+err.Error(), fmt.Errorf("%w: %w", ErrFailed, err))
		return
	}
	c.sess = sess
	m.startConnectTimer(c)
	m.emit(EventConnecting, c)
	if err := sess.HandleSignal(*c.offer); err != nil {
		if errors.Is(err, rtc.ErrSecurity) {
			return // the session has ended; OnClose says so
		}
		m.fail(c, "the caller's offer was refused: "+err.Error(), fmt.Errorf("%w: %w", ErrFailed, err))
		return
	}
	for _, sig := range c.pending {
		if err := sess.HandleSignal(sig); err != nil {
			m.log.Debug("early signal refused", "call", c.id.short(), "err", err)
		}
	}
	c.pending, c.offer = nil, nil
}

// takeAccept acts on the callee's accept of outgoing call c.
func (m *Manager) takeAccept(c *call, l Letter) {
	c.remoteFP = l.Fingerprint
	m.setAnswered(c)
	m.startConnectTimer(c)
	m.emit(EventConnecting, c)
	if err := c.sess.ExpectFingerprint(l.Fingerprint); err != nil {
		if errors.Is(err, rtc.ErrSecurity) {
			return // the session has ended; OnClose says so
		}
		m.fail(c, "the callee's fingerprint is malformed", fmt.Errorf("%w: %w", ErrFailed, err))
		return
	}
	if err := c.sess.HandleSignal(*l.Signal); err != nil && !errors.Is(err, rtc.ErrSecurity) {
		m.fail(c, "the callee's answer was refused: "+err.Error(), fmt.Errorf("%w: %w", ErrFailed, err))
	}
}

// takeSignal hands a signal to c's session, or keeps it until c is
// answered.
func (m *Manager) takeSignal(c *call, sig rtc.Signal) {
	if c.sess == nil {
		if len(c.pending) < maxPending {
			c.pending = append(c.pending, sig)
		}
		return
	}
	if err := c.sess.HandleSignal(sig); err != nil {
		m.log.Debug("signal refused", "call", c.id.short(), "kind", sig.Kind.String(), "err", err)
	}
}

// takeCancel acts on the caller's cancel of incoming call c.
func (m *Manager) takeCancel(c *call, reason uint8) {
	switch {
	case c.state == StateRinging && reason == ReasonTimeout:
		m.finish(c, store.CallMissed, "rang out", ErrNoAnswer)
	case c.state == StateRinging:
		m.finish(c, store.CallMissed, "cancelled by the caller", ErrCancelled)
	default:
		m.finish(c, store.CallCancelled, "the caller hung up before the answer reached it", ErrCancelled)
	}
}

// takeHangup acts on the other end's hangup, by letter or on the data
// channel.
func (m *Manager) takeHangup(c *call, reason uint8) {
	switch {
	case c.dir == store.Incoming && c.state == StateRinging:
		m.takeCancel(c, reason)
	case reason == ReasonSecurity:
		m.finish(c, store.CallFailed,
			"security: "+c.contact.Username+"'s end was shown a DTLS certificate that is not yours; someone may have tried to listen in", ErrSecurity)
	case reason == ReasonFailed:
		m.finish(c, store.CallFailed, "the call failed at "+c.contact.Username+"'s end", ErrFailed)
	case c.dir == store.Outgoing && (c.state == StateDialing || c.state == StateRinging):
		m.finish(c, store.CallDeclined, "declined by "+c.contact.Username, ErrDeclined)
	default:
		m.finish(c, store.CallAnswered, "hung up by "+c.contact.Username, nil)
	}
}

// ringOut ends a call that rang unanswered.
func (m *Manager) ringOut(c *call) {
	if c.state != StateDialing && c.state != StateRinging {
		return
	}
	if c.dir == store.Outgoing {
		c.out.push(KindCancel, Letter{Call: c.id, Reason: ReasonTimeout})
		m.finish(c, store.CallMissed, "no answer", ErrNoAnswer)
		return
	}
	m.finish(c, store.CallMissed, "rang out", ErrNoAnswer)
}

// decline declines ringing incoming call c.
func (m *Manager) decline(c *call) {
	c.out.push(KindDecline, Letter{Call: c.id})
	m.finish(c, store.CallDeclined, "declined", nil)
}

// hangupLocal ends c at the user's word.
func (m *Manager) hangupLocal(c *call) {
	switch {
	case c.state == StateEnded:
	case c.dir == store.Outgoing && (c.state == StateDialing || c.state == StateRinging):
		c.out.push(KindCancel, Letter{Call: c.id})
		m.finish(c, store.CallCancelled, "cancelled", nil)
	case c.dir == store.Incoming && c.state == StateRinging:
		m.decline(c)
	default:
		m.sayOnChannel(c, msgHangup, ReasonNone)
		c.out.push(KindHangup, Letter{Call: c.id})
		m.finish(c, store.CallAnswered, "hung up", nil)
	}
}

// startConnectTimer bounds the time from the answer to the media path.
func (m *Manager) startConnectTimer(c *call) {
	c.connTimer = m.cfg.Clock.AfterFunc(m.cfg.ConnectTimeout, func() {
		m.post(func() {
			if c.state == StateConnecting {
				m.fail(c, fmt.Sprintf("no media path within %v", m.cfg.ConnectTimeout),
					fmt.Errorf("%w: %w", ErrFailed, rtc.ErrConnectTimeout))
			}
		})
	})
}

// onOpen: the session's data channel is open, so DTLS is up and the other
// end's certificate checked. The call is on.
func (m *Manager) onOpen(c *call) {
	if c.state != StateConnecting {
		return
	}
	sess := c.sess
	stopTimer(&c.connTimer)
	c.state = StateActive
	c.heard()
	if p, ok := sess.Path(); ok {
		c.path = p
	}
	m.log.Info("call connected", "call", c.id.short(), "contact", c.contact.Username, "path", c.path.String())
	m.emit(EventConnected, c)
	m.startMedia(c, sess)
}

// onMessage takes a message of c's data channel (from the session's
// goroutine, not the loop).
func (m *Manager) onMessage(c *call, b []byte) {
	c.heard()
	msg, err := decodeChannelMessage(b)
	if err != nil {
		return
	}
	if msg.Type == msgHangup {
		m.post(func() {
			if c.state != StateEnded {
				m.takeHangup(c, msg.Reason)
			}
		})
	}
}

// onInterrupted: the media path was lost, or is back.
func (m *Manager) onInterrupted(c *call, on bool) {
	if c.state != StateActive {
		return
	}
	if on {
		m.log.Info("media path lost; reconnecting", "call", c.id.short())
		m.emit(EventInterrupted, c)
		return
	}
	if p, ok := c.sess.Path(); ok {
		c.path = p
	}
	m.log.Info("media path back", "call", c.id.short(), "path", c.path.String())
	m.emit(EventResumed, c)
}

// onSessionClosed: c's session ended by itself.
func (m *Manager) onSessionClosed(c *call, reason error) {
	switch {
	case errors.Is(reason, rtc.ErrClosed):
		// We closed it: finish has run.
	case errors.Is(reason, rtc.ErrSecurity):
		c.out.push(KindHangup, Letter{Call: c.id, Reason: ReasonSecurity})
		m.finish(c, store.CallFailed, "security: "+reason.Error()+"; someone may have tried to listen in", reason)
	case errors.Is(reason, rtc.ErrRemoteClosed):
		// The other end closed the connection. Its hangup message on the
		// data channel, or its hangup letter, says why (a plain hangup, or
		// a failure such as no audio device); the close can overtake the
		// message, so wait a moment for one of them before deciding.
		if c.closeTimer == nil {
			c.closeTimer = m.cfg.Clock.AfterFunc(closeGrace, func() {
				m.post(func() {
					switch c.state {
					case StateEnded:
					case StateActive:
						m.finish(c, store.CallAnswered, "hung up by "+c.contact.Username, nil)
					default:
						m.finish(c, store.CallFailed, c.contact.Username+"'s end closed the connection",
							fmt.Errorf("%w: %w", ErrFailed, reason))
					}
				})
			})
		}
	default:
		m.fail(c, reason.Error(), fmt.Errorf("%w: %w", ErrFailed, reason))
	}
}

// onVanished: nothing came from the other end for MediaTimeout.
func (m *Manager) onVanished(c *call, silence time.Duration) {
	if c.state != StateActive {
		return
	}
	m.fail(c, fmt.Sprintf("nothing heard from %s for %v", c.contact.Username, silence.Round(100*time.Millisecond)), ErrVanished)
}

// fail ends c as failed, for why, and tells the other end: on the data
// channel if it is open (at once) and by letter (always).
func (m *Manager) fail(c *call, why string, cause error) {
	m.sayOnChannel(c, msgHangup, ReasonFailed)
	c.out.push(KindHangup, Letter{Call: c.id, Reason: ReasonFailed})
	m.finish(c, store.CallFailed, why, cause)
}

// finish ends c: logs how, tells the UI, and lets go of the session, the
// media and, once its last letters are out, the outbox.
func (m *Manager) finish(c *call, outcome store.CallOutcome, reason string, cause error) {
	if c.state == StateEnded {
		return
	}
	c.state = StateEnded
	c.ended, c.outcome, c.reason, c.err = m.now(), outcome, reason, cause
	stopTimer(&c.ringTimer)
	stopTimer(&c.connTimer)
	stopTimer(&c.closeTimer)
	delete(m.calls, c.id)
	m.bury(c.id)
	close(c.stop)
	c.out.close()
	ctx, cancel := dbCtx()
	if _, err := m.cfg.DB.FinishCall(ctx, c.id, outcome, reason, c.ended); err != nil {
		m.log.Warn("logging a call", "call", c.id.short(), "err", err)
	}
	cancel()
	if s := c.sess; s != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			s.Close()
			<-s.Done()
			// No packet reaches the sink after the session's OnClose.
			if p := c.sink.Swap(nil); p != nil {
				closeIfCloser(*p)
			}
		}()
	}
	m.log.Info("call ended", "call", c.id.short(), "contact", c.contact.Username, "outcome", outcome,
		"reason", reason, "answered_for", c.info().Duration().Round(time.Millisecond))
	m.emit(EventEnded, c)
}

// stopTimer stops *t, if any, and forgets it.
func stopTimer(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// sayOnChannel sends a message of type typ on c's data channel, if it is
// open; the letter that goes with it is what counts.
func (m *Manager) sayOnChannel(c *call, typ, reason uint8) {
	if c.sess != nil {
		sendOnChannel(c.sess, channelMessage{Type: typ, Reason: reason})
	}
}

// ctxSend is the context of one letter.
func ctxSend() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sendTimeout)
}
