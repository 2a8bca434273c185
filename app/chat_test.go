package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// chatUser is a user peer that can be stopped and started again on the
// same profile.
type chatUser struct {
	t    testing.TB
	dir  string
	seed string
	run  *running
	prof *profile.Profile

	mu     sync.Mutex
	events []chat.Event
	extra  func(*Options) // more options, for the next start
}

func (u *chatUser) options() Options {
	sn, lf := quick(1000)
	return Options{Seeds: []overlay.SeedAddr{{Addr: u.seed}}, Listen: "127.0.0.1:0", NoSupernode: true,
		tuneSupernode: sn, tuneLeaf: lf, Logger: testLogger(u.dir),
		onChatEvent: func(ev chat.Event) { u.mu.Lock(); u.events = append(u.events, ev); u.mu.Unlock() },
		tuneLetters: func(c *letters.Config) {
			c.Retry = overlay.Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
			c.ResendDelivered, c.ResendStored = 2*time.Second, 3*time.Second
		}}
}

func (u *chatUser) opts() Options {
	o := u.options()
	if u.extra != nil {
		u.extra(&o)
	}
	return o
}

func newChatUser(t testing.TB, seed, name string) *chatUser {
	u := &chatUser{t: t, dir: t.TempDir(), seed: seed}
	prof, err := Init(context.Background(), u.dir, name, u.options())
	if err != nil {
		t.Fatal(err)
	}
	u.prof = prof
	u.start()
	return u
}

func (u *chatUser) start() {
	t := u.t
	if u.prof == nil {
		prof, err := profile.Open(context.Background(), u.dir)
		if err != nil {
			t.Fatal(err)
		}
		u.prof = prof
	}
	p, err := NewPeer(u.prof, u.opts())
	if err != nil {
		t.Fatal(err)
	}
	u.run = runPeer(t, p)
	waitUntil(t, 10*time.Second, "online", func() bool { return p.Status().Primary != nil })
}

func (u *chatUser) stop() {
	u.run.stop(u.t)
	u.prof.Close()
	u.prof = nil
}

func (u *chatUser) chat() *chat.Service { return u.run.peer.chat }

func (u *chatUser) contact(name string) store.Contact {
	c, err := u.prof.DB.ContactByUsername(context.Background(), name)
	if err != nil {
		return store.Contact{}
	}
	return c
}

func (u *chatUser) messages(name string) []store.Message {
	c := u.contact(name)
	if c.ID == 0 {
		return nil
	}
	ms, _ := u.prof.DB.Messages(context.Background(), c.ID, store.Cursor{}, 100)
	return ms
}

func (u *chatUser) sawPresence(id int64, status uint8) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.events) - 1; i >= 0; i-- {
		if p := u.events[i].Presence; p != nil && p.ContactID == id {
			return p.Status == status
		}
	}
	return false
}

func stateOf(ms []store.Message, body string) store.MessageState {
	for _, m := range ms {
		if m.Body == body {
			return m.State
		}
	}
	return ""
}

func TestContactsAndChatOnlineAndOffline(t *testing.T) {
	seed := startSeedPeer(t, 1000)
	seedAddr := seed.peer.Addr()
	alice := newChatUser(t, seedAddr, "alice")
	bob := newChatUser(t, seedAddr, "bob")
	ctx := context.Background()

	// Alice asks; bob sees the request with its message, and accepts.
	if _, err := alice.chat().AddContact(ctx, "Bob", "hi, it's alice"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "bob sees alice's request", func() bool { return bob.contact("alice").State == store.ContactIncoming })
	if got := bob.contact("alice").RequestMessage; got != "hi, it's alice" {
		t.Fatalf("request message %q", got)
	}
	if !bob.contact("alice").PublicKey.Equal(alice.prof.Identity.PublicKey()) {
		t.Fatal("bob pinned a key that is not alice's")
	}
	// Before acceptance, neither can message the other.
	if _, err := bob.chat().Send(ctx, bob.contact("alice").ID, "too early"); err == nil {
		t.Fatal("a message to an unaccepted contact was taken")
	}
	if err := bob.chat().Accept(ctx, bob.contact("alice").ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "alice sees the acceptance", func() bool { return alice.contact("bob").State == store.ContactAccepted })
	if a, b := chat.SafetyNumber(alice.prof.Identity.PublicKey(), bob.prof.Identity.PublicKey()), chat.SafetyNumber(bob.prof.Identity.PublicKey(), alice.prof.Identity.PublicKey()); a != b || len(a) != 71 {
		t.Fatalf("safety numbers differ or are malformed: %q %q", a, b)
	}

	// Both online: delivered, then read.
	bobID := alice.contact("bob").ID
	if _, err := alice.chat().Send(ctx, bobID, "hello bob"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "bob has the message", func() bool { return stateOf(bob.messages("alice"), "hello bob") == store.MessageReceived })
	waitUntil(t, 10*time.Second, "alice sees it delivered", func() bool { return stateOf(alice.messages("bob"), "hello bob") == store.MessageDelivered })
	if err := bob.chat().MarkRead(ctx, bob.contact("alice").ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "alice sees it read", func() bool { return stateOf(alice.messages("bob"), "hello bob") == store.MessageRead })
	waitUntil(t, 10*time.Second, "alice sees bob online", func() bool { return alice.sawPresence(bobID, wire.StatusOnline) })

	// Talking while both are online moves the conversation to a direct
	// WebRTC data channel.
	waitUntil(t, 15*time.Second, "a direct link", func() bool { l, ok := alice.chat().Link(bobID); return ok && l.Open })
	before := alice.chat().Stats().Direct
	if _, err := alice.chat().Send(ctx, bobID, "over the data channel"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "delivered directly", func() bool {
		return stateOf(alice.messages("bob"), "over the data channel") == store.MessageDelivered
	})
	if alice.chat().Stats().Direct == before {
		t.Fatal("the message did not go over the direct link")
	}
	if l, _ := alice.chat().Link(bobID); l.Path.Local == "" {
		t.Fatalf("direct link has no path: %+v", l)
	} else {
		t.Logf("direct link: %s (relayed %v)", l.Path, l.Relayed)
	}

	// Bob goes offline; alice writes, then goes offline too.
	bob.stop()
	waitUntil(t, 10*time.Second, "alice sees bob offline", func() bool { return alice.sawPresence(bobID, wire.StatusOffline) })
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.chat().Send(ctx, bobID, text); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "alice's messages handed to bob's mailbox", func() bool {
		ms := alice.messages("bob")
		return stateOf(ms, "one") == store.MessageSent && stateOf(ms, "two") == store.MessageSent && stateOf(ms, "three") == store.MessageSent
	})
	alice.stop()

	// Bob comes back and finds them, each once.
	bob.start()
	waitUntil(t, 10*time.Second, "bob fetched his mail", func() bool {
		ms := bob.messages("alice")
		return stateOf(ms, "one") != "" && stateOf(ms, "two") != "" && stateOf(ms, "three") != ""
	})
	// Alice comes back: her outbox resends, bob drops the duplicates, and
	// the receipts reach her.
	alice.start()
	waitUntil(t, 15*time.Second, "alice sees all delivered", func() bool {
		ms := alice.messages("bob")
		return stateOf(ms, "one") == store.MessageDelivered && stateOf(ms, "two") == store.MessageDelivered && stateOf(ms, "three") == store.MessageDelivered
	})
	time.Sleep(3 * time.Second) // let any resends arrive
	if n := len(bob.messages("alice")); n != 5 {
		t.Fatalf("bob has %d messages, want 5 (each exactly once)", n)
	}

	// Removal works both ways.
	if err := bob.chat().Remove(ctx, bob.contact("alice").ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "alice sees the removal", func() bool {
		c, err := alice.prof.DB.Contact(ctx, bobID)
		return err == nil && c.State == store.ContactRemoved
	})
	if _, err := alice.chat().Send(ctx, bobID, "after removal"); err == nil {
		t.Fatal("a message to a removed contact was taken")
	}
}
