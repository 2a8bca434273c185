package call

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/rtc"
)

// ID names one call on the wire. It is also the ID of the call's WebRTC
// session, so every rtc.Signal of the call carries it too.
type ID [16]byte

// NewID returns a random call ID.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// String returns id in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// short returns the first bytes of id in hex, for logs.
func (id ID) short() string { return hex.EncodeToString(id[:4]) }

// Letter kinds, in the call range 64–95 of the letters package. The
// Manager registers them (letters.FromCallable: only accepted contacts
// with a settled key) and takes them in HandleLetter; a letter's payload
// is a Letter. Values are part of the protocol; never reuse one.
const (
	// KindFirst is the first of the call kinds.
	KindFirst   uint8 = 64
	KindInvite  uint8 = 64 // caller → callee: the call, its offer and the caller's fingerprint
	KindRinging uint8 = 65 // callee → caller: the callee's device rings
	KindAccept  uint8 = 66 // callee → caller: answered; the answer and the callee's fingerprint
	KindDecline uint8 = 67 // callee → caller: declined
	KindBusy    uint8 = 68 // callee → caller: in another call
	KindCancel  uint8 = 69 // caller → callee: stop ringing (Reason says why)
	KindHangup  uint8 = 70 // either way: the call is over (Reason says why)
	KindSignal  uint8 = 71 // either way: a WebRTC signal (candidates, ICE restarts)
	kindLast    uint8 = KindSignal
)

// kindName names a letter kind, for logs.
func kindName(k uint8) string {
	switch k {
	case KindInvite:
		return "invite"
	case KindRinging:
		return "ringing"
	case KindAccept:
		return "accept"
	case KindDecline:
		return "decline"
	case KindBusy:
		return "busy"
	case KindCancel:
		return "cancel"
	case KindHangup:
		return "hangup"
	case KindSignal:
		return "signal"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Reasons a cancel or a hangup gives. Values are part of the protocol.
const (
	ReasonNone     uint8 = 0 // hung up, or cancelled, by the user
	ReasonTimeout  uint8 = 1 // cancel: it rang out unanswered
	ReasonGlare    uint8 = 2 // cancel: it crossed with the callee's own call, which goes on instead
	ReasonSecurity uint8 = 3 // hangup: the other end's DTLS certificate was not the one it signed
	ReasonFailed   uint8 = 4 // hangup: the call broke (no media, ICE failed, no audio device)
)

// Letter is the payload of every call letter, CBOR with integer keys.
// Which fields are set depends on the kind.
type Letter struct {
	// Call is the call's ID; always set.
	Call ID `cbor:"1,keyasint"`
	// Signal is, in an invite, the SDP offer; in an accept, the SDP answer;
	// in a KindSignal letter, one trickled candidate, end-of-candidates, or
	// an ICE restart's offer, answer or request. Its Session is Call.
	Signal *rtc.Signal `cbor:"2,keyasint,omitempty"`
	// Fingerprint is, in an invite and an accept, the fingerprint of the
	// sender's DTLS certificate ("sha-256 AB:CD:…"). The letter is signed
	// by the sender, so this field is the sender's word even if the SDP
	// beside it was tampered with; the receiver checks the SDP and the
	// certificate DTLS presents against it.
	Fingerprint string `cbor:"3,keyasint,omitempty"`
	// Reason is, in a cancel or a hangup, why (Reason*).
	Reason uint8 `cbor:"4,keyasint,omitempty"`
}

// maxLetter bounds a letter's payload: an SDP of rtc.MaxSDP and change.
const maxLetter = rtc.MaxSDP + 1024

// encodeLetter encodes l.
func encodeLetter(l Letter) ([]byte, error) { return wire.Marshal(l) }

// decodeLetter decodes and checks the letter of kind from payload.
func decodeLetter(kind uint8, payload []byte) (Letter, error) {
	var l Letter
	if len(payload) > maxLetter {
		return l, fmt.Errorf("%w: %s of %d bytes", ErrMalformed, kindName(kind), len(payload))
	}
	if err := wire.Unmarshal(payload, &l); err != nil {
		return l, fmt.Errorf("%w: %s: %w", ErrMalformed, kindName(kind), err)
	}
	if l.Call == (ID{}) {
		return l, fmt.Errorf("%w: %s without a call ID", ErrMalformed, kindName(kind))
	}
	if l.Signal != nil && ID(l.Signal.Session) != l.Call {
		return l, fmt.Errorf("%w: %s with a signal of another session", ErrMalformed, kindName(kind))
	}
	need := func(what rtc.Kind) error {
		if l.Signal == nil || l.Signal.Kind != what || l.Signal.Generation != 0 {
			return fmt.Errorf("%w: %s without its %s", ErrMalformed, kindName(kind), what)
		}
		if l.Fingerprint == "" {
			return fmt.Errorf("%w: %s without a fingerprint", ErrMalformed, kindName(kind))
		}
		return nil
	}
	switch kind {
	case KindInvite:
		return l, need(rtc.KindOffer)
	case KindAccept:
		return l, need(rtc.KindAnswer)
	case KindSignal:
		if l.Signal == nil {
			return l, fmt.Errorf("%w: signal letter without a signal", ErrMalformed)
		}
	}
	return l, nil
}

// Messages on the call's data channel, CBOR with integer keys.
const (
	msgPing   uint8 = 1 // keepalive: I am here
	msgHangup uint8 = 2 // the call is over (Reason)
)

// channelMessage is one message on the data channel.
type channelMessage struct {
	Type   uint8 `cbor:"1,keyasint"`
	Reason uint8 `cbor:"2,keyasint,omitempty"`
}
