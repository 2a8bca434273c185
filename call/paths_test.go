package call

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v2/vnet"

	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// TestGlare: alice and bob call each other at the same moment (their
// invites cross on the way). Both ends keep the call with the lower ID,
// whose callee answers it at once: exactly one call results, the same at
// both ends, and they talk. The other call is logged cancelled by the one
// who dialled it, and not at all by the other.
func TestGlare(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				sb, a, b := pairOf(t)
				sb.hold()
				ida, idb := a.dial(b), b.dial(a)
				sb.release()
				win, lose := ida, idb
				caller, callee := a, b
				if bytes.Compare(idb[:], ida[:]) < 0 {
					win, lose = idb, ida
					caller, callee = b, a
				}
				for _, u := range []*user{a, b} {
					u.waitEvent(EventConnected, win, 10*time.Second)
				}
				waitAudio(t, a, win, 20, 5*time.Second)
				waitAudio(t, b, win, 20, 5*time.Second)
				time.Sleep(200 * time.Millisecond)
				for _, u := range []*user{a, b} {
					calls := u.m.Calls()
					if len(calls) != 1 || calls[0].ID != win || calls[0].State != StateActive {
						t.Fatalf("%s's calls: %+v, want just %s, active", u.name, calls, win.short())
					}
					for _, ev := range u.allEvents() {
						if ev.Type == EventIncoming {
							t.Errorf("%s's device rang (%s)", u.name, ev.Call.ID.short())
						}
					}
				}
				if info, _ := callee.m.Call(win); info.Direction != store.Incoming {
					t.Errorf("%s's side of the call is %s", callee.name, info.Direction)
				}
				ev := callee.waitEvent(EventEnded, lose, time.Second)
				if ev.Call.Outcome != store.CallCancelled || !strings.Contains(ev.Call.Reason, "crossed") {
					t.Errorf("%s's own call ended %+v", callee.name, ev.Call)
				}
				checkLog(t, callee, lose, store.Outgoing, caller, store.CallCancelled, false, "crossed")
				if calls, _ := caller.db.RecentCalls(context.Background(), 10); len(calls) != 1 || calls[0].CallID != win {
					t.Errorf("%s's log: %+v, want the one call", caller.name, calls)
				}
				if err := caller.m.Hangup(win); err != nil {
					t.Fatal(err)
				}
				callee.waitEvent(EventEnded, win, 2*time.Second)
				checkLog(t, caller, win, store.Outgoing, callee, store.CallAnswered, true, "hung up")
				checkLog(t, callee, win, store.Incoming, caller, store.CallAnswered, true, "hung up")
			})
		})
	}
}

// TestVanished: in a call, bob disappears without a word: his network
// and his letters are cut. Alice's end hears nothing, tries ICE restarts,
// and ends the call as vanished MediaTimeout (plus a watchdog tick) after
// the last packet; bob's end does the same about her.
func TestVanished(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = 2 * time.Second
		w := newWorld(t, natNone, natNone)
		sb := newSwitchboard()
		opts := func(c *Config) { c.MediaTimeout, c.RestartAfter = timeout, 700*time.Millisecond }
		a := newUser(t, sb, w, 0, "alice", opts)
		b := newUser(t, sb, w, 1, "bob", opts)
		befriend(t, a, b)
		var cut atomic.Bool
		w.WAN.AddChunkFilter(func(c vnet.Chunk) bool {
			return !cut.Load() || !strings.Contains(c.SourceAddr().String()+c.DestinationAddr().String(), w.Public[1]+":")
		})
		id := connect(t, a, b)
		cut.Store(true)
		sb.cutOff(b)
		start := time.Now()
		bound := timeout + watchTick + 500*time.Millisecond
		for _, u := range []*user{a, b} {
			ev := u.waitEvent(EventEnded, id, bound+time.Second)
			took := ev.Call.Ended.Sub(start)
			t.Logf("%s ended the call %v after the cut: %s", u.name, took.Round(time.Millisecond), ev.Call.Reason)
			if !errors.Is(ev.Call.Err, ErrVanished) || ev.Call.Outcome != store.CallFailed {
				t.Errorf("%s: ended %+v, want vanished", u.name, ev.Call)
			}
			if took < timeout-100*time.Millisecond || took > bound {
				t.Errorf("%s: ended %v after the cut, want between %v and %v", u.name, took, timeout, bound)
			}
			interrupted := false
			for _, ev := range u.allEvents() {
				interrupted = interrupted || ev.Type == EventInterrupted
			}
			if u == a && !interrupted {
				t.Errorf("%s: no ICE restart was tried (no interrupted event)", u.name)
			}
		}
		checkLog(t, a, id, store.Outgoing, b, store.CallFailed, true, "nothing heard")
		checkLog(t, b, id, store.Incoming, a, store.CallFailed, true, "nothing heard")
	})
}

// TestNetworkChangeMidCall: the path of a call between two NATs breaks
// (the NATs forget the mapping). The call hears nothing, restarts ICE,
// finds a new path and goes on: interrupted, resumed, audio flowing again,
// never ended.
func TestNetworkChangeMidCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natPortRestricted, natPortRestricted)
		sb := newSwitchboard()
		opts := func(c *Config) { c.MediaTimeout, c.RestartAfter = 20*time.Second, 700*time.Millisecond }
		a := newUser(t, sb, w, 0, "alice", opts)
		b := newUser(t, sb, w, 1, "bob", opts)
		befriend(t, a, b)
		var mu sync.Mutex
		var hole [2]string
		w.WAN.AddChunkFilter(func(c vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			src, dst := c.SourceAddr().String(), c.DestinationAddr().String()
			return !(src == hole[0] && dst == hole[1] || src == hole[1] && dst == hole[0])
		})
		id := connect(t, a, b)
		pa, _ := a.m.Call(id)
		pb, _ := b.m.Call(id)
		mu.Lock()
		hole = [2]string{pa.Path.RemoteAddr, pb.Path.RemoteAddr} // each end's public endpoint as the other sees it
		mu.Unlock()
		start := time.Now()
		a.waitEvent(EventInterrupted, id, 5*time.Second)
		resumed := a.waitEvent(EventResumed, id, 18*time.Second)
		t.Logf("path %v → %v, back %v after the break", pa.Path, resumed.Call.Path, time.Since(start).Round(time.Millisecond))
		if resumed.Call.Path.RemoteAddr == pa.Path.RemoteAddr {
			t.Errorf("the same path %v after the restart", resumed.Call.Path)
		}
		for _, u := range []*user{a, b} {
			waitMoreAudio(t, u, id, len(u.media.sink(id).packets()), 25, 3*time.Second)
			if info, ok := u.m.Call(id); !ok || info.State != StateActive {
				t.Fatalf("%s: call %+v (%v) after the network change", u.name, info, ok)
			}
		}
	})
}

// TestStrangers: only accepted contacts can call. A letter from someone
// who is not one is ignored (no ring, no log), Dial refuses to call one,
// and a contact cannot end somebody else's call.
func TestStrangers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natNone, natNone, natNone)
		sb := newSwitchboard()
		a := newUser(t, sb, w, 0, "alice", func(c *Config) { c.RingTimeout = time.Second })
		b := newUser(t, sb, w, 1, "bob")
		c := newUser(t, sb, w, 2, "carol", func(c *Config) { c.RingTimeout = time.Second })
		befriend(t, a, b)
		// Carol asked alice to be her contact; alice has not accepted. Carol's
		// client calls anyway.
		addContact(t, a, c, store.ContactIncoming)
		addContact(t, c, a, store.ContactAccepted)

		id := c.dial(a)
		if ev := c.waitEvent(EventEnded, id, 5*time.Second); !errors.Is(ev.Call.Err, ErrNoAnswer) {
			t.Errorf("carol's call ended %+v, want no answer", ev.Call)
		}
		if evs := a.allEvents(); len(evs) != 0 {
			t.Errorf("alice saw %v", a.eventTypes())
		}
		if calls, _ := a.db.RecentCalls(context.Background(), 10); len(calls) != 0 {
			t.Errorf("alice logged %+v", calls)
		}
		if _, err := a.m.Dial(context.Background(), a.contact(c).ID); !errors.Is(err, ErrNotContact) {
			t.Errorf("alice dials carol: %v, want ErrNotContact", err)
		}
		if _, err := a.m.Dial(context.Background(), 9999); !errors.Is(err, ErrNotContact) {
			t.Errorf("alice dials contact 9999: %v, want ErrNotContact", err)
		}

		// Alice accepts carol; carol then tries to hang up alice's call with
		// bob, whose ID she learnt somehow.
		ctx := context.Background()
		if err := a.db.SetContactState(ctx, a.contact(c).ID, store.ContactAccepted, time.Now()); err != nil {
			t.Fatal(err)
		}
		ab := connect(t, a, b)
		for _, kind := range []uint8{KindHangup, KindCancel, KindDecline, KindBusy} {
			payload, _ := encodeLetter(Letter{Call: ab, Reason: ReasonSecurity})
			port{sb, c}.Send(ctx, c.contact(a).ID, kind, payload)
		}
		payload, _ := encodeLetter(Letter{Call: ab, Signal: &rtc.Signal{Session: rtc.SessionID(ab), Kind: rtc.KindOffer, SDP: "v=0", Generation: 1}})
		port{sb, c}.Send(ctx, c.contact(a).ID, KindSignal, payload)
		time.Sleep(300 * time.Millisecond)
		if info, ok := a.m.Call(ab); !ok || info.State != StateActive {
			t.Fatalf("alice's call with bob after carol's letters: %+v (%v)", info, ok)
		}
		waitMoreAudio(t, b, ab, len(b.media.sink(ab).packets()), 10, 2*time.Second)

		// A contact whose key changed (not accepted yet) cannot call either.
		if err := a.db.SetPendingKey(ctx, a.contact(b).ID, c.id.PublicKey(), time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.m.Dial(ctx, a.contact(b).ID); !errors.Is(err, ErrNotContact) && !errors.Is(err, ErrInCall) {
			t.Errorf("dialing a contact with a changed key: %v", err)
		}
	})
}

var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:.*$`)

// TestHostileRelay: a supernode on the signaling path rewrites the DTLS
// fingerprint in the SDP of the invite (or the accept) to its own, to sit
// in the middle; it cannot forge the fingerprint field the sender signed
// beside it. The end that gets the rewritten SDP sees that it does not
// match the signed fingerprint, ends the call with ErrSecurity and tells
// the other end, which ends with ErrSecurity too. Both log a failed call
// with the security reason; no audio packet reaches either sink.
func TestHostileRelay(t *testing.T) {
	t.Parallel()
	for _, kind := range []uint8{KindInvite, KindAccept} {
		t.Run(kindName(kind), func(t *testing.T) {
			t.Parallel()
			sb, a, b := pairOf(t)
			evil := "sha-256 " + strings.Repeat("AB:", 31) + "CD"
			var rewritten atomic.Int32
			sb.tap = func(_, _ *user, k uint8, l Letter) Letter {
				if k == kind && l.Signal != nil {
					s := *l.Signal
					s.SDP = fingerprintLine.ReplaceAllString(s.SDP, "a=fingerprint:"+evil)
					l.Signal = &s
					rewritten.Add(1)
				}
				return l
			}
			id := a.dial(b)
			b.waitEvent(EventIncoming, id, 5*time.Second)
			if err := b.m.Accept(id); err != nil {
				t.Fatal(err)
			}
			for _, u := range []*user{a, b} {
				ev := u.waitEvent(EventEnded, id, 5*time.Second)
				if !errors.Is(ev.Call.Err, ErrSecurity) || ev.Call.Outcome != store.CallFailed ||
					!strings.Contains(ev.Call.Reason, "security") {
					t.Errorf("%s: ended %+v, want a security failure", u.name, ev.Call)
				}
				if ev.Call.Received != 0 {
					t.Errorf("%s: %d audio packets received", u.name, ev.Call.Received)
				}
				for _, e := range u.allEvents() {
					if e.Type == EventConnected {
						t.Errorf("%s: the call connected", u.name)
					}
				}
			}
			time.Sleep(300 * time.Millisecond)
			if n := a.media.opened() + b.media.opened(); n != 0 {
				t.Errorf("media opened %d times", n)
			}
			if rewritten.Load() != 1 {
				t.Errorf("%d letters rewritten, want 1", rewritten.Load())
			}
			// Alice never had the accept when the relay rewrote the invite.
			checkLog(t, a, id, store.Outgoing, b, store.CallFailed, kind == KindAccept, "security")
			checkLog(t, b, id, store.Incoming, a, store.CallFailed, true, "security")
		})
	}
}

// TestStaleInvite: an invite that waited in a mailbox longer than the
// ring timeout (the callee was offline) does not ring: it is logged as a
// missed call.
func TestStaleInvite(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		id := NewID()
		payload, _ := encodeLetter(Letter{Call: id, Fingerprint: "sha-256 00",
			Signal: &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindOffer, SDP: "v=0"}})
		sent := time.Now().Add(-time.Hour)
		b.m.HandleLetter(b.contact(a), KindInvite, payload, sent)
		ev := b.waitEvent(EventEnded, id, 2*time.Second)
		if ev.Call.Outcome != store.CallMissed || !strings.Contains(ev.Call.Reason, "offline") {
			t.Fatalf("stale invite: %+v", ev.Call)
		}
		c := checkLog(t, b, id, store.Incoming, a, store.CallMissed, false, "offline")
		if c.Started.Sub(sent).Abs() > time.Second {
			t.Errorf("logged as started at %v, want when it was sent, %v", c.Started, sent)
		}
		// The same invite again (a mailbox replay) is not logged twice nor rung.
		b.m.HandleLetter(b.contact(a), KindInvite, payload, time.Now())
		time.Sleep(100 * time.Millisecond)
		for _, e := range b.allEvents() {
			if e.Type == EventIncoming {
				t.Fatal("a replayed invite rang")
			}
		}
		// Malformed letters are dropped.
		for _, p := range [][]byte{nil, {0xff}, []byte("not cbor at all")} {
			b.m.HandleLetter(b.contact(a), KindInvite, p, time.Now())
		}
		noFP, _ := encodeLetter(Letter{Call: NewID(), Signal: &rtc.Signal{Kind: rtc.KindOffer}})
		b.m.HandleLetter(b.contact(a), KindInvite, noFP, time.Now())
		time.Sleep(100 * time.Millisecond)
		if n := len(b.allEvents()); n != 1 {
			t.Fatalf("events %v after malformed letters", b.eventTypes())
		}
	})
}

// TestNoAudioDevice: the callee's media cannot open (no sound card): the
// call ends as failed at both ends, with the cause.
func TestNoAudioDevice(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		b.media.fail = errors.New("no audio device")
		id := a.dial(b)
		b.waitEvent(EventIncoming, id, 5*time.Second)
		b.m.Accept(id)
		ev := b.waitEvent(EventEnded, id, 10*time.Second)
		if !errors.Is(ev.Call.Err, ErrFailed) || !strings.Contains(ev.Call.Reason, "no audio device") {
			t.Fatalf("callee: %+v", ev.Call)
		}
		if ev := a.waitEvent(EventEnded, id, 5*time.Second); ev.Call.Outcome != store.CallFailed {
			t.Fatalf("caller: %+v", ev.Call)
		}
	})
}

// TestCloseHangsUp: closing a Manager hangs up its call; the other end
// hears it at once.
func TestCloseHangsUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		id := connect(t, a, b)
		a.m.Close()
		if ev := b.waitEvent(EventEnded, id, 2*time.Second); ev.Call.Outcome != store.CallAnswered {
			t.Fatalf("%+v", ev.Call)
		}
		if _, err := a.m.Dial(context.Background(), a.contact(b).ID); !errors.Is(err, ErrClosed) {
			t.Fatalf("Dial after Close: %v", err)
		}
	})
}
