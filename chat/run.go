package chat

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/envelope"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// Run sends the outbox until ctx is done: at once when something is
// queued, and again when a retry is due. It also subscribes to the
// accepted contacts' presence.
func (s *Service) Run(ctx context.Context) error {
	if cs, err := s.cfg.DB.Contacts(ctx); err == nil {
		now := s.cfg.Now()
		for _, c := range cs {
			if c.State == store.ContactAccepted {
				s.watch(c)
			}
			// What waited for a receipt when this peer stopped may never get
			// one (it went over a direct link that died with the process):
			// send it again now; the other side drops duplicates.
			s.cfg.DB.RescheduleContactOutbox(ctx, c.ID, now)
		}
	}
	defer s.closeLinks()
	prune, idle := s.cfg.Now(), s.cfg.Now()
	for {
		wait := s.flush(ctx)
		if now := s.cfg.Now(); now.Sub(prune) > time.Hour {
			s.cfg.DB.PruneSeen(ctx, now)
			prune = now
		}
		if now := s.cfg.Now(); now.Sub(idle) > time.Minute {
			s.closeIdleLinks()
			idle = now
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.kick:
		case <-time.After(min(max(wait, 50*time.Millisecond), time.Minute)):
		}
	}
}

// flush sends what is due and returns how long until the next item is due
// (at most a minute, so that expired items are marked failed in time).
func (s *Service) flush(ctx context.Context) time.Duration {
	now := s.cfg.Now()
	expired, err := s.cfg.DB.ExpireOutbox(ctx, now)
	if err != nil {
		s.log.Warn("outbox: expiring", "err", err)
	}
	for _, it := range expired {
		if it.Kind == KindMessage {
			if changed, _ := s.cfg.DB.SetMessageState(ctx, s.me, it.MsgID, store.MessageFailed, now); changed {
				s.emitMessage(ctx, s.me, it.MsgID)
			}
		}
	}
	due, err := s.cfg.DB.DueOutbox(ctx, now, 64)
	if err != nil {
		s.log.Warn("outbox: reading", "err", err)
		return s.cfg.Retry.Base
	}
	for _, it := range due {
		if ctx.Err() != nil {
			break
		}
		s.attempt(ctx, it)
	}
	if len(due) == 64 {
		return 0 // more waiting
	}
	now = s.cfg.Now()
	next, ok, err := s.cfg.DB.NextOutboxAttempt(ctx, now)
	if err != nil {
		s.log.Warn("outbox: reading", "err", err)
		return s.cfg.Retry.Base
	}
	if !ok {
		return time.Minute
	}
	return min(next.Sub(now), time.Minute)
}

// attempt sends one outbox item and reschedules or removes it.
func (s *Service) attempt(ctx context.Context, it store.OutboxItem) {
	now := s.cfg.Now()
	c, err := s.cfg.DB.Contact(ctx, it.ContactID)
	if err != nil {
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
		return
	}
	if !sendable(c, it.Kind) {
		// Blocked or removed since it was queued: drop it.
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
		return
	}
	var d overlay.Delivery
	if (it.Kind == KindMessage || it.Kind == KindReceipt) && s.sendDirect(c.ID, it.Kind, it.Payload) {
		d.Delivered = true
	} else {
		d, err = s.sendNow(ctx, c, it.Kind, it.Payload)
		if err == nil && d.Delivered && it.Kind == KindMessage {
			go s.ensureLink(c) // a conversation: take it direct
		}
	}
	s.log.Debug("outbox: sent", "contact", c.Username, "kind", it.Kind, "attempt", it.Attempts,
		"delivered", d.Delivered, "stored", d.Stored, "err", err)
	if err != nil {
		if errors.Is(err, overlay.ErrDeliveryRefused) && it.Attempts > 5 {
			s.log.Info("outbox: refused", "contact", c.Username, "err", err)
		}
		next := now.Add(s.cfg.Retry.Delay(it.Attempts, rng()))
		s.cfg.DB.RescheduleOutbox(ctx, it.ID, next, it.Attempts+1)
		return
	}
	switch it.Kind {
	case KindMessage, KindRequest:
		// Until the contact answers: a receipt, or a response.
		if it.Kind == KindMessage {
			if changed, _ := s.cfg.DB.SetMessageState(ctx, s.me, it.MsgID, store.MessageSent, now); changed {
				s.emitMessage(ctx, s.me, it.MsgID)
			}
		}
		wait := s.cfg.ResendDelivered
		if !d.Delivered {
			wait = s.cfg.ResendStored
		}
		s.cfg.DB.RescheduleOutbox(ctx, it.ID, now.Add(wait), it.Attempts+1)
	default:
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
	}
}

// sendable reports whether a letter of kind may go to c in its state.
func sendable(c store.Contact, kind uint8) bool {
	switch kind {
	case KindRequest:
		return c.State == store.ContactOutgoing
	case KindResponse:
		return c.State == store.ContactAccepted || c.State == store.ContactDeclined
	case KindRemoved:
		return c.State == store.ContactRemoved || c.State == store.ContactBlocked
	}
	return c.State == store.ContactAccepted && c.PendingKey == nil
}

func (s *Service) emitMessage(ctx context.Context, author [32]byte, id [16]byte) {
	if m, err := s.cfg.DB.MessageByMsgID(ctx, author, id); err == nil {
		s.emit(Event{Message: &m})
	}
}

// HandleEnvelope takes a sealed envelope that reached this peer (the
// overlay leaf's OnEnvelope). Letters that are not for us, forged, replayed,
// from strangers who are not asking to be contacts, or from blocked
// contacts are dropped (nil: the mailbox may delete them). An error means
// the letter could not be stored now and should come again.
func (s *Service) HandleEnvelope(_ overlay.NodeID, data []byte) error {
	ctx := context.Background()
	now := s.cfg.Now()
	l, err := envelope.Open(s.cfg.Identity, data, now, envelope.Policy{})
	if err != nil {
		s.log.Info("dropping envelope", "err", err)
		return nil
	}
	s.in.Lock()
	defer s.in.Unlock()
	expires := l.Time.Add(envelope.DefaultMaxAge + envelope.DefaultSkew)
	first, err := s.cfg.DB.SeenEnvelope(ctx, l.FromID, l.ID, expires)
	if err != nil {
		return err
	}
	if !first {
		s.log.Debug("dropping replayed envelope", "from", l.FromID.Short())
		return nil
	}
	if err := s.take(ctx, l); err != nil {
		if errors.Is(err, ErrMalformed) {
			s.log.Info("dropping letter", "from", l.FromID.Short(), "kind", l.Kind, "err", err)
			return nil
		}
		// Not stored: forget we saw it, so that it can come again.
		s.cfg.DB.ForgetEnvelope(ctx, l.FromID, l.ID)
		return err
	}
	return nil
}

// take acts on one opened letter.
func (s *Service) take(ctx context.Context, l *envelope.Letter) error {
	c, err := s.cfg.DB.ContactByNodeID(ctx, l.FromID)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if known && c.State == store.ContactBlocked {
		return nil
	}
	switch l.Kind {
	case KindRequest:
		var r Request
		if err := decode(l.Payload, &r); err != nil {
			return err
		}
		return s.takeRequest(ctx, l.From, r, c, known)
	case KindSignal, KindTyping, KindLinkInvite:
		if !known || c.State != store.ContactAccepted {
			return nil
		}
		return s.takeLive(c, l)
	}
	if !known {
		return nil // strangers may only ask
	}
	if l.Kind >= KindCallFirst {
		// Only accepted contacts can call.
		if c.State == store.ContactAccepted && c.PendingKey == nil && s.cfg.OnCallLetter != nil {
			s.cfg.OnCallLetter(c, l.Kind, l.Payload, l.Time)
		}
		return nil
	}
	switch l.Kind {
	case KindResponse:
		return s.takeResponse(ctx, c, l.Payload)
	case KindRemoved:
		if c.State == store.ContactRemoved {
			return nil
		}
		if err := s.cfg.DB.SetContactState(ctx, c.ID, store.ContactRemoved, s.cfg.Now()); err != nil {
			return err
		}
		s.unwatch(c)
		s.emitContact(ctx, c.ID)
	case KindMessage:
		return s.takeMessage(ctx, c, l.Payload)
	case KindReceipt:
		return s.takeReceipt(ctx, c, l.Payload)
	}
	return nil
}

// takeLive handles the letters that matter only while both are online:
// WebRTC signals, typing, and an invitation to a direct link.
func (s *Service) takeLive(c store.Contact, l *envelope.Letter) error {
	switch l.Kind {
	case KindSignal:
		return s.takeSignal(c, l.Payload)
	case KindLinkInvite:
		go s.takeInvite(c)
	case KindTyping:
		var t Typing
		if err := decode(l.Payload, &t); err != nil {
			return err
		}
		s.emit(Event{Typing: &TypingChange{ContactID: c.ID, On: t.On}})
	}
	return nil
}

// takeResponse handles the answer to a contact request this peer sent.
func (s *Service) takeResponse(ctx context.Context, c store.Contact, payload []byte) error {
	var r Response
	if err := decode(payload, &r); err != nil {
		return err
	}
	if c.State != store.ContactOutgoing && c.State != store.ContactAccepted {
		return nil
	}
	state := store.ContactDeclined
	if r.Accepted {
		state = store.ContactAccepted
	}
	if err := s.cfg.DB.SetContactState(ctx, c.ID, state, s.cfg.Now()); err != nil {
		return err
	}
	s.cfg.DB.RemoveOutboxFor(ctx, c.ID, KindRequest, [16]byte{})
	if r.Accepted {
		s.watch(c)
		s.poke() // messages written meanwhile may go now
	}
	s.emitContact(ctx, c.ID)
	return nil
}

// takeMessage stores a contact's message once (by its ID) and answers with
// a receipt every time.
func (s *Service) takeMessage(ctx context.Context, c store.Contact, payload []byte) error {
	if c.State != store.ContactAccepted {
		return nil
	}
	var m Message
	if err := decode(payload, &m); err != nil {
		return err
	}
	if len(m.ID) != 16 || len(m.Body) > MaxBody || m.Body == "" {
		return ErrMalformed
	}
	msg := store.Message{ContactID: c.ID, MsgID: [16]byte(m.ID), Author: c.NodeID, Direction: store.Incoming,
		Body: m.Body, Sent: time.UnixMilli(m.Sent), Received: s.cfg.Now(), State: store.MessageReceived}
	id, dup, err := s.cfg.DB.AddMessage(ctx, msg)
	if err != nil {
		return err
	}
	// A receipt even for a duplicate: the first one may have been lost.
	receipt, _ := encode(Receipt{IDs: [][]byte{m.ID}})
	if err := s.enqueue(ctx, c.ID, KindReceipt, [16]byte{}, receipt); err != nil {
		return err
	}
	if !dup {
		msg.ID = id
		s.emit(Event{Message: &msg})
		go s.ensureLink(c) // a conversation: take it direct
	}
	return nil
}

// takeReceipt marks this peer's messages to c delivered or read.
func (s *Service) takeReceipt(ctx context.Context, c store.Contact, payload []byte) error {
	var r Receipt
	if err := decode(payload, &r); err != nil {
		return err
	}
	state := store.MessageDelivered
	if r.Read {
		state = store.MessageRead
	}
	now := s.cfg.Now()
	for _, id := range r.IDs {
		if len(id) != 16 {
			continue
		}
		mid := [16]byte(id)
		// Only our own messages to this contact.
		m, err := s.cfg.DB.MessageByMsgID(ctx, s.me, mid)
		if err != nil || m.ContactID != c.ID {
			continue
		}
		s.cfg.DB.RemoveOutboxFor(ctx, c.ID, KindMessage, mid)
		if changed, _ := s.cfg.DB.SetMessageState(ctx, s.me, mid, state, now); changed {
			s.emitMessage(ctx, s.me, mid)
		}
	}
	return nil
}

// takeRequest handles a contact request. The sender must hold the claim of
// the name it gives; a known username with a new key is a key change that
// the user must accept.
func (s *Service) takeRequest(ctx context.Context, from ed25519.PublicKey, r Request, c store.Contact, known bool) error {
	name, err := overlay.NormalizeName(r.Name)
	if err != nil || len(r.Message) > MaxRequestMessage {
		return ErrMalformed
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	key, err := s.lookupName(lctx, name)
	cancel()
	if err == nil && !key.Equal(from) {
		s.log.Warn("contact request from a key that does not hold the name it gives", "name", name)
		return nil
	}
	if errors.Is(err, ErrNameNotFound) {
		// Nobody holds the name yet: the sender's own claim may still be
		// on its way (a daemon claims once online, after a proof of work).
		// Let the request come again rather than lose it.
		s.log.Info("contact request from a name not claimed yet: waiting for the claim", "name", name)
		return fmt.Errorf("%w: the request will come again", err)
	}
	if err != nil {
		return err // the directory is unreachable: let it come again
	}
	now := s.cfg.Now()
	if !known {
		byName, err := s.cfg.DB.ContactByUsername(ctx, name)
		if err == nil {
			// Same name, new key: keep the old key until the user accepts.
			if byName.State == store.ContactBlocked {
				return nil
			}
			if err := s.cfg.DB.SetPendingKey(ctx, byName.ID, from, now); err != nil {
				return err
			}
			s.emitContact(ctx, byName.ID)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		id, err := s.cfg.DB.AddContact(ctx, store.Contact{Username: name, PublicKey: from, State: store.ContactIncoming,
			RequestMessage: r.Message, Created: now, Updated: now})
		if err != nil {
			return err
		}
		s.emitContact(ctx, id)
		return nil
	}
	switch c.State {
	case store.ContactOutgoing:
		// Both asked: that is a yes from both.
		return s.Accept(ctx, c.ID)
	case store.ContactAccepted:
		// They lost our acceptance (a reinstall with the same key): repeat it.
		payload, _ := encode(Response{Accepted: true, Name: s.cfg.Username()})
		return s.enqueue(ctx, c.ID, KindResponse, [16]byte{}, payload)
	case store.ContactIncoming:
		return nil
	}
	// Declined or removed before: a new request.
	if err := s.cfg.DB.SetContactState(ctx, c.ID, store.ContactIncoming, now); err != nil {
		return err
	}
	s.emitContact(ctx, c.ID)
	return nil
}

// watch subscribes to an accepted contact's presence and reads it once.
func (s *Service) watch(c store.Contact) {
	key := overlay.PresenceKey(c.NodeID)
	s.cfg.Net.Subscribe(key)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rec, _, err := s.cfg.Net.Lookup(ctx, key)
		if err != nil {
			return
		}
		s.OnPresence(key, rec)
	}()
}

func (s *Service) unwatch(c store.Contact) {
	s.cfg.Net.Unsubscribe(overlay.PresenceKey(c.NodeID))
	s.mu.Lock()
	delete(s.presence, c.ID)
	l := s.links[c.ID]
	delete(s.links, c.ID)
	s.mu.Unlock()
	if l != nil {
		l.sess.Close()
	}
}

// OnPresence takes a validated presence change from the overlay (the
// leaf's OnNotify; nil rec: gone, offline). Only accepted contacts'
// presence is kept and told.
func (s *Service) OnPresence(key [32]byte, rec *wire.Record) {
	ctx := context.Background()
	status := wire.StatusOffline
	var owner overlay.NodeID
	if rec != nil {
		body, err := overlay.DecodePresence(rec)
		if err != nil {
			return
		}
		status = body.Status
		owner = overlay.NodeIDOf(rec.Owner)
		if overlay.PresenceKey(owner) != key {
			return
		}
	}
	cs, err := s.cfg.DB.Contacts(ctx)
	if err != nil {
		return
	}
	i := slices.IndexFunc(cs, func(c store.Contact) bool { return overlay.PresenceKey(c.NodeID) == key })
	if i < 0 || cs[i].State != store.ContactAccepted {
		return
	}
	c := cs[i]
	s.mu.Lock()
	old, had := s.presence[c.ID]
	s.presence[c.ID] = status
	s.mu.Unlock()
	if had && old == status {
		return
	}
	if status != wire.StatusOffline && (!had || old == wire.StatusOffline) {
		s.poke() // the contact came online: what waits may go now
		s.resendOnline(ctx, c.ID)
		go s.linkIfTalking(c)
	}
	s.emit(Event{Presence: &PresenceChange{ContactID: c.ID, Status: status}})
}

// talkingWithin is how recent the last message must be for a contact who
// comes online to be "talking": the conversation goes direct.
const talkingWithin = 10 * time.Minute

// linkIfTalking starts a direct link to c, just seen online, if the
// conversation is going on: a message that came or went while c's
// presence was not known yet could not start one.
func (s *Service) linkIfTalking(c store.Contact) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := s.cfg.DB.Messages(ctx, c.ID, store.Cursor{}, 1)
	if err != nil || len(ms) == 0 || s.cfg.Now().Sub(ms[0].Received) > talkingWithin {
		return
	}
	s.ensureLink(c)
}

// resendOnline makes what waits for a contact due now that it is online.
func (s *Service) resendOnline(ctx context.Context, id int64) {
	s.cfg.DB.RescheduleContactOutbox(ctx, id, s.cfg.Now())
	s.poke()
}
