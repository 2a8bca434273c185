package call

import (
	"errors"
	"testing"

	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/rtc"
)

// TestLetterCBOR: a letter is a CBOR map with integer keys 1 to 4, empty
// fields left out, and decodes to what was encoded.
func TestLetterCBOR(t *testing.T) {
	id := NewID()
	in := Letter{
		Call:        id,
		Signal:      &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindOffer, SDP: "v=0\r\n"},
		Fingerprint: "sha-256 AB:CD",
	}
	b, err := encodeLetter(in)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[int]any
	if err := wire.Unmarshal(b, &keys); err != nil {
		t.Fatalf("not a map with integer keys: %v", err)
	}
	if len(keys) != 3 || keys[1] == nil || keys[2] == nil || keys[3] == nil {
		t.Fatalf("keys %v, want 1, 2 and 3", keys)
	}
	out, err := decodeLetter(KindInvite, b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Call != in.Call || out.Fingerprint != in.Fingerprint || *out.Signal != *in.Signal {
		t.Fatalf("round trip %+v, want %+v", out, in)
	}
	hang, _ := encodeLetter(Letter{Call: id, Reason: ReasonSecurity})
	if l, err := decodeLetter(KindHangup, hang); err != nil || l.Reason != ReasonSecurity {
		t.Fatalf("hangup: %+v, %v", l, err)
	}
}

// TestDecodeLetterRefuses letters that lack what their kind needs.
func TestDecodeLetterRefuses(t *testing.T) {
	id := NewID()
	offer := &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindOffer, SDP: "v=0"}
	other := &rtc.Signal{Session: rtc.SessionID(NewID()), Kind: rtc.KindCandidate}
	restart := &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindOffer, SDP: "v=0", Generation: 2}
	for _, tc := range []struct {
		name string
		kind uint8
		l    Letter
	}{
		{"no call ID", KindHangup, Letter{}},
		{"invite without offer", KindInvite, Letter{Call: id, Fingerprint: "sha-256 00"}},
		{"invite without fingerprint", KindInvite, Letter{Call: id, Signal: offer}},
		{"invite with an answer", KindInvite, Letter{Call: id, Signal: &rtc.Signal{Session: rtc.SessionID(id), Kind: rtc.KindAnswer}, Fingerprint: "x"}},
		{"invite with a restart offer", KindInvite, Letter{Call: id, Signal: restart, Fingerprint: "x"}},
		{"accept with an offer", KindAccept, Letter{Call: id, Signal: offer, Fingerprint: "x"}},
		{"signal of another session", KindSignal, Letter{Call: id, Signal: other}},
		{"signal letter without a signal", KindSignal, Letter{Call: id}},
	} {
		b, err := encodeLetter(tc.l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeLetter(tc.kind, b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
	if _, err := decodeLetter(KindInvite, make([]byte, maxLetter+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge letter: %v", err)
	}
}
