package call

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/store"
)

// pairOf makes two befriended users, alice and bob, on a public vnet.
func pairOf(t *testing.T, opts ...userOpts) (*switchboard, *user, *user) {
	t.Helper()
	w := newWorld(t, natNone, natNone)
	sb := newSwitchboard()
	a := newUser(t, sb, w, 0, "alice", opts...)
	b := newUser(t, sb, w, 1, "bob", opts...)
	befriend(t, a, b)
	return sb, a, b
}

// connect makes a call from a to b that b answers, and waits until audio
// flows both ways.
func connect(t *testing.T, a, b *user) ID {
	t.Helper()
	id := a.dial(b)
	a.waitEvent(EventDialing, id, time.Second)
	in := b.waitEvent(EventIncoming, id, 5*time.Second)
	if in.Call.Direction != store.Incoming || in.Call.State != StateRinging || in.Call.Username != "alice" && in.Call.Username != a.name {
		t.Fatalf("incoming event %+v", in.Call)
	}
	a.waitEvent(EventRinging, id, 5*time.Second)
	if err := b.m.Accept(id); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	for _, u := range []*user{a, b} {
		u.waitEvent(EventConnecting, id, 5*time.Second)
		ev := u.waitEvent(EventConnected, id, 10*time.Second)
		if ev.Call.State != StateActive || ev.Call.Answered.IsZero() {
			t.Fatalf("%s: connected event %+v", u.name, ev.Call)
		}
	}
	waitAudio(t, a, id, 20, 5*time.Second)
	waitAudio(t, b, id, 20, 5*time.Second)
	return id
}

// checkLog checks u's log entry for call id.
func checkLog(t *testing.T, u *user, id ID, dir store.Direction, peer *user, outcome store.CallOutcome, answered bool, reason string) store.Call {
	t.Helper()
	c := u.logged(id)
	switch {
	case c.Direction != dir:
		t.Errorf("%s: call logged %s, want %s", u.name, c.Direction, dir)
	case c.ContactID != u.contact(peer).ID:
		t.Errorf("%s: call logged with contact %d, want %s's %d", u.name, c.ContactID, peer.name, u.contact(peer).ID)
	case c.Outcome != outcome:
		t.Errorf("%s: call logged %q (%s), want %q", u.name, c.Outcome, c.Reason, outcome)
	case c.Started.IsZero() || c.Ended.IsZero() || c.Ended.Before(c.Started):
		t.Errorf("%s: call logged from %v to %v", u.name, c.Started, c.Ended)
	case answered != !c.Answered.IsZero():
		t.Errorf("%s: call logged answered at %v, want answered %v", u.name, c.Answered, answered)
	case !strings.Contains(c.Reason, reason):
		t.Errorf("%s: call logged with reason %q, want one with %q", u.name, c.Reason, reason)
	}
	return c
}

// TestCallHangup: alice calls bob, his device rings, hers says so, he
// answers, they talk (numbered audio packets both ways), and one of them
// hangs up; both ends log an answered call with its times.
func TestCallHangup(t *testing.T) {
	t.Parallel()
	for _, who := range []string{"caller", "callee"} {
		t.Run(who+" hangs up", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				_, a, b := pairOf(t)
				id := connect(t, a, b)
				if info, ok := a.m.Call(id); !ok || info.Path.Relayed() || info.Sent == 0 || info.Received == 0 {
					t.Fatalf("call info %+v (%v)", info, ok)
				}
				if _, err := a.m.Dial(context.Background(), a.contact(b).ID); !errors.Is(err, ErrInCall) {
					t.Errorf("a second Dial during a call: %v, want ErrInCall", err)
				}
				time.Sleep(200 * time.Millisecond)
				hanger, other := a, b
				if who == "callee" {
					hanger, other = b, a
				}
				start := time.Now()
				if err := hanger.m.Hangup(id); err != nil {
					t.Fatal(err)
				}
				mine := hanger.waitEvent(EventEnded, id, time.Second)
				theirs := other.waitEvent(EventEnded, id, 2*time.Second)
				t.Logf("the other end saw the hang-up after %v: %s", time.Since(start).Round(time.Millisecond), theirs.Call.Reason)
				for _, ev := range []Event{mine, theirs} {
					if ev.Call.Outcome != store.CallAnswered || ev.Call.Err != nil || ev.Call.Duration() < 200*time.Millisecond {
						t.Errorf("ended %+v, want answered, no error, at least 200 ms", ev.Call)
					}
				}
				if !strings.Contains(theirs.Call.Reason, "hung up by "+hanger.name) {
					t.Errorf("reason %q", theirs.Call.Reason)
				}
				checkLog(t, a, id, store.Outgoing, b, store.CallAnswered, true, "hung up")
				checkLog(t, b, id, store.Incoming, a, store.CallAnswered, true, "hung up")
				if calls := a.m.Calls(); len(calls) != 0 {
					t.Errorf("calls after the hang-up: %v", calls)
				}
				if err := a.m.Hangup(id); !errors.Is(err, ErrNoCall) {
					t.Errorf("Hangup of an ended call: %v, want ErrNoCall", err)
				}
				// The media was let go of.
				time.Sleep(300 * time.Millisecond)
				for _, u := range []*user{a, b} {
					s := u.media.sink(id)
					s.mu.Lock()
					closed, late := s.closed, s.late
					s.mu.Unlock()
					if !closed || late > 0 || !u.media.srcs[id].closed.Load() {
						t.Errorf("%s: sink closed %v (%d packets after), source closed %v", u.name, closed, late, u.media.srcs[id].closed.Load())
					}
				}
				// A new call works after the last.
				id2 := connect(t, b, a)
				if id2 == id {
					t.Fatal("the same call ID twice")
				}
			})
		})
	}
}

// TestDecline: bob declines; alice's call ends declined; both log it.
func TestDecline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		id := a.dial(b)
		b.waitEvent(EventIncoming, id, 5*time.Second)
		if err := a.m.Accept(id); !errors.Is(err, ErrNoCall) {
			t.Errorf("the caller accepting its own call: %v, want ErrNoCall", err)
		}
		if err := b.m.Decline(id); err != nil {
			t.Fatal(err)
		}
		ev := a.waitEvent(EventEnded, id, 5*time.Second)
		if !errors.Is(ev.Call.Err, ErrDeclined) || ev.Call.Outcome != store.CallDeclined {
			t.Fatalf("caller's call ended %+v, want declined", ev.Call)
		}
		if ev := b.waitEvent(EventEnded, id, time.Second); ev.Call.Outcome != store.CallDeclined || ev.Call.Err != nil {
			t.Fatalf("callee's call ended %+v", ev.Call)
		}
		checkLog(t, a, id, store.Outgoing, b, store.CallDeclined, false, "declined")
		checkLog(t, b, id, store.Incoming, a, store.CallDeclined, false, "declined")
		if n := a.media.opened() + b.media.opened(); n != 0 {
			t.Errorf("media opened %d times for a declined call", n)
		}
	})
}

// TestBusy: carol calls alice while alice talks to bob: carol hears busy,
// alice logs the call she could not take, and her call with bob goes on.
func TestBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natNone, natNone, natNone)
		sb := newSwitchboard()
		a := newUser(t, sb, w, 0, "alice")
		b := newUser(t, sb, w, 1, "bob")
		c := newUser(t, sb, w, 2, "carol")
		befriend(t, a, b)
		befriend(t, a, c)
		ab := connect(t, a, b)

		ca := c.dial(a)
		ev := c.waitEvent(EventEnded, ca, 5*time.Second)
		if !errors.Is(ev.Call.Err, ErrBusy) || ev.Call.Outcome != store.CallBusy {
			t.Fatalf("carol's call ended %+v, want busy", ev.Call)
		}
		if ev := a.waitEvent(EventEnded, ca, time.Second); ev.Call.Outcome != store.CallBusy || ev.Call.Username != "carol" {
			t.Fatalf("alice's event for carol's call %+v", ev.Call)
		}
		checkLog(t, c, ca, store.Outgoing, a, store.CallBusy, false, "another call")
		checkLog(t, a, ca, store.Incoming, c, store.CallBusy, false, "another call")
		for _, e := range a.allEvents() {
			if e.Type == EventIncoming && e.Call.ID == ca {
				t.Error("alice's device rang for carol during her call")
			}
		}
		// Alice and bob still talk.
		waitMoreAudio(t, b, ab, len(b.media.sink(ab).packets()), 10, 2*time.Second)
		if info, ok := a.m.Call(ab); !ok || info.State != StateActive {
			t.Fatalf("alice's call with bob: %+v (%v)", info, ok)
		}
	})
}

// TestCancel: alice hangs up while bob's device rings: she logs it
// cancelled, he logs a missed call.
func TestCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		id := a.dial(b)
		b.waitEvent(EventIncoming, id, 5*time.Second)
		a.waitEvent(EventRinging, id, 5*time.Second)
		if err := a.m.Hangup(id); err != nil {
			t.Fatal(err)
		}
		if ev := a.waitEvent(EventEnded, id, time.Second); ev.Call.Outcome != store.CallCancelled || ev.Call.Err != nil {
			t.Fatalf("caller's call ended %+v, want cancelled", ev.Call)
		}
		ev := b.waitEvent(EventEnded, id, 5*time.Second)
		if ev.Call.Outcome != store.CallMissed || !errors.Is(ev.Call.Err, ErrCancelled) {
			t.Fatalf("callee's call ended %+v, want missed (cancelled)", ev.Call)
		}
		checkLog(t, a, id, store.Outgoing, b, store.CallCancelled, false, "cancelled")
		checkLog(t, b, id, store.Incoming, a, store.CallMissed, false, "cancelled by the caller")
		if err := b.m.Accept(id); !errors.Is(err, ErrNoCall) {
			t.Errorf("Accept after the cancel: %v, want ErrNoCall", err)
		}
	})
}

// TestRingTimeout: nobody answers. After RingTimeout the caller gives up
// (a missed call, "no answer") and tells the callee, whose device stops
// ringing (a missed call, "rang out").
func TestRingTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ring = 800 * time.Millisecond
		_, a, b := pairOf(t, func(c *Config) { c.RingTimeout = ring })
		start := time.Now()
		id := a.dial(b)
		b.waitEvent(EventIncoming, id, 5*time.Second)
		ev := a.waitEvent(EventEnded, id, 5*time.Second)
		took := time.Since(start)
		if took < ring || took > ring+time.Second {
			t.Errorf("gave up after %v, want about %v", took, ring)
		}
		if !errors.Is(ev.Call.Err, ErrNoAnswer) || ev.Call.Outcome != store.CallMissed {
			t.Fatalf("caller's call ended %+v, want missed, no answer", ev.Call)
		}
		ev = b.waitEvent(EventEnded, id, 2*time.Second)
		if !errors.Is(ev.Call.Err, ErrNoAnswer) || ev.Call.Outcome != store.CallMissed {
			t.Fatalf("callee's call ended %+v, want missed", ev.Call)
		}
		checkLog(t, a, id, store.Outgoing, b, store.CallMissed, false, "no answer")
		checkLog(t, b, id, store.Incoming, a, store.CallMissed, false, "rang out")
	})
}

// TestCalleeRingsOutAlone: the caller's cancel is lost; the callee stops
// ringing by itself, RingTimeout and a grace after.
func TestCalleeRingsOutAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ring = 500 * time.Millisecond
		sb, a, b := pairOf(t, func(c *Config) { c.RingTimeout = ring })
		id := a.dial(b)
		b.waitEvent(EventIncoming, id, 5*time.Second)
		sb.cutOff(a)
		start := time.Now()
		ev := b.waitEvent(EventEnded, id, ring+ringGrace+2*time.Second)
		if took := time.Since(start); took > ring+ringGrace+500*time.Millisecond {
			t.Errorf("rang for %v, want at most %v", took, ring+ringGrace)
		}
		if ev.Call.Outcome != store.CallMissed || ev.Call.Reason != "rang out" {
			t.Fatalf("callee's call ended %+v", ev.Call)
		}
	})
}

// TestNoGoroutinesLeft makes a call, hangs up and closes both Managers:
// no goroutine of theirs, their sessions', pion's or the vnet's is left.
// It is not parallel: it counts the process's goroutines.
func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("call", func(t *testing.T) {
		_, a, b := pairOf(t)
		id := connect(t, a, b)
		if err := b.m.Hangup(id); err != nil {
			t.Fatal(err)
		}
		a.waitEvent(EventEnded, id, 2*time.Second)
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDialWithMedia: a call dialled WithMedia sends and hears through that
// media, not the Manager's; the next call is back on the Manager's.
func TestDialWithMedia(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		own := newFakeMedia()
		id, err := a.m.Dial(context.Background(), a.contact(b).ID, WithMedia(own))
		if err != nil {
			t.Fatal(err)
		}
		b.waitEvent(EventIncoming, id, 5*time.Second)
		if err := b.m.Accept(id); err != nil {
			t.Fatal(err)
		}
		a.waitEvent(EventConnected, id, 10*time.Second)
		deadline := time.Now().Add(5 * time.Second)
		for own.opened() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if own.opened() != 1 || a.media.opened() != 0 {
			t.Fatalf("call's own media opened %d times, the manager's %d: want 1 and 0", own.opened(), a.media.opened())
		}
		waitAudio(t, b, id, 20, 5*time.Second) // b hears own's packets
		a.m.Hangup(id)
		b.waitEvent(EventEnded, id, 5*time.Second)
		id2 := connect(t, a, b)
		if own.opened() != 1 || a.media.opened() != 1 {
			t.Fatalf("after a plain call: own media opened %d, the manager's %d: want 1 and 1", own.opened(), a.media.opened())
		}
		a.m.Hangup(id2)
	})
}
