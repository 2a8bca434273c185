package chat

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/envelope"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// The overlay is tested on its own (overlay, app); here a small in-memory
// network stands in for it: a directory of claims and a switchboard that
// hands sealed envelopes to the recipient's Service, or keeps them while it
// is offline. Everything above it — sealing, opening, the database — is
// the real code.
type switchboard struct {
	mu      sync.Mutex
	claims  map[[32]byte]ed25519.PublicKey
	peers   map[identity.NodeID]*letters.Service
	offline map[identity.NodeID]bool
	held    map[identity.NodeID][][]byte
	tap     func(to identity.NodeID, data []byte) []byte // a hostile supernode
}

func newSwitchboard() *switchboard {
	return &switchboard{claims: map[[32]byte]ed25519.PublicKey{}, peers: map[identity.NodeID]*letters.Service{},
		offline: map[identity.NodeID]bool{}, held: map[identity.NodeID][][]byte{}}
}

type port struct {
	sb *switchboard
	me identity.NodeID
}

func (p port) Deliver(_ context.Context, to identity.NodeID, data []byte) (overlay.Delivery, error) {
	p.sb.mu.Lock()
	if p.sb.tap != nil {
		data = p.sb.tap(to, data)
	}
	s, off := p.sb.peers[to], p.sb.offline[to]
	if s == nil || off {
		p.sb.held[to] = append(p.sb.held[to], data)
		p.sb.mu.Unlock()
		return overlay.Delivery{Stored: 3}, nil
	}
	p.sb.mu.Unlock()
	if err := s.HandleEnvelope(p.me, data); err != nil {
		return overlay.Delivery{}, err
	}
	return overlay.Delivery{Delivered: true}, nil
}

func (p port) Lookup(_ context.Context, key [32]byte) (*wire.Record, int, error) {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if k, ok := p.sb.claims[key]; ok {
		return &wire.Record{Kind: wire.KindClaim, Owner: k}, 1, nil
	}
	return nil, 1, overlay.ErrNotFound
}

func (port) Subscribe(...[32]byte)   {}
func (port) Unsubscribe(...[32]byte) {}

// opt adjusts a test user's chat and letters configurations.
type opt func(*Config, *letters.Config)

// user is one Service with its own database.
type user struct {
	t    *testing.T
	id   *identity.Identity
	name string
	db   *store.DB
	s    *Service
	l    *letters.Service
	sb   *switchboard
}

func newUser(t *testing.T, sb *switchboard, name string, opts ...opt) *user {
	t.Helper()
	id, err := identity.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newUserWith(t, sb, name, id, opts...)
}

func newUserWith(t *testing.T, sb *switchboard, name string, id *identity.Identity, opts ...opt) *user {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u := &user{t: t, id: id, name: name, db: db, sb: sb}
	lcfg := letters.Config{Identity: id, DB: db, Net: port{sb, id.NodeID()},
		Retry: overlay.Backoff{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond}}
	cfg := Config{Username: func() string { return name }, DB: db, Net: port{sb, id.NodeID()}}
	for _, o := range opts {
		o(&cfg, &lcfg)
	}
	if u.l, err = letters.New(lcfg); err != nil {
		t.Fatal(err)
	}
	cfg.Letters = u.l
	if u.s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	sb.mu.Lock()
	sb.claims[record.ClaimKey(name)] = id.PublicKey()
	sb.peers[id.NodeID()] = u.l
	sb.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { u.s.Run(ctx) })
	wg.Go(func() { u.l.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return u
}

func (u *user) contact(name string) store.Contact {
	c, _ := u.db.ContactByUsername(context.Background(), name)
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, what, cond)
}

// befriend makes a and b accepted contacts.
func befriend(t *testing.T, a, b *user) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.s.AddContact(ctx, b.name, "hello"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "request arrives", func() bool { return b.contact(a.name).State == store.ContactIncoming })
	if err := b.s.Accept(ctx, b.contact(a.name).ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "acceptance arrives", func() bool { return a.contact(b.name).State == store.ContactAccepted })
}

func TestSafetyNumberIsSymmetricAndKeyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, _ := ed25519.GenerateKey(nil)
		b, _, _ := ed25519.GenerateKey(nil)
		c, _, _ := ed25519.GenerateKey(nil)
		if SafetyNumber(a, b) != SafetyNumber(b, a) {
			t.Fatal("safety number depends on the order of the keys")
		}
		if SafetyNumber(a, b) == SafetyNumber(a, c) {
			t.Fatal("different keys give the same safety number")
		}
		if n := SafetyNumber(a, b); len(n) != 12*5+11 {
			t.Fatalf("safety number %q: want 12 groups of 5 digits", n)
		}
	})
}

func TestRequestFromKeyNotHoldingTheNameIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		bob := newUser(t, sb, "bob")
		newUser(t, sb, "alice")
		// Mallory claims to be alice in her request.
		mallory := newUser(t, sb, "mallory")
		mallory.name = "alice"
		mallory.s.cfg.Username = func() string { return "alice" }
		if _, err := mallory.s.AddContact(context.Background(), "bob", "it's alice, honest"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if cs, _ := bob.db.Contacts(context.Background()); len(cs) != 0 {
			t.Fatalf("bob took a request from a key that does not hold its name: %+v", cs)
		}
	})
}

// A daemon claims its name once online, after a proof of work; a request
// it sends before the claim is published must still arrive.
func TestRequestBeforeTheSendersClaimArrivesOnceClaimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		bob := newUser(t, sb, "bob")
		alice := newUser(t, sb, "alice")
		sb.mu.Lock()
		delete(sb.claims, record.ClaimKey("alice"))
		sb.mu.Unlock()
		if _, err := alice.s.AddContact(context.Background(), "bob", "hi"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if bob.contact("alice").ID != 0 {
			t.Fatal("bob took a request from a name nobody holds")
		}
		sb.mu.Lock()
		sb.claims[record.ClaimKey("alice")] = alice.id.PublicKey()
		sb.mu.Unlock()
		eventually(t, "the request once alice's claim is there", func() bool {
			return bob.contact("alice").State == store.ContactIncoming
		})
	})
}

// TestClaimPublishedSendsTheRequestAtOnce: a request refused while the
// sender's claim was on its way waits in the outbox behind a backoff (here
// up to ten hours); once the claim is published it goes at once (CI saw the
// backoff outlast a test's 30 s wait).
func TestClaimPublishedSendsTheRequestAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		bob := newUser(t, sb, "bob")
		alice := newUser(t, sb, "alice", func(_ *Config, l *letters.Config) {
			l.Retry = overlay.Backoff{Base: 10 * time.Hour, Cap: 10 * time.Hour}
		})
		sb.mu.Lock()
		delete(sb.claims, record.ClaimKey("alice"))
		sb.mu.Unlock()
		ctx := context.Background()
		if _, err := alice.s.AddContact(ctx, "bob", "hi"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first attempt refused", func() bool {
			items, _ := alice.db.DueOutbox(ctx, time.Now().Add(11*time.Hour), 10)
			return len(items) == 1 && items[0].Attempts > 0
		})
		sb.mu.Lock()
		sb.claims[record.ClaimKey("alice")] = alice.id.PublicKey()
		sb.mu.Unlock()
		alice.s.ClaimPublished(ctx)
		eventually(t, "the request right after the claim", func() bool {
			return bob.contact("alice").State == store.ContactIncoming
		})
	})
}

func TestStrangersAndBlockedContactsCannotMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		alice, bob := newUser(t, sb, "alice"), newUser(t, sb, "bob")
		ctx := context.Background()
		// A message letter from a stranger is dropped.
		data, _, _ := envelope.Seal(alice.id, bob.id.PublicKey(), KindMessage, mustEncode(t, Message{ID: make([]byte, 16), Body: "hi", Sent: time.Now().UnixMilli()}), time.Now(), nil)
		if err := bob.l.HandleEnvelope(alice.id.NodeID(), data); err != nil {
			t.Fatal(err)
		}
		if cs, _ := bob.db.Contacts(ctx); len(cs) != 0 {
			t.Fatal("a stranger's message made a contact")
		}
		befriend(t, alice, bob)
		if err := bob.s.Block(ctx, bob.contact("alice").ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "alice is told she was removed", func() bool {
			c, _ := alice.db.Contact(ctx, alice.contact("bob").ID)
			return alice.contact("bob").ID == 0 || c.State == store.ContactRemoved
		})
		// Even a message sealed by hand is not taken from a blocked contact.
		data, _, _ = envelope.Seal(alice.id, bob.id.PublicKey(), KindMessage, mustEncode(t, Message{ID: []byte("0123456789abcdef"), Body: "let me in", Sent: time.Now().UnixMilli()}), time.Now(), nil)
		bob.l.HandleEnvelope(alice.id.NodeID(), data)
		c, err := bob.db.Contact(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := bob.db.CountMessages(ctx, c.ID); n != 0 {
			t.Fatal("a blocked contact's message was stored")
		}
		// And a new request from the blocked key makes nothing either.
		if _, err := alice.s.AddContact(ctx, "bob", "sorry"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if c, _ := bob.db.Contact(ctx, c.ID); c.State != store.ContactBlocked {
			t.Fatalf("blocked contact is now %s", c.State)
		}
	})
}

func TestReplayedAndTamperedEnvelopesAreDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		alice, bob := newUser(t, sb, "alice"), newUser(t, sb, "bob")
		befriend(t, alice, bob)
		ctx := context.Background()
		// Record what the network carries to bob.
		var carried [][]byte
		sb.mu.Lock()
		sb.tap = func(to identity.NodeID, data []byte) []byte {
			if to == bob.id.NodeID() {
				carried = append(carried, data)
			}
			return data
		}
		sb.mu.Unlock()
		if _, err := alice.s.Send(ctx, alice.contact("bob").ID, "once"); err != nil {
			t.Fatal(err)
		}
		bobsAlice := bob.contact("alice").ID
		eventually(t, "bob has it", func() bool { n, _ := bob.db.CountMessages(ctx, bobsAlice); return n == 1 })
		// A supernode replays every letter it carried, and tampers with
		// what it carries from now on.
		sb.mu.Lock()
		replay := append([][]byte(nil), carried...)
		sb.tap = func(_ identity.NodeID, data []byte) []byte {
			b := append([]byte(nil), data...)
			b[len(b)-1] ^= 1 // a supernode tampering
			return b
		}
		sb.mu.Unlock()
		for _, d := range replay {
			bob.l.HandleEnvelope(alice.id.NodeID(), d)
		}
		if n, _ := bob.db.CountMessages(ctx, bobsAlice); n != 1 {
			t.Fatalf("after replays bob has %d messages, want 1", n)
		}
		if _, err := alice.s.Send(ctx, alice.contact("bob").ID, "tampered"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if n, _ := bob.db.CountMessages(ctx, bobsAlice); n != 1 {
			t.Fatalf("a tampered envelope was taken: bob has %d messages", n)
		}
	})
}

func TestKeyChangeIsHeldUntilAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		alice, bob := newUser(t, sb, "alice"), newUser(t, sb, "bob")
		befriend(t, alice, bob)
		ctx := context.Background()
		oldKey := bob.contact("alice").PublicKey
		// Alice reinstalls: a new key claims "alice" (her old claim lapsed).
		alice2 := newUser(t, sb, "alice")
		if _, err := alice2.s.AddContact(ctx, "bob", "new phone, who dis"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "bob sees a pending key", func() bool { return bob.contact("alice").PendingKey != nil })
		c := bob.contact("alice")
		if !c.PublicKey.Equal(oldKey) || !c.PendingKey.Equal(alice2.id.PublicKey()) {
			t.Fatal("the old key was replaced without the user's consent")
		}
		if _, err := bob.s.Send(ctx, c.ID, "hi?"); !errors.Is(err, ErrKeyChanged) {
			t.Fatalf("send while a key change is pending: %v, want ErrKeyChanged", err)
		}
		if err := bob.s.AcceptNewKey(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if c := bob.contact("alice"); !c.PublicKey.Equal(alice2.id.PublicKey()) || c.PendingKey != nil || c.Verified {
			t.Fatalf("after accepting: %+v", c)
		}
	})
}

func TestTooLongAndEmptyMessagesRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		alice, bob := newUser(t, sb, "alice"), newUser(t, sb, "bob")
		befriend(t, alice, bob)
		id := alice.contact("bob").ID
		if _, err := alice.s.Send(context.Background(), id, string(make([]byte, MaxBody+1))); !errors.Is(err, ErrTooLong) {
			t.Fatalf("over MaxBody: %v", err)
		}
		if _, err := alice.s.Send(context.Background(), id, " \n "); !errors.Is(err, ErrEmpty) {
			t.Fatalf("blank: %v", err)
		}
	})
}

func TestOfflineRecipientGetsQueuedMessagesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := newSwitchboard()
		alice, bob := newUser(t, sb, "alice"), newUser(t, sb, "bob")
		befriend(t, alice, bob)
		ctx := context.Background()
		sb.mu.Lock()
		sb.offline[bob.id.NodeID()] = true
		sb.mu.Unlock()
		for _, text := range []string{"a", "b", "c"} {
			if _, err := alice.s.Send(ctx, alice.contact("bob").ID, text); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "stored for bob", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return len(sb.held[bob.id.NodeID()]) >= 3 })
		// Bob comes online and fetches his mailbox twice (a retry).
		sb.mu.Lock()
		sb.offline[bob.id.NodeID()] = false
		held := sb.held[bob.id.NodeID()]
		sb.mu.Unlock()
		for range 2 {
			for _, d := range held {
				if err := bob.l.HandleEnvelope(alice.id.NodeID(), d); err != nil {
					t.Fatal(err)
				}
			}
		}
		bobsAlice := bob.contact("alice").ID
		if n, _ := bob.db.CountMessages(ctx, bobsAlice); n != 3 {
			t.Fatalf("bob has %d messages, want 3", n)
		}
		eventually(t, "alice sees them delivered", func() bool {
			ms, _ := alice.db.Messages(ctx, alice.contact("bob").ID, store.Cursor{}, 10)
			for _, m := range ms {
				if m.State != store.MessageDelivered {
					return false
				}
			}
			return len(ms) == 3
		})
	})
}

func mustEncode(t *testing.T, v any) []byte {
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
