package call

import (
	"errors"

	"github.com/parleynet/parley/rtc"
)

// ErrSecurity is why a call ended whose other end's DTLS certificate was
// not the one it signed: someone on the signaling path may have tried to
// sit in the middle. It is rtc.ErrSecurity, so errors.Is matches either.
// No audio of such a call is played.
var ErrSecurity = rtc.ErrSecurity

// ErrNotContact is returned by Dial for someone who is not an accepted
// contact (or whose key changed and was not accepted yet).
var ErrNotContact = errors.New("call: not an accepted contact")

// ErrInCall is returned by Dial while another call is going on: Parley
// has one call at a time.
var ErrInCall = errors.New("call: already in a call")

// ErrNoCall is returned for a call ID that is not a current call, or a
// call not in a state the operation needs (e.g. Accept of an outgoing
// call).
var ErrNoCall = errors.New("call: no such call")

// ErrClosed is returned after the Manager was closed.
var ErrClosed = errors.New("call: manager closed")

// ErrMalformed is a call letter that does not decode or lacks what its
// kind needs; such letters are dropped.
var ErrMalformed = errors.New("call: malformed letter")

// Why calls ended, in Info.Err of the ended event (nil for a call that
// was answered and hung up).
var (
	// ErrDeclined: the callee declined.
	ErrDeclined = errors.New("call: declined")
	// ErrBusy: the callee was in another call.
	ErrBusy = errors.New("call: busy")
	// ErrNoAnswer: it rang out unanswered (RingTimeout).
	ErrNoAnswer = errors.New("call: no answer")
	// ErrCancelled: the caller hung up before an answer.
	ErrCancelled = errors.New("call: cancelled")
	// ErrVanished: the other end went silent mid-call: no audio and no
	// keepalive for MediaTimeout.
	ErrVanished = errors.New("call: the other side vanished")
	// ErrFailed: the call could not be set up or broke (ICE failed, no
	// connection within ConnectTimeout, signaling failed, no audio
	// device); it wraps the cause.
	ErrFailed = errors.New("call: failed")
)
