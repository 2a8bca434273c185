package rtc

import "errors"

// ErrTooLarge is returned by Send for a message over MaxMessageSize. The
// session does not split messages: a caller with more to say splits it.
var ErrTooLarge = errors.New("rtc: message too large for a data channel")

// ErrNotOpen is returned by Send before the data channel is open.
var ErrNotOpen = errors.New("rtc: data channel not open")

// ErrBufferFull is returned by Send when MaxBuffered bytes are already
// waiting to go out: the other side is not keeping up.
var ErrBufferFull = errors.New("rtc: send buffer full")

// ErrClosed is returned by operations on a closed session, and is the
// reason given to OnClose when the session was closed locally.
var ErrClosed = errors.New("rtc: session closed")

// ErrRemoteClosed is the reason given to OnClose when the other side closed
// the data channel or the connection.
var ErrRemoteClosed = errors.New("rtc: closed by the remote peer")

// ErrConnectionFailed is the reason given to OnClose when ICE gave up: no
// candidate pair worked, or the selected one went silent for longer than
// the ICE disconnected and failed timeouts together.
var ErrConnectionFailed = errors.New("rtc: connection failed")

// ErrConnectTimeout is the reason given to OnClose when the data channel
// was not open within Config.ConnectTimeout, e.g. because the other side
// never answered.
var ErrConnectTimeout = errors.New("rtc: connect timed out")

// ErrSignaling is the reason given to OnClose when Config.Send failed to
// send the offer or the answer.
var ErrSignaling = errors.New("rtc: signaling failed")

// ErrBadSignal is returned by HandleSignal for a signal that is malformed,
// over the size limits, or whose SDP or candidate pion refuses.
var ErrBadSignal = errors.New("rtc: bad signal")

// ErrWrongSession is returned by HandleSignal for a signal of another
// session.
var ErrWrongSession = errors.New("rtc: signal for another session")

// ErrUnexpectedSignal is returned by HandleSignal for a signal that is well
// formed but wrong at this point: an offer to the offerer, an answer to the
// answerer, a second offer or answer, an answer before Start, or a
// candidate before the offer on an answerer that does not know its
// session yet.
var ErrUnexpectedSignal = errors.New("rtc: unexpected signal")

// ErrConfig is returned by NewSession for a configuration it cannot run.
var ErrConfig = errors.New("rtc: bad configuration")

// ErrSecurity is the reason given to OnClose, and the error HandleSignal
// returns, when the other end's DTLS certificate is not the one expected:
// the fingerprint in its SDP differs from Config.ExpectRemoteFingerprint
// (or from the one it had before), or the certificate DTLS presented does
// not match. Someone on the signaling path may be trying to sit in the
// middle; the session ends at once and no message or audio packet of the
// other end reaches the callbacks.
var ErrSecurity = errors.New("rtc: DTLS certificate does not match the expected fingerprint")

// ErrNoAudio is returned by WriteAudio on a session made without
// Config.Audio.
var ErrNoAudio = errors.New("rtc: session has no audio track")
