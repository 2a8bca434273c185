package chat

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// Run runs the service until ctx is done: it subscribes to the accepted
// contacts' presence and closes direct links that fell idle. The outbox
// is the letters service's (letters.Service.Run).
func (s *Service) Run(ctx context.Context) error {
	if cs, err := s.cfg.DB.Contacts(ctx); err == nil {
		for _, c := range cs {
			if c.State == store.ContactAccepted {
				s.watch(c)
			}
		}
	}
	defer s.closeLinks()
	idle := time.NewTicker(time.Minute)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C:
			s.closeIdleLinks()
		}
	}
}

// kinds are the letter kinds chat owns, registered with the letters
// service.
func (s *Service) kinds() []letters.Kind {
	return []letters.Kind{
		{Kind: KindRequest, Name: "request", Gate: letters.FromAnyone, Await: true,
			SendTo: func(c store.Contact) bool { return c.State == store.ContactOutgoing },
			Handle: func(ctx context.Context, l letters.Letter) error {
				var r Request
				if err := decode(l.Payload, &r); err != nil {
					return err
				}
				return s.takeRequest(ctx, l.From, r, l.Contact, l.Known)
			}},
		{Kind: KindResponse, Name: "response", Gate: letters.FromKnown,
			SendTo: func(c store.Contact) bool {
				return c.State == store.ContactAccepted || c.State == store.ContactDeclined
			},
			Handle: func(ctx context.Context, l letters.Letter) error { return s.takeResponse(ctx, l.Contact, l.Payload) }},
		{Kind: KindRemoved, Name: "removed", Gate: letters.FromKnown,
			SendTo: func(c store.Contact) bool {
				return c.State == store.ContactRemoved || c.State == store.ContactBlocked
			},
			Handle: func(ctx context.Context, l letters.Letter) error { return s.takeRemoved(ctx, l.Contact) }},
		{Kind: KindMessage, Name: "message", Gate: letters.FromAccepted, Direct: true, Await: true,
			Handle:  func(ctx context.Context, l letters.Letter) error { return s.takeMessage(ctx, l.Contact, l.Payload) },
			Sent:    s.messageSent,
			Expired: s.messageExpired},
		{Kind: KindReceipt, Name: "receipt", Gate: letters.FromKnown, Direct: true,
			Handle: func(ctx context.Context, l letters.Letter) error { return s.takeReceipt(ctx, l.Contact, l.Payload) }},
		{Kind: KindTyping, Name: "typing", Gate: letters.FromAccepted, Direct: true,
			Handle: func(_ context.Context, l letters.Letter) error { return s.takeTyping(l.Contact, l.Payload) }},
		{Kind: KindSignal, Name: "signal", Gate: letters.FromAccepted,
			Handle: func(_ context.Context, l letters.Letter) error { return s.takeSignal(l.Contact, l.Payload) }},
		{Kind: KindLinkInvite, Name: "link invite", Gate: letters.FromAccepted,
			Handle: func(_ context.Context, l letters.Letter) error { go s.takeInvite(l.Contact); return nil }},
	}
}

// messageSent: a message was handed over; it waits for its receipt.
func (s *Service) messageSent(ctx context.Context, it store.OutboxItem, c store.Contact, d overlay.Delivery, direct bool) {
	if changed, _ := s.cfg.DB.SetMessageState(ctx, s.me, it.MsgID, store.MessageSent, s.cfg.Now()); changed {
		s.emitMessage(ctx, s.me, it.MsgID)
	}
	if d.Delivered && !direct {
		go s.ensureLink(c) // a conversation: take it direct
	}
}

// messageExpired: a message was never acknowledged in its time.
func (s *Service) messageExpired(ctx context.Context, it store.OutboxItem) {
	if changed, _ := s.cfg.DB.SetMessageState(ctx, s.me, it.MsgID, store.MessageFailed, s.cfg.Now()); changed {
		s.emitMessage(ctx, s.me, it.MsgID)
	}
}

func (s *Service) emitMessage(ctx context.Context, author [32]byte, id [16]byte) {
	if m, err := s.cfg.DB.MessageByMsgID(ctx, author, id); err == nil {
		s.emit(Event{Message: &m})
	}
}

// takeRemoved: the contact removed or blocked us.
func (s *Service) takeRemoved(ctx context.Context, c store.Contact) error {
	if c.State == store.ContactRemoved {
		return nil
	}
	if err := s.cfg.DB.SetContactState(ctx, c.ID, store.ContactRemoved, s.cfg.Now()); err != nil {
		return err
	}
	s.unwatch(c)
	s.emitContact(ctx, c.ID)
	return nil
}

// takeTyping: an accepted contact started or stopped typing.
func (s *Service) takeTyping(c store.Contact, payload []byte) error {
	var t Typing
	if err := decode(payload, &t); err != nil {
		return err
	}
	s.emit(Event{Typing: &TypingChange{ContactID: c.ID, On: t.On}})
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
	s.letters.Settle(ctx, c.ID, KindRequest, [16]byte{})
	if r.Accepted {
		s.watch(c)
		s.letters.Poke() // messages written meanwhile may go now
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
	if err := s.letters.Enqueue(ctx, c.ID, KindReceipt, [16]byte{}, receipt); err != nil {
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
		s.letters.Settle(ctx, c.ID, KindMessage, mid)
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
	name, err := record.NormalizeName(r.Name)
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
		return s.letters.Enqueue(ctx, c.ID, KindResponse, [16]byte{}, payload)
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
	key := record.PresenceKey(c.NodeID)
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
	s.cfg.Net.Unsubscribe(record.PresenceKey(c.NodeID))
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
	var owner identity.NodeID
	if rec != nil {
		body, err := record.DecodePresence(rec)
		if err != nil {
			return
		}
		status = body.Status
		owner = identity.NodeIDOf(rec.Owner)
		if record.PresenceKey(owner) != key {
			return
		}
	}
	cs, err := s.cfg.DB.Contacts(ctx)
	if err != nil {
		return
	}
	i := slices.IndexFunc(cs, func(c store.Contact) bool { return record.PresenceKey(c.NodeID) == key })
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
		s.letters.Due(ctx, c.ID) // the contact came online: what waits may go now
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
