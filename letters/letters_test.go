package letters

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/envelope"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// net is the overlay in memory: it hands sealed envelopes to the
// recipient's Service, or fails while down.
type net struct {
	mu    sync.Mutex
	svcs  map[identity.NodeID]*Service
	down  bool
	sent  int // envelopes handed over
	calls int // Deliver calls
}

type port struct {
	n  *net
	me identity.NodeID
}

func (p port) Deliver(_ context.Context, to identity.NodeID, data []byte) (overlay.Delivery, error) {
	p.n.mu.Lock()
	p.n.calls++
	s, down := p.n.svcs[to], p.n.down
	if !down && s != nil {
		p.n.sent++
	}
	p.n.mu.Unlock()
	if down || s == nil {
		return overlay.Delivery{}, errors.New("no route")
	}
	return overlay.Delivery{Delivered: true}, s.HandleEnvelope(p.me, data)
}

// peer is one Service with its database and what its handlers saw.
type peer struct {
	id  *identity.Identity
	db  *store.DB
	s   *Service
	mu  sync.Mutex
	got []Letter
}

func newPeer(t *testing.T, n *net, tune ...func(*Config)) *peer {
	t.Helper()
	id, err := identity.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := Config{Identity: id, DB: db, Net: port{n, id.NodeID()}, Logger: testutil.Logger(t),
		Retry: overlay.Backoff{Base: time.Second, Cap: time.Second}}
	for _, f := range tune {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	if n.svcs == nil {
		n.svcs = make(map[identity.NodeID]*Service)
	}
	n.svcs[id.NodeID()] = s
	n.mu.Unlock()
	return &peer{id: id, db: db, s: s}
}

func (p *peer) handle(_ context.Context, l Letter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, l)
	return nil
}

// count returns how many letters of kind p took.
func (p *peer) count(kind uint8) int {
	n := 0
	for _, l := range p.received() {
		if l.Kind == kind {
			n++
		}
	}
	return n
}

func (p *peer) received() []Letter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// knows adds other to p's contacts in state, and returns the contact.
func (p *peer) knows(t *testing.T, other *peer, state store.ContactState) store.Contact {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	id, err := p.db.AddContact(ctx, store.Contact{Username: fmt.Sprintf("u%x", other.id.NodeID().Short()),
		PublicKey: other.id.PublicKey(), State: state, Created: now, Updated: now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.db.Contact(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *peer) outbox(t *testing.T) []store.OutboxItem {
	t.Helper()
	items, err := p.db.DueOutbox(context.Background(), time.Now().Add(50*time.Minute), 100) // all that waits: no test waits longer, and TTL is at least an hour
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// run runs p's outbox until the test ends.
func (p *peer) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestRegisterRefusesATakenKind: two services can never own one kind, and
// a refused registration registers none of its kinds.
func TestRegisterRefusesATakenKind(t *testing.T) {
	p := newPeer(t, &net{})
	h := func(context.Context, Letter) error { return nil }
	if err := p.s.Register(Kind{Kind: 4, Name: "message", Gate: FromAccepted, Handle: h}); err != nil {
		t.Fatal(err)
	}
	err := p.s.Register(Kind{Kind: 64, Name: "call invite", Gate: FromCallable, Handle: h},
		Kind{Kind: 4, Name: "file", Gate: FromAccepted, Handle: h})
	if !errors.Is(err, ErrKindTaken) {
		t.Fatalf("registering a taken kind: %v, want ErrKindTaken", err)
	}
	if p.s.kind(64) != nil {
		t.Fatal("a refused registration registered some of its kinds")
	}
	if err := p.s.Register(Kind{Kind: 5, Name: "no gate", Handle: h}); err == nil {
		t.Fatal("a kind with no gate was registered")
	}
}

// TestGateKeepsOutWhomItShould sends a letter of each gate from senders
// in each contact state, and checks who gets through.
func TestGateKeepsOutWhomItShould(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &net{}
		to := newPeer(t, n)
		gates := []Gate{FromAnyone, FromKnown, FromAccepted, FromCallable}
		for k, g := range gates {
			if err := to.s.Register(Kind{Kind: uint8(k + 1), Name: fmt.Sprint("gate ", g), Gate: g, Handle: to.handle}); err != nil {
				t.Fatal(err)
			}
		}
		senders := []struct {
			name  string
			state store.ContactState // "": a stranger
			newKy bool               // a new key waits for the user's word
			want  []Gate
		}{
			{"stranger", "", false, []Gate{FromAnyone}},
			{"outgoing", store.ContactOutgoing, false, []Gate{FromAnyone, FromKnown}},
			{"declined", store.ContactDeclined, false, []Gate{FromAnyone, FromKnown}},
			{"accepted", store.ContactAccepted, false, []Gate{FromAnyone, FromKnown, FromAccepted, FromCallable}},
			{"key changed", store.ContactAccepted, true, []Gate{FromAnyone, FromKnown, FromAccepted}},
			{"blocked", store.ContactBlocked, false, nil},
		}
		for _, sd := range senders {
			from := newPeer(t, n)
			if sd.state != "" {
				c := to.knows(t, from, sd.state)
				if sd.newKy {
					other, _ := identity.New(nil)
					if err := to.db.SetPendingKey(context.Background(), c.ID, other.PublicKey(), time.Now()); err != nil {
						t.Fatal(err)
					}
				}
			}
			var through []Gate
			for k := range 4 {
				before := len(to.received())
				data, _, _ := envelope.Seal(from.id, to.id.PublicKey(), uint8(k+1), []byte("x"), time.Now(), nil)
				if err := to.s.HandleEnvelope(from.id.NodeID(), data); err != nil {
					t.Fatal(err)
				}
				if got := to.received(); len(got) > before {
					through = append(through, gates[k])
					if got[len(got)-1].Known != (sd.state != "") {
						t.Errorf("%s: Known %v", sd.name, got[len(got)-1].Known)
					}
				}
			}
			if !slices.Equal(through, sd.want) {
				t.Errorf("%s: let through %v, want %v", sd.name, through, sd.want)
			}
		}
	})
}

// TestReplaysAreDroppedAndFailuresComeAgain: an envelope handed over twice
// is taken once; one whose handler could not take it now (a busy
// database) is not marked seen, so its mailbox's next try is taken; a
// malformed one is dropped for good.
func TestReplaysAreDroppedAndFailuresComeAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &net{}
		to, from := newPeer(t, n), newPeer(t, n)
		to.knows(t, from, store.ContactAccepted)
		fail := errors.New("database busy")
		var mu sync.Mutex
		var calls int
		var answer error
		to.s.Register(Kind{Kind: 4, Name: "message", Gate: FromAccepted, Handle: func(context.Context, Letter) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return answer
		}})
		seal := func() []byte {
			data, _, _ := envelope.Seal(from.id, to.id.PublicKey(), 4, []byte("hi"), time.Now(), nil)
			return data
		}
		set := func(err error) { mu.Lock(); answer = err; mu.Unlock() }
		count := func() int { mu.Lock(); defer mu.Unlock(); return calls }

		data := seal()
		for range 3 {
			if err := to.s.HandleEnvelope(from.id.NodeID(), data); err != nil {
				t.Fatal(err)
			}
		}
		if c := count(); c != 1 {
			t.Fatalf("an envelope handed over 3 times was taken %d times", c)
		}
		set(fail)
		data = seal()
		if err := to.s.HandleEnvelope(from.id.NodeID(), data); !errors.Is(err, fail) {
			t.Fatalf("a letter not taken: %v, want the handler's error", err)
		}
		set(nil)
		if err := to.s.HandleEnvelope(from.id.NodeID(), data); err != nil || count() != 3 {
			t.Fatalf("the letter's next try: %v, taken %d times in all, want 3", err, count())
		}
		set(fmt.Errorf("%w: bad body", ErrMalformed))
		data = seal()
		if err := to.s.HandleEnvelope(from.id.NodeID(), data); err != nil {
			t.Fatalf("a malformed letter: %v, want it dropped (nil)", err)
		}
		set(nil)
		to.s.HandleEnvelope(from.id.NodeID(), data)
		if c := count(); c != 4 {
			t.Fatalf("a malformed letter came again: taken %d times in all, want 4", c)
		}
	})
}

// TestOutboxRetriesAwaitsAndSettles: a queued letter survives a network
// that is down and goes when it is back; an Await letter is sent again
// until it is settled, and one of another kind leaves the outbox once
// taken; a letter to a contact its kind may no longer go to is dropped;
// a letter whose time runs out is told to its kind.
func TestOutboxRetriesAwaitsAndSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &net{down: true}
		tune := func(c *Config) {
			c.ResendDelivered, c.TTL = 10*time.Second, time.Hour
			c.Retry = overlay.Backoff{Base: time.Second, Cap: 10 * time.Minute}
		}
		a, b := newPeer(t, n, tune), newPeer(t, n, tune)
		var mu sync.Mutex
		var sent, expired int
		for _, p := range []*peer{a, b} {
			p.s.Register(
				Kind{Kind: 4, Name: "message", Gate: FromAccepted, Await: true, Handle: p.handle,
					Sent: func(context.Context, store.OutboxItem, store.Contact, overlay.Delivery, bool) {
						mu.Lock()
						sent++
						mu.Unlock()
					},
					Expired: func(context.Context, store.OutboxItem) { mu.Lock(); expired++; mu.Unlock() }},
				Kind{Kind: 5, Name: "receipt", Gate: FromKnown, Handle: p.handle})
		}
		cb := a.knows(t, b, store.ContactAccepted)
		b.knows(t, a, store.ContactAccepted)
		a.run(t)
		ctx := context.Background()
		ref := [16]byte{1}
		if err := a.s.Enqueue(ctx, cb.ID, 4, ref, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := a.s.Enqueue(ctx, cb.ID, 5, [16]byte{}, []byte("receipt")); err != nil {
			t.Fatal(err)
		}
		if err := a.s.Enqueue(ctx, cb.ID, 99, [16]byte{}, nil); !errors.Is(err, ErrUnknownKind) {
			t.Fatalf("queueing an unknown kind: %v", err)
		}
		time.Sleep(5 * time.Second)
		if len(b.received()) != 0 || len(a.outbox(t)) != 2 {
			t.Fatalf("while the network is down: %d letters arrived, %d queued", len(b.received()), len(a.outbox(t)))
		}
		n.mu.Lock()
		n.down = false
		n.mu.Unlock()
		testutil.Eventually(t, time.Minute, "both letters arrive", func() bool {
			return b.count(4) > 0 && b.count(5) == 1
		})
		testutil.Eventually(t, time.Minute, "the receipt leaves the outbox; the message waits for its answer", func() bool {
			items := a.outbox(t)
			return len(items) == 1 && items[0].Kind == 4
		})
		m0 := b.count(4)
		time.Sleep(11 * time.Second)
		if b.count(4) <= m0 {
			t.Fatalf("after ResendDelivered the message came %d times, want it again", b.count(4))
		}
		a.s.Settle(ctx, cb.ID, 4, ref)
		time.Sleep(time.Second)
		m1 := b.count(4)
		time.Sleep(30 * time.Second)
		if b.count(4) != m1 || b.count(5) != 1 || len(a.outbox(t)) != 0 {
			t.Fatalf("after Settle: the message came %d more times, the receipt %d times, %d wait; want 0, 1, 0",
				b.count(4)-m1, b.count(5), len(a.outbox(t)))
		}
		mu.Lock()
		if sent < 2 {
			t.Errorf("Sent told %d times, want at least 2 (the message and its resending)", sent)
		}
		mu.Unlock()
		total := len(b.received())

		// Blocked meanwhile: the queued letter is dropped, not sent.
		a.db.SetContactState(ctx, cb.ID, store.ContactBlocked, time.Now())
		a.s.Enqueue(ctx, cb.ID, 4, [16]byte{2}, []byte("to a blocked contact"))
		time.Sleep(time.Second)
		if got := len(b.received()); got != total || len(a.outbox(t)) != 0 {
			t.Fatalf("a letter to a blocked contact: %d more letters arrived and %d wait, want 0 and 0", got-total, len(a.outbox(t)))
		}
		n.mu.Lock()
		n.down = true
		n.mu.Unlock()
		// Queued while the network is down, then its time runs out.
		a.db.SetContactState(ctx, cb.ID, store.ContactAccepted, time.Now())
		a.s.Enqueue(ctx, cb.ID, 4, [16]byte{3}, []byte("never"))
		time.Sleep(2 * time.Hour)
		mu.Lock()
		defer mu.Unlock()
		if expired != 1 || len(a.outbox(t)) != 0 {
			t.Fatalf("after the TTL: %d expired, %d queued; want 1 and 0", expired, len(a.outbox(t)))
		}
	})
}

// directLink is a DirectLink that is open for the kinds it records.
type directLink struct {
	mu   sync.Mutex
	sent []uint8
}

func (d *directLink) SendDirect(_ int64, kind uint8, _ []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, kind)
	return true
}

// TestDirectKindsGoDirect: while a direct link is open, queued letters of
// Direct kinds go over it and never as envelopes; other kinds always go
// sealed; and a letter of a kind that must come sealed is refused when it
// comes over a link.
func TestDirectKindsGoDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &net{}
		a, b := newPeer(t, n), newPeer(t, n)
		for _, p := range []*peer{a, b} {
			p.s.Register(Kind{Kind: 4, Name: "message", Gate: FromAccepted, Direct: true, Handle: p.handle},
				Kind{Kind: 1, Name: "request", Gate: FromAnyone, Handle: p.handle})
		}
		cb := a.knows(t, b, store.ContactAccepted)
		ca := b.knows(t, a, store.ContactAccepted)
		link := &directLink{}
		a.s.SetDirect(link)
		a.run(t)
		ctx := context.Background()
		a.s.Enqueue(ctx, cb.ID, 4, [16]byte{}, []byte("direct"))
		a.s.Enqueue(ctx, cb.ID, 1, [16]byte{}, []byte("sealed"))
		testutil.Eventually(t, 30*time.Second, "the outbox empties", func() bool { return len(a.outbox(t)) == 0 })
		link.mu.Lock()
		direct := slices.Clone(link.sent)
		link.mu.Unlock()
		if !slices.Equal(direct, []uint8{4}) {
			t.Fatalf("sent over the link: %v, want the message alone", direct)
		}
		if got := b.received(); len(got) != 1 || got[0].Kind != 1 {
			t.Fatalf("sealed: %v, want the request alone", got)
		}
		if err := b.s.TakeDirect(ca, 1, []byte("unsealed request")); err != nil {
			t.Fatal(err)
		}
		if err := b.s.TakeDirect(ca, 4, []byte("message")); err != nil {
			t.Fatal(err)
		}
		got := b.received()
		if len(got) != 2 || got[1].Kind != 4 || !got[1].Direct {
			t.Fatalf("after two direct letters: %+v, want the message alone taken, marked direct", got)
		}
	})
}
