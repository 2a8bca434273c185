// Package rtc is a WebRTC data-channel session between two peers (pion/webrtc
// v3), set up through signaling the caller carries. In Parley the signals
// travel inside end-to-end encrypted envelopes routed by supernodes; in the
// tests they go through a function.
//
// # Use
//
// Each side makes a Session with NewSession. The offerer calls Start, which
// creates the data channel and the offer; from then on each side hands the
// signals its Config.Send receives to the other side's HandleSignal. When
// the channel opens, OnOpen runs; Send and OnMessage carry messages; OnClose
// runs once, last, with the reason the session ended.
//
// # Signaling
//
// A Signal is a plain CBOR-taggable struct: the offer, the answer, one
// trickled ICE candidate, or end-of-candidates, each stamped with the
// 16-byte session ID. Candidates are sent as pion gathers them, never
// before the offer or answer they belong to; candidates that arrive before
// the remote description are kept (at most 64 in all) and applied with it.
// HandleSignal refuses, with an error and never a panic, a signal of
// another session, one out of place (a second offer, an answer to the
// answerer, a candidate to an answerer that has had no offer and so knows
// no session), an SDP that does not parse or has no data-channel section,
// ICE username or DTLS fingerprint, and a candidate that does not parse, is
// not an IP literal (no DNS or mDNS look-ups on the other side's say-so) or
// belongs to another ICE username.
//
// Each end's DTLS certificate is made per session; LocalFingerprint is what
// the caller signs inside its envelope and RemoteFingerprint what it checks
// the other end's signature against. Pion then refuses a DTLS peer whose
// certificate does not match the remote SDP, so a supernode that rewrote
// the SDP could not sit in the middle.
//
// # Connectivity
//
// Only the ICE servers in Config are used (a leaf's supernodes, STUN and
// TURN with short-lived credentials from overlay/relay); there is no public
// STUN default and no mDNS. ICE tries host, server-reflexive,
// peer-reflexive and relay candidates; pion's controlling agent waits 2 s
// before it accepts a relay pair, so a direct pair wins whenever one works
// that soon. Pion would mistake the other side's relay for a direct
// peer-reflexive path when the relay's checks overtake its signalled
// candidate, as they do when signals go through supernodes; the session
// keeps such checks away from pion until the candidate is in (see
// peerFilter, and Signal.Count, which tells when all candidates are). On
// pion's vnet the NAT matrix test finds every pair of NAT types connected,
// directly except symmetric with symmetric or with port-restricted cone,
// which take the relay. Path reports the pair in use.
//
// A peer that goes silent is noticed by ICE keepalives (every 2 s):
// disconnected after 5 s, failed 10 s later, so OnClose(ErrConnectionFailed)
// comes about 15 s after the last packet. A peer that closes its session
// makes OnClose(ErrRemoteClosed) run at once (SCTP and DTLS say so). A
// session whose channel is not open within ConnectTimeout (30 s) ends with
// ErrConnectTimeout, which covers an answer that never comes.
//
// # Messages
//
// One ordered, reliable data channel labelled "parley". A message is at
// most MaxMessageSize bytes, 64 KiB less one byte: Send refuses larger ones
// with ErrTooLarge, and the session splits nothing, so a caller that has
// more to say (a file) splits it itself. The limit is one byte under 64 KiB
// because pion's receiving end reads a message into a buffer of
// math.MaxUint16 bytes and closes the channel on anything larger. Send
// refuses with ErrBufferFull once MaxBuffered bytes wait to go out, so a
// peer that stops reading cannot make us buffer without end.
//
// # Logging
//
// Session events (open with its path, ended with a reason, a refused data
// channel) are logged at Info, signaling detail at Debug. Pion's own
// messages are logged one level lower than pion rates them (see
// pionlog.go).
package rtc
