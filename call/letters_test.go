package call

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// lettersNet is the overlay as the letters service sees it, in memory:
// sealed envelopes handed straight to the recipient's letters.Service,
// through an optional hostile supernode.
type lettersNet struct {
	mu   sync.Mutex
	svcs map[identity.NodeID]*letters.Service
	tap  func(data []byte) []byte
}

type lettersPort struct {
	n  *lettersNet
	me identity.NodeID
}

func (p lettersPort) Deliver(_ context.Context, to identity.NodeID, data []byte) (overlay.Delivery, error) {
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

// TestCallOverLetters runs the signaling through real letters services:
// letters signed and sealed to the contact, opened and checked at the
// other end, handed to the Manager that registered their kinds. A call
// connects and carries audio. A supernode that tampers with the sealed
// envelopes gets them dropped: the call never rings.
func TestCallOverLetters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, natNone, natNone)
	sb := newSwitchboard() // unused for letters: the letters services carry them
	n := &lettersNet{svcs: make(map[identity.NodeID]*letters.Service)}
	var users []*user
	for i, name := range []string{"alice", "bob"} {
		u := newUser(t, sb, w, i, name, func(c *Config) {
			c.RingTimeout = 1500 * time.Millisecond
			svc, err := letters.New(letters.Config{Identity: c.Identity, DB: c.DB, Net: lettersPort{n, c.Identity.NodeID()}})
			if err != nil {
				t.Fatal(err)
			}
			c.Letters = svc
			n.mu.Lock()
			n.svcs[c.Identity.NodeID()] = svc
			n.mu.Unlock()
		})
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
