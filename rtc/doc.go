// Package rtc is a WebRTC session between two peers (pion/webrtc v3): a
// data channel and, for calls, an Opus audio track each way, set up
// through signaling the caller carries. In Parley the signals
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
// trickled ICE candidate, end-of-candidates, or an answerer's request for
// an ICE restart, each stamped with the 16-byte session ID and its ICE
// generation (0, then one more per restart). Candidates are sent as pion
// gathers them, never before the offer or answer they belong to;
// candidates that arrive before the remote description are kept (at most
// 64 per generation) and applied with it. HandleSignal refuses, with an
// error and never a panic, a signal of another session, one out of place
// (a second offer, an answer to the answerer, a candidate to an answerer
// that has had no offer and so knows no session), an SDP that does not
// parse, has no data-channel section (or, with audio, no Opus section),
// ICE username or DTLS fingerprint, or whose fingerprint lines disagree, a
// candidate of an earlier ICE generation, and a candidate that does not
// parse, is not an IP literal (no DNS or mDNS look-ups on the other side's
// say-so) or belongs to another ICE username.
//
// Each end's DTLS certificate is made per session; LocalFingerprint is what
// the caller signs inside its envelope. The fingerprint the other end
// signed goes into Config.ExpectRemoteFingerprint (an answerer) or
// ExpectFingerprint (an offerer, before the answer). The session does not
// rely on pion alone, which only compares the certificate with the first
// fingerprint of the remote SDP, and only unless its SettingEngine says
// otherwise: every fingerprint line of a remote SDP must agree and be the
// expected one, a later description (an ICE restart) must keep it, and
// once DTLS is up the certificate it actually presented is hashed and
// compared (PresentedFingerprint). Any mismatch ends the session with
// ErrSecurity, and until the check has passed no open, message or audio
// packet of the other end reaches a callback (see security.go).
//
// # Audio
//
// With Config.Audio the session negotiates one Opus track each way
// (48 kHz, mono, 20 ms, in-band FEC and DTX on, "opus/48000/2" as RFC 7587
// requires), beside the data channel, which stays: it tells when the call
// is through, carries keepalives and the hang-up, and says at once when
// the other end closed. WriteAudio sends one Opus packet as one RTP
// packet; AudioConfig.OnPacket gets the other end's (see audio.go).
//
// # ICE restart
//
// RestartICE gathers new candidates and finds a new pair while DTLS, SCTP
// and SRTP go on: the offerer sends a restart offer, the answerer asks the
// offerer for one. OnInterrupted says when the path was lost and when it
// is back (see restart.go).
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
