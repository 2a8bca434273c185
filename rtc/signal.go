package rtc

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// SessionID names one session between two peers; every Signal carries it,
// so a signal meant for another session (an earlier call, a replay) is
// refused.
type SessionID [16]byte

// NewSessionID returns a random SessionID.
func NewSessionID() SessionID {
	var id SessionID
	rand.Read(id[:])
	return id
}

// IsZero reports whether id is the zero SessionID.
func (id SessionID) IsZero() bool { return id == SessionID{} }

// String returns id in hex.
func (id SessionID) String() string { return hex.EncodeToString(id[:]) }

// Kind says what a Signal carries. Values are part of the protocol; never
// reuse one.
type Kind uint8

// Signal kinds.
const (
	KindOffer           Kind = 1 // offerer → answerer: the SDP offer
	KindAnswer          Kind = 2 // answerer → offerer: the SDP answer
	KindCandidate       Kind = 3 // either way: one trickled ICE candidate
	KindEndOfCandidates Kind = 4 // either way: the sender has gathered all its candidates
	KindRestart         Kind = 5 // answerer → offerer: please restart ICE (see RestartICE)
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindOffer:
		return "offer"
	case KindAnswer:
		return "answer"
	case KindCandidate:
		return "candidate"
	case KindEndOfCandidates:
		return "end-of-candidates"
	case KindRestart:
		return "restart"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Limits on what a Signal may carry; larger ones are refused with
// ErrBadSignal. A data-channel SDP is about 600 bytes, a candidate line
// about 100.
const (
	MaxSDP       = 16 << 10
	MaxCandidate = 512
)

// Signal is one signaling message between the two ends of a Session. It is
// a plain struct so that the caller can seal it into an envelope (CBOR, with
// the keys below) and route it however it likes; the Session only produces
// them through Config.Send and consumes them through HandleSignal.
type Signal struct {
	Session SessionID `cbor:"1,keyasint"`
	Kind    Kind      `cbor:"2,keyasint"`
	// SDP is the offer or answer.
	SDP string `cbor:"3,keyasint,omitempty"`
	// Candidate is an ICE candidate line ("candidate:…"), with its media
	// section and the ICE username fragment it belongs to.
	Candidate        string `cbor:"4,keyasint,omitempty"`
	SDPMid           string `cbor:"5,keyasint,omitempty"`
	SDPMLineIndex    uint16 `cbor:"6,keyasint,omitempty"`
	UsernameFragment string `cbor:"7,keyasint,omitempty"`
	// Count is, in end-of-candidates, how many candidates the sender sent,
	// so the receiver knows when it has them all even if signals overtake
	// each other on the way.
	Count uint16 `cbor:"8,keyasint,omitempty"`
	// Generation is the ICE generation the signal belongs to: 0 for the
	// first offer and answer and their candidates, one more with each ICE
	// restart. An offer of a later generation restarts ICE; a candidate of
	// an earlier one is stale and refused; one of a later one waits for its
	// offer or answer.
	Generation uint16 `cbor:"9,keyasint,omitempty"`
}
