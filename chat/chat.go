package chat

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"log/slog"

	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// Network is what chat needs of the overlay beyond letters (names and
// presence); *overlay.Leaf has it.
type Network interface {
	Lookup(ctx context.Context, key [32]byte) (*wire.Record, int, error)
	Subscribe(keys ...[32]byte)
	Unsubscribe(keys ...[32]byte)
}

// Config configures a Service.
type Config struct {
	// Letters carries chat's letters; chat registers its kinds with it
	// and sends direct-link letters for it.
	Letters *letters.Service
	// Username returns the user's own username (sent with requests).
	Username func() string
	DB       *store.DB
	Net      Network
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnEvent, if set, is told of every change (from chat's goroutines; it
	// must not block for long).
	OnEvent func(Event)
	// RTC configures direct links over WebRTC data channels; nil: envelopes
	// only.
	RTC *RTC
}

// Event is something that changed: one of the fields is set.
type Event struct {
	Contact  *store.Contact  // added or changed (state, key, verified)
	Message  *store.Message  // new, or its state changed
	Presence *PresenceChange // an accepted contact's presence changed
	Typing   *TypingChange
}

// PresenceChange is a contact's new presence.
type PresenceChange struct {
	ContactID int64
	Status    uint8 // wire.StatusOnline, StatusAway, StatusOffline
}

// TypingChange says a contact started or stopped typing.
type TypingChange struct {
	ContactID int64
	On        bool
}

// Service is the user's contacts and conversations: it sends and takes
// its letters through the letters service (sealed envelopes, the durable
// outbox, direct links when open), and keeps everything in the profile's
// database.
type Service struct {
	cfg     Config
	log     *slog.Logger
	me      identity.NodeID
	letters *letters.Service

	mu       sync.Mutex
	presence map[int64]uint8     // guarded by mu: accepted contacts' presence
	links    map[int64]*link     // guarded by mu: direct links by contact
	invited  map[int64]time.Time // guarded by mu: last link invitation sent
	early    map[int64]*early    // guarded by mu: signals that came while an offer's session was being made
	stopped  bool                // guarded by mu: Run has ended

	direct atomic.Uint64 // letters sent over direct links
}

// Stats are counters of a Service.
type Stats struct {
	// Direct counts letters sent over direct links rather than envelopes.
	Direct uint64
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats { return Stats{Direct: s.direct.Load()} }

// New returns a Service and registers its letter kinds; Run watches
// presence and direct links.
func New(cfg Config) (*Service, error) {
	if cfg.Letters == nil || cfg.DB == nil || cfg.Net == nil {
		return nil, errors.New("chat: letters, database and network are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Username == nil {
		cfg.Username = func() string { return "" }
	}
	s := &Service{
		cfg:      cfg,
		log:      cfg.Logger.With("part", "chat"),
		me:       cfg.Letters.Me(),
		letters:  cfg.Letters,
		presence: make(map[int64]uint8),
		links:    make(map[int64]*link),
		invited:  make(map[int64]time.Time),
		early:    make(map[int64]*early),
	}
	if err := cfg.Letters.Register(s.kinds()...); err != nil {
		return nil, err
	}
	cfg.Letters.SetDirect(s)
	return s, nil
}

func (s *Service) emit(ev Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
}

func (s *Service) emitContact(ctx context.Context, id int64) {
	if c, err := s.cfg.DB.Contact(ctx, id); err == nil {
		s.emit(Event{Contact: &c})
	}
}

// SafetyNumber returns the number two users compare out of band to know
// that each has the other's real key: 60 digits from both keys, the same
// on both sides.
func SafetyNumber(a, b ed25519.PublicKey) string {
	keys := [][]byte{a, b}
	slices.SortFunc(keys, func(x, y []byte) int { return slices.Compare(x, y) })
	h := sha512.New()
	h.Write([]byte("parley safety number v1\x00"))
	h.Write(keys[0])
	h.Write(keys[1])
	sum := h.Sum(nil)
	var out strings.Builder
	for i := range 12 {
		// 5 digits from 40 bits each: 12 groups use 60 of the 64 bytes.
		var v uint64
		for _, b := range sum[i*5 : i*5+5] {
			v = v<<8 | uint64(b)
		}
		fmt.Fprintf(&out, "%05d", v%100000)
		if i < 11 {
			out.WriteByte(' ')
		}
	}
	return out.String()
}

// lookupName returns the key that holds name's claim in the directory.
func (s *Service) lookupName(ctx context.Context, name string) (ed25519.PublicKey, error) {
	n, err := record.NormalizeName(name)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.cfg.Net.Lookup(ctx, record.ClaimKey(n))
	if errors.Is(err, overlay.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNameNotFound, n)
	}
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(rec.Owner), nil
}

// AddContact looks name up in the directory, pins the key found and sends
// a contact request with message. If they had asked first, this accepts.
func (s *Service) AddContact(ctx context.Context, name, message string) (store.Contact, error) {
	n, err := record.NormalizeName(name)
	if err != nil {
		return store.Contact{}, err
	}
	if len(message) > MaxRequestMessage {
		return store.Contact{}, fmt.Errorf("%w: request message over %d bytes", ErrTooLong, MaxRequestMessage)
	}
	key, err := s.lookupName(ctx, n)
	if err != nil {
		return store.Contact{}, err
	}
	if identity.NodeIDOf(key) == s.me {
		return store.Contact{}, ErrSelf
	}
	now := s.cfg.Now()
	c, err := s.cfg.DB.ContactByUsername(ctx, n)
	switch {
	case err == nil:
		if !c.PublicKey.Equal(key) {
			if err := s.cfg.DB.SetPendingKey(ctx, c.ID, key, now); err != nil {
				return c, err
			}
			s.emitContact(ctx, c.ID)
			return c, ErrKeyChanged
		}
		switch c.State {
		case store.ContactIncoming:
			return c, s.Accept(ctx, c.ID)
		case store.ContactAccepted:
			return c, nil
		}
		if err := s.cfg.DB.SetContactState(ctx, c.ID, store.ContactOutgoing, now); err != nil {
			return c, err
		}
	case errors.Is(err, store.ErrNotFound):
		id, err := s.cfg.DB.AddContact(ctx, store.Contact{Username: n, PublicKey: key, State: store.ContactOutgoing, Created: now, Updated: now})
		if err != nil {
			return store.Contact{}, err
		}
		c.ID = id
	default:
		return store.Contact{}, err
	}
	payload, err := encode(Request{Name: s.cfg.Username(), Message: message})
	if err != nil {
		return store.Contact{}, err
	}
	if err := s.letters.Enqueue(ctx, c.ID, KindRequest, [16]byte{}, payload); err != nil {
		return store.Contact{}, err
	}
	c, err = s.cfg.DB.Contact(ctx, c.ID)
	if err == nil {
		s.emit(Event{Contact: &c})
	}
	return c, err
}

// Accept accepts a contact's request.
func (s *Service) Accept(ctx context.Context, id int64) error {
	return s.answer(ctx, id, true)
}

// Decline declines a contact's request.
func (s *Service) Decline(ctx context.Context, id int64) error {
	return s.answer(ctx, id, false)
}

func (s *Service) answer(ctx context.Context, id int64, accept bool) error {
	c, err := s.cfg.DB.Contact(ctx, id)
	if err != nil {
		return err
	}
	state := store.ContactDeclined
	if accept {
		state = store.ContactAccepted
	}
	if err := s.cfg.DB.SetContactState(ctx, id, state, s.cfg.Now()); err != nil {
		return err
	}
	payload, err := encode(Response{Accepted: accept, Name: s.cfg.Username()})
	if err != nil {
		return err
	}
	if err := s.letters.Enqueue(ctx, id, KindResponse, [16]byte{}, payload); err != nil {
		return err
	}
	if accept {
		s.watch(c)
	}
	s.emitContact(ctx, id)
	return nil
}

// Block blocks a contact: nothing from them is taken any more, and they
// are told they were removed (not that they were blocked).
func (s *Service) Block(ctx context.Context, id int64) error {
	return s.drop(ctx, id, store.ContactBlocked)
}

// Remove removes a contact on both sides; the history stays.
func (s *Service) Remove(ctx context.Context, id int64) error {
	return s.drop(ctx, id, store.ContactRemoved)
}

func (s *Service) drop(ctx context.Context, id int64, state store.ContactState) error {
	c, err := s.cfg.DB.Contact(ctx, id)
	if err != nil {
		return err
	}
	was := c.State
	if err := s.cfg.DB.SetContactState(ctx, id, state, s.cfg.Now()); err != nil {
		return err
	}
	s.unwatch(c)
	if was == store.ContactAccepted || was == store.ContactOutgoing {
		if err := s.letters.Enqueue(ctx, id, KindRemoved, [16]byte{}, nil); err != nil {
			return err
		}
	}
	s.emitContact(ctx, id)
	return nil
}

// AcceptNewKey pins the contact's new key in place of the old one, after
// the user saw the warning. The contact is no longer marked verified.
func (s *Service) AcceptNewKey(ctx context.Context, id int64) error {
	c, err := s.cfg.DB.Contact(ctx, id)
	if err != nil {
		return err
	}
	s.unwatch(c)
	if err := s.cfg.DB.AcceptPendingKey(ctx, id, s.cfg.Now()); err != nil {
		return err
	}
	if c, err = s.cfg.DB.Contact(ctx, id); err == nil && c.State == store.ContactAccepted {
		s.watch(c)
	}
	s.emitContact(ctx, id)
	return nil
}

// SetVerified marks the contact's key as checked out of band (or not).
func (s *Service) SetVerified(ctx context.Context, id int64, verified bool) error {
	if err := s.cfg.DB.SetContactVerified(ctx, id, verified, s.cfg.Now()); err != nil {
		return err
	}
	s.emitContact(ctx, id)
	return nil
}

// Send writes a message to the conversation with contact id and queues it;
// it is in the database before Send returns.
func (s *Service) Send(ctx context.Context, id int64, text string) (store.Message, error) {
	if strings.TrimSpace(text) == "" {
		return store.Message{}, ErrEmpty
	}
	if len(text) > MaxBody {
		return store.Message{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLong, len(text), MaxBody)
	}
	c, err := s.cfg.DB.Contact(ctx, id)
	if err != nil {
		return store.Message{}, err
	}
	if c.State != store.ContactAccepted {
		return store.Message{}, ErrNotContact
	}
	if c.PendingKey != nil {
		return store.Message{}, ErrKeyChanged
	}
	now := s.cfg.Now()
	var msgID [16]byte
	rand.Read(msgID[:])
	payload, err := encode(Message{ID: msgID[:], Body: text, Sent: now.UnixMilli()})
	if err != nil {
		return store.Message{}, err
	}
	m := store.Message{ContactID: id, MsgID: msgID, Author: s.me, Direction: store.Outgoing, Body: text,
		Sent: time.UnixMilli(now.UnixMilli()), Received: now, State: store.MessagePending}
	m.ID, _, err = s.cfg.DB.AddMessageWithOutbox(ctx, m, s.letters.Item(id, KindMessage, msgID, payload))
	if err != nil {
		return store.Message{}, err
	}
	s.letters.Poke()
	s.emit(Event{Message: &m})
	return m, nil
}

// MarkRead marks the conversation read and sends read receipts.
func (s *Service) MarkRead(ctx context.Context, id int64) error {
	refs, err := s.cfg.DB.MarkRead(ctx, id, s.cfg.Now(), s.cfg.Now())
	if err != nil || len(refs) == 0 {
		return err
	}
	ids := make([][]byte, len(refs))
	for i, r := range refs {
		ids[i] = slices.Clone(r.MsgID[:])
	}
	payload, err := encode(Receipt{IDs: ids, Read: true})
	if err != nil {
		return err
	}
	return s.letters.Enqueue(ctx, id, KindReceipt, [16]byte{}, payload)
}

// SetTyping tells an online contact that the user is or stopped typing.
// It is best effort: never queued.
func (s *Service) SetTyping(ctx context.Context, id int64, on bool) error {
	c, err := s.cfg.DB.Contact(ctx, id)
	if err != nil {
		return err
	}
	if c.State != store.ContactAccepted || s.Presence(id) == wire.StatusOffline {
		return nil
	}
	payload, _ := encode(Typing{On: on})
	if s.SendDirect(id, KindTyping, payload) {
		return nil
	}
	go s.letters.SendTo(context.WithoutCancel(ctx), c, KindTyping, payload)
	s.ensureLink(c)
	return nil
}

// Presence returns an accepted contact's last known presence.
func (s *Service) Presence(id int64) uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.presence[id]; ok {
		return st
	}
	return wire.StatusOffline
}

// ClaimPublished tells the service that this peer's username claim is in
// the directory now. A contact request sent before it was refused by its
// recipient (who checks the sender holds the name) and waits in the outbox
// with a backoff that may have grown to tens of seconds: it goes again now.
func (s *Service) ClaimPublished(ctx context.Context) {
	cs, err := s.cfg.DB.Contacts(ctx)
	if err != nil {
		s.log.Warn("outbox: reading contacts", "err", err)
		return
	}
	for _, c := range cs {
		if c.State == store.ContactOutgoing {
			s.letters.Due(ctx, c.ID)
		}
	}
}
