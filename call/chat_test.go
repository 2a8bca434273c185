package call

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// chatNet is the overlay as chat sees it, in memory: sealed envelopes
// handed straight to the recipient's chat.Service, through an optional
// hostile supernode.
type chatNet struct {
	mu     sync.Mutex
	svcs   map[overlay.NodeID]*chat.Service
	claims map[[32]byte]ed25519.PublicKey
	tap    func(data []byte) []byte
}

type chatPort struct {
	n  *chatNet
	me overlay.NodeID
}

func (p chatPort) Deliver(_ context.Context, to overlay.NodeID, data []byte) (overlay.Delivery, error) {
	p.n.mu.Lock()
	s, tap := p.n.svcs[to], p.n.tap
	p.n.mu.Unlock()
	if s == nil {
		return overlay.Delivery{Stored: 3}, nil
	}
	if tap != nil {
		data = tap(data)
	}
	return overlay.Delivery{Delivered: true}, s.HandleEnvelope(p.me, data)
}

func (p chatPort) Lookup(_ context.Context, key [32]byte) (*wire.Record, int, error) {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	if k, ok := p.n.claims[key]; ok {
		return &wire.Record{Kind: wire.KindClaim, Owner: k}, 1, nil
	}
	return nil, 1, overlay.ErrNotFound
}

func (chatPort) Subscribe(...[32]byte)   {}
func (chatPort) Unsubscribe(...[32]byte) {}

// TestCallOverChat runs the signaling through real chat services: letters
// signed and sealed to the contact, opened and checked at the other end,
// handed over by chat.Config.OnCallLetter. A call connects and carries
// audio. A supernode that tampers with the sealed envelopes gets them
// dropped: the call never rings.
func TestCallOverChat(t *testing.T) {
	t.Parallel()
	if chat.KindCallFirst != KindFirst {
		t.Fatalf("chat.KindCallFirst %d, KindFirst %d", chat.KindCallFirst, KindFirst)
	}
	w := newWorld(t, natNone, natNone)
	sb := newSwitchboard() // unused for letters: chat carries them
	n := &chatNet{svcs: make(map[overlay.NodeID]*chat.Service), claims: make(map[[32]byte]ed25519.PublicKey)}
	var users []*user
	for i, name := range []string{"alice", "bob"} {
		var svc *chat.Service
		var mgr atomic.Pointer[Manager]
		u := newUser(t, sb, w, i, name, func(c *Config) {
			c.RingTimeout = 1500 * time.Millisecond
			c.Signaling = signalingFunc(func(ctx context.Context, id int64, kind uint8, p []byte) (overlay.Delivery, error) {
				return svc.SendCallLetter(ctx, id, kind, p)
			})
		})
		mgr.Store(u.m)
		var err error
		svc, err = chat.New(chat.Config{
			Identity: u.id, DB: u.db, Net: chatPort{n, u.id.NodeID()},
			Username: func() string { return name },
			OnCallLetter: func(c store.Contact, kind uint8, payload []byte, sent time.Time) {
				mgr.Load().HandleLetter(c, kind, payload, sent)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		n.svcs[u.id.NodeID()] = svc
		n.claims[overlay.ClaimKey(name)] = u.id.PublicKey()
		n.mu.Unlock()
		users = append(users, u)
	}
	a, b := users[0], users[1]
	befriend(t, a, b)

	id := connect(t, a, b)
	if err := a.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	b.waitEvent(EventEnded, id, 2*time.Second)
	checkLog(t, b, id, store.Incoming, a, store.CallAnswered, true, "hung up by alice")

	// A supernode flips a bit of every envelope on the way.
	n.mu.Lock()
	n.tap = func(data []byte) []byte {
		out := append([]byte(nil), data...)
		out[len(out)/2] ^= 1
		return out
	}
	n.mu.Unlock()
	id2 := a.dial(b)
	ev := a.waitEvent(EventEnded, id2, 5*time.Second)
	if !errors.Is(ev.Call.Err, ErrNoAnswer) {
		t.Fatalf("call through a tampering supernode ended %+v, want no answer", ev.Call)
	}
	for _, e := range b.allEvents() {
		if e.Call.ID == id2 {
			t.Fatalf("bob saw the tampered call: %v", e.Type)
		}
	}
}

// signalingFunc is a function that is a Signaling.
type signalingFunc func(ctx context.Context, contactID int64, kind uint8, payload []byte) (overlay.Delivery, error)

func (f signalingFunc) SendCallLetter(ctx context.Context, contactID int64, kind uint8, payload []byte) (overlay.Delivery, error) {
	return f(ctx, contactID, kind, payload)
}
