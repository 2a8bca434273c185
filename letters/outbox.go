package letters

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/store"
)

// The outbox: letters queued in the profile's database (store.OutboxItem,
// whose Kind is the letter's kind) go out from Run, at once when queued,
// and again with a backoff until the network takes them (or, for Await
// kinds, until the contact answers). Nothing queued is lost to a restart.

// Item returns an outbox item of kind to contact id, made now and expiring
// after Config.TTL: for callers that queue it in the same transaction as
// something else (store.DB.AddMessageWithOutbox), then Poke.
func (s *Service) Item(contactID int64, kind uint8, ref [16]byte, payload []byte) store.OutboxItem {
	now := s.cfg.Now()
	return store.OutboxItem{ContactID: contactID, Kind: kind, MsgID: ref, Payload: payload, Created: now, Expires: now.Add(s.cfg.TTL)}
}

// Enqueue queues a letter of kind to contact id; ref names what it is
// about (a message ID), for Settle.
func (s *Service) Enqueue(ctx context.Context, contactID int64, kind uint8, ref [16]byte, payload []byte) error {
	if s.kind(kind) == nil {
		return ErrUnknownKind
	}
	if _, err := s.cfg.DB.Enqueue(ctx, s.Item(contactID, kind, ref, payload)); err != nil {
		return err
	}
	s.Poke()
	return nil
}

// Settle removes what waits in the outbox for contact id of kind about
// ref: the contact answered it.
func (s *Service) Settle(ctx context.Context, contactID int64, kind uint8, ref [16]byte) {
	s.cfg.DB.RemoveOutboxFor(ctx, contactID, kind, ref)
}

// Due makes what waits for contact id due now (it came online, a direct
// link opened, a claim it needed landed).
func (s *Service) Due(ctx context.Context, contactID int64) {
	s.cfg.DB.RescheduleContactOutbox(ctx, contactID, s.cfg.Now())
	s.Poke()
}

// Poke makes Run look at the outbox now.
func (s *Service) Poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run sends the outbox until ctx is done: at once when something is
// queued, and again when a retry is due.
func (s *Service) Run(ctx context.Context) error {
	if cs, err := s.cfg.DB.Contacts(ctx); err == nil {
		now := s.cfg.Now()
		for _, c := range cs {
			// What waited for an answer when this peer stopped may never get
			// one (it went over a direct link that died with the process):
			// send it again now; the other side drops duplicates.
			s.cfg.DB.RescheduleContactOutbox(ctx, c.ID, now)
		}
	}
	prune := s.cfg.Now()
	for {
		wait := s.flush(ctx)
		if now := s.cfg.Now(); now.Sub(prune) > time.Hour {
			s.cfg.DB.PruneSeen(ctx, now)
			prune = now
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
// (at most a minute, so that expired items are told in time).
func (s *Service) flush(ctx context.Context) time.Duration {
	now := s.cfg.Now()
	expired, err := s.cfg.DB.ExpireOutbox(ctx, now)
	if err != nil {
		s.log.Warn("outbox: expiring", "err", err)
	}
	for _, it := range expired {
		if k := s.kind(it.Kind); k != nil && k.Expired != nil {
			k.Expired(ctx, it)
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
	k := s.kind(it.Kind)
	if k == nil {
		s.log.Warn("outbox: dropping a letter of an unknown kind", "kind", it.Kind)
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
		return
	}
	c, err := s.cfg.DB.Contact(ctx, it.ContactID)
	if err != nil || !k.sendable(c) {
		// Gone, blocked or removed since it was queued: drop it.
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
		return
	}
	var d overlay.Delivery
	direct := s.sendDirect(c.ID, k, it.Payload)
	if direct {
		d.Delivered = true
	} else {
		d, err = s.deliver(ctx, c, it.Kind, it.Payload)
	}
	s.log.Debug("outbox: sent", "contact", c.Username, "kind", k.Name, "attempt", it.Attempts,
		"direct", direct, "delivered", d.Delivered, "stored", d.Stored, "err", err)
	if err != nil {
		if errors.Is(err, overlay.ErrDeliveryRefused) && it.Attempts > 5 {
			s.log.Info("outbox: refused", "contact", c.Username, "err", err)
		}
		next := now.Add(s.cfg.Retry.Delay(it.Attempts, rng()))
		s.cfg.DB.RescheduleOutbox(ctx, it.ID, next, it.Attempts+1)
		return
	}
	if k.Sent != nil {
		k.Sent(ctx, it, c, d, direct)
	}
	if !k.Await {
		s.cfg.DB.RemoveOutbox(ctx, it.ID)
		return
	}
	wait := s.cfg.ResendDelivered
	if !d.Delivered {
		wait = s.cfg.ResendStored
	}
	s.cfg.DB.RescheduleOutbox(ctx, it.ID, now.Add(wait), it.Attempts+1)
}

// rng returns a fresh random source for backoff jitter.
func rng() *mrand.Rand { return mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())) }
