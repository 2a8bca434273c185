package call

import (
	"testing"
	"time"

	"github.com/parleynet/parley/rtc"
)

// FuzzHandleLetter feeds a Manager letters of any kind and payload from an
// accepted contact: whatever comes, it neither panics nor stops, and it
// still answers.
func FuzzHandleLetter(f *testing.F) {
	w := newWorld(f, natNone, natNone)
	sb := newSwitchboard()
	a := newUser(f, sb, w, 0, "alice")
	b := newUser(f, sb, w, 1, "bob")
	befriend(f, a, b)
	from := b.contact(a)
	id := NewID()
	for _, l := range []struct {
		kind uint8
		l    Letter
	}{
		{KindInvite, Letter{Call: id, Fingerprint: "sha-256 00", Signal: &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindOffer, SDP: "v=0\r\n"}}},
		{KindSignal, Letter{Call: id, Signal: &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindCandidate, Candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host"}}},
		{KindHangup, Letter{Call: id, Reason: ReasonSecurity}},
		{KindCancel, Letter{Call: id, Reason: 200}},
	} {
		p, _ := encodeLetter(l.l)
		f.Add(l.kind, p)
	}
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		b.m.HandleLetter(from, kind, payload, time.Now())
		if err := b.m.do(func() {}); err != nil {
			t.Fatalf("manager stopped: %v", err)
		}
		for _, c := range b.m.Calls() {
			b.m.Hangup(c.ID)
		}
	})
}
