package letters

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/envelope"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// Network delivers sealed envelopes; *overlay.Leaf is one.
type Network interface {
	Deliver(ctx context.Context, to identity.NodeID, data []byte) (overlay.Delivery, error)
}

// Gate says from whom a letter of a kind is taken, and to whom the outbox
// sends one. A blocked contact's letters are never taken.
type Gate uint8

const (
	// FromAnyone takes letters from strangers too (a contact request).
	FromAnyone Gate = iota + 1
	// FromKnown takes letters from any contact the user has, whatever
	// its state (answers, removals, receipts).
	FromKnown
	// FromAccepted takes letters from accepted contacts.
	FromAccepted
	// FromCallable takes letters from accepted contacts whose key is not
	// in question (no new key waiting for the user's word): what may
	// start something live, a call.
	FromCallable
)

// admits reports whether a letter of this gate is taken from c (known:
// c is one of the user's contacts).
func (g Gate) admits(c store.Contact, known bool) bool {
	if known && c.State == store.ContactBlocked {
		return false
	}
	switch g {
	case FromAnyone:
		return true
	case FromKnown:
		return known
	case FromAccepted:
		return known && c.State == store.ContactAccepted
	case FromCallable:
		return known && callable(c)
	}
	return false
}

// callable reports whether c is an accepted contact with a settled key.
func callable(c store.Contact) bool {
	return c.State == store.ContactAccepted && c.PendingKey == nil
}

// Letter is an opened letter from a contact (or, for FromAnyone kinds, a
// stranger).
type Letter struct {
	From    ed25519.PublicKey
	FromID  identity.NodeID
	Contact store.Contact // the sender; zero (ID 0) for a stranger
	Known   bool          // the sender is one of the user's contacts
	Kind    uint8
	Payload []byte
	// Time is the sender's signed time (a direct frame: when it came).
	Time time.Time
	// Direct: it came over a direct link, not as a sealed envelope.
	Direct bool
}

// Kind is a letter kind a service owns, and how it is treated.
type Kind struct {
	Kind uint8
	Name string // for the log
	Gate Gate
	// Handle takes a letter of the kind. Letters are handled one at a
	// time. An error that wraps ErrMalformed drops the letter; any other
	// error leaves it unseen, so that its mailbox hands it over again.
	Handle func(ctx context.Context, l Letter) error
	// Direct: the kind may travel over a direct link (DirectLink), both
	// ways; other kinds always go sealed, and one that comes over a link
	// is dropped.
	Direct bool
	// Await keeps a queued letter of the kind in the outbox after it was
	// handed over, until the contact answers it (Settle): sent again
	// after Config.ResendDelivered, or ResendStored if it went to a
	// mailbox. Otherwise it leaves the outbox once the network took it.
	Await bool
	// SendTo reports whether a queued or live letter of the kind may go
	// to c now; default: an accepted contact with a settled key. A queued
	// letter that may not is dropped.
	SendTo func(c store.Contact) bool
	// Sent, if set, is told that a queued letter was handed over
	// (direct: over a direct link).
	Sent func(ctx context.Context, it store.OutboxItem, c store.Contact, d overlay.Delivery, direct bool)
	// Expired, if set, is told of a queued letter whose time ran out.
	Expired func(ctx context.Context, it store.OutboxItem)
}

func (k *Kind) sendable(c store.Contact) bool {
	if k.SendTo != nil {
		return k.SendTo(c)
	}
	return callable(c)
}

// DirectLink sends letters over a direct link to a contact, when there is
// an open one; chat's data channels are one.
type DirectLink interface {
	SendDirect(contactID int64, kind uint8, payload []byte) bool
}

// Config configures a Service.
type Config struct {
	Identity *identity.Identity
	DB       *store.DB
	Net      Network
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Retry is the backoff of the outbox between failed attempts.
	// Default 2 s base, 5 min cap.
	Retry overlay.Backoff
	// ResendDelivered and ResendStored are how long an Await letter
	// handed to the contact, or to its mailboxes, waits for its answer
	// before it is sent again. Defaults 30 s and 6 h.
	ResendDelivered, ResendStored time.Duration
	// TTL is how long a queued letter is retried. Default 30 days.
	TTL time.Duration
}

// Service seals, sends, queues, opens and dispatches letters.
type Service struct {
	cfg  Config
	log  *slog.Logger
	me   identity.NodeID
	kick chan struct{}
	in   sync.Mutex // one letter taken at a time

	mu     sync.Mutex
	kinds  map[uint8]*Kind // guarded by mu
	direct DirectLink      // guarded by mu
}

// New returns a Service; Run sends its outbox.
func New(cfg Config) (*Service, error) {
	if cfg.Identity == nil || cfg.DB == nil || cfg.Net == nil {
		return nil, errors.New("letters: identity, database and network are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry == (overlay.Backoff{}) {
		cfg.Retry = overlay.Backoff{Base: 2 * time.Second, Cap: 5 * time.Minute}
	}
	if cfg.ResendDelivered == 0 {
		cfg.ResendDelivered = 30 * time.Second
	}
	if cfg.ResendStored == 0 {
		cfg.ResendStored = 6 * time.Hour
	}
	if cfg.TTL == 0 {
		cfg.TTL = 30 * 24 * time.Hour
	}
	return &Service{
		cfg:   cfg,
		log:   cfg.Logger.With("part", "letters"),
		me:    cfg.Identity.NodeID(),
		kick:  make(chan struct{}, 1),
		kinds: make(map[uint8]*Kind),
	}, nil
}

// Me returns this peer's node ID.
func (s *Service) Me() identity.NodeID { return s.me }

// Identity returns this peer's identity.
func (s *Service) Identity() *identity.Identity { return s.cfg.Identity }

// Register registers kinds that a service owns. A kind registered before
// is refused (ErrKindTaken) and none of kinds is registered.
func (s *Service) Register(kinds ...Kind) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[uint8]bool)
	for _, k := range kinds {
		if s.kinds[k.Kind] != nil || seen[k.Kind] {
			return fmt.Errorf("%w: %d (%s)", ErrKindTaken, k.Kind, k.Name)
		}
		if k.Handle == nil || k.Gate == 0 {
			return fmt.Errorf("letters: kind %d (%s) has no handler or gate", k.Kind, k.Name)
		}
		seen[k.Kind] = true
	}
	for _, k := range kinds {
		s.kinds[k.Kind] = &k
	}
	return nil
}

// SetDirect sets the direct links that Direct kinds go over when open.
func (s *Service) SetDirect(d DirectLink) {
	s.mu.Lock()
	s.direct = d
	s.mu.Unlock()
}

func (s *Service) kind(k uint8) *Kind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kinds[k]
}

func (s *Service) sendDirect(id int64, k *Kind, payload []byte) bool {
	if !k.Direct {
		return false
	}
	s.mu.Lock()
	d := s.direct
	s.mu.Unlock()
	return d != nil && d.SendDirect(id, k.Kind, payload)
}

// HandleEnvelope takes a sealed envelope that reached this peer (the
// overlay leaf's OnEnvelope). Letters that are not for us, forged,
// replayed, of a kind no service owns, or from someone their kind's gate
// keeps out are dropped (nil: the mailbox may delete them). An error
// means the letter could not be taken now and should come again.
func (s *Service) HandleEnvelope(_ identity.NodeID, data []byte) error {
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
	if err := s.take(ctx, Letter{From: l.From, FromID: l.FromID, Kind: l.Kind, Payload: l.Payload, Time: l.Time}); err != nil {
		// Not taken: forget we saw it, so that it can come again.
		s.cfg.DB.ForgetEnvelope(ctx, l.FromID, l.ID)
		return err
	}
	return nil
}

// TakeDirect takes a letter that came over the direct link with contact
// c (authenticated by the link, not sealed). Only Direct kinds are taken.
func (s *Service) TakeDirect(c store.Contact, kind uint8, payload []byte) error {
	if k := s.kind(kind); k == nil || !k.Direct {
		s.log.Info("dropping a direct letter of a kind that must come sealed", "kind", kind)
		return nil
	}
	s.in.Lock()
	defer s.in.Unlock()
	return s.take(context.Background(), Letter{From: c.PublicKey, FromID: c.NodeID, Kind: kind,
		Payload: payload, Time: s.cfg.Now(), Direct: true})
}

// take passes one letter through its kind's gate to its handler. A
// malformed letter is dropped (nil).
func (s *Service) take(ctx context.Context, l Letter) error {
	k := s.kind(l.Kind)
	if k == nil {
		s.log.Debug("dropping letter of an unknown kind", "from", l.FromID.Short(), "kind", l.Kind)
		return nil
	}
	c, err := s.cfg.DB.ContactByNodeID(ctx, l.FromID)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !k.Gate.admits(c, known) {
		s.log.Debug("dropping letter the gate keeps out", "from", l.FromID.Short(), "kind", k.Name)
		return nil
	}
	l.Contact, l.Known = c, known
	if err := k.Handle(ctx, l); err != nil {
		if errors.Is(err, ErrMalformed) {
			s.log.Info("dropping letter", "from", l.FromID.Short(), "kind", k.Name, "err", err)
			return nil
		}
		return err
	}
	return nil
}

// Seal seals a letter of kind to contact c.
func (s *Service) Seal(c store.Contact, kind uint8, payload []byte) ([]byte, error) {
	data, _, err := envelope.Seal(s.cfg.Identity, c.PublicKey, kind, payload, s.cfg.Now(), nil)
	return data, err
}

// SendTo seals and delivers one letter of a registered kind to c now,
// not queued (live letters: signaling, typing). The kind's SendTo must
// allow c.
func (s *Service) SendTo(ctx context.Context, c store.Contact, kind uint8, payload []byte) (overlay.Delivery, error) {
	k := s.kind(kind)
	if k == nil {
		return overlay.Delivery{}, fmt.Errorf("%w: %d", ErrUnknownKind, kind)
	}
	if !k.sendable(c) {
		return overlay.Delivery{}, ErrNotContact
	}
	return s.deliver(ctx, c, kind, payload)
}

// Send is SendTo for the contact with database id.
func (s *Service) Send(ctx context.Context, contactID int64, kind uint8, payload []byte) (overlay.Delivery, error) {
	c, err := s.cfg.DB.Contact(ctx, contactID)
	if err != nil {
		return overlay.Delivery{}, err
	}
	return s.SendTo(ctx, c, kind, payload)
}

// deliver seals and delivers, with no checks.
func (s *Service) deliver(ctx context.Context, c store.Contact, kind uint8, payload []byte) (overlay.Delivery, error) {
	data, err := s.Seal(c, kind, payload)
	if err != nil {
		return overlay.Delivery{}, err
	}
	return s.cfg.Net.Deliver(ctx, identity.NodeID(c.NodeID), data)
}
