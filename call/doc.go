// Package call is Parley's voice calls: the call state machine, its
// signaling over end-to-end sealed letters, the WebRTC audio session
// (rtc with its Opus track), the media loops and the call log
// (see docs/ARCHITECTURE.md). The audio pipeline and the devices
// are in call/audio; Manager reaches them through the Media interface, so
// that this package, and the headless seed, link no audio code.
//
// # Use
//
// A Manager runs the user's calls. Dial calls an accepted contact; the
// contact's Manager reports EventIncoming and rings until Accept, Decline
// or RingTimeout; Hangup ends a call in any state. New registers the call
// letter kinds with Config.Letters (a letters.Service), which hands them to
// HandleLetter and sends the Manager's. Every change is an Event
// to Config.OnEvent; every call is a row of the call log (store.Call).
//
// # Letters
//
// A call's signaling travels as letters of kinds 64 to 71 (the letters
// service hands them over only from accepted contacts whose key has not
// changed;
// the Manager checks that again, and drops letters about a call that is
// not the sender's). Each is signed by its sender and sealed to its
// recipient; its payload is a Letter, CBOR with integer keys:
//
//	1 Call         16-byte call ID (also the rtc session ID)
//	2 Signal       an rtc.Signal: the offer, the answer, a candidate, …
//	3 Fingerprint  the sender's DTLS certificate fingerprint
//	4 Reason       why a cancel or hangup (0 user, 1 rang out, 2 glare,
//	               3 security, 4 failed)
//
//	64 invite   caller → callee   Call, Signal (the offer), Fingerprint
//	65 ringing  callee → caller   Call
//	66 accept   callee → caller   Call, Signal (the answer), Fingerprint
//	67 decline  callee → caller   Call
//	68 busy     callee → caller   Call
//	69 cancel   caller → callee   Call, Reason
//	70 hangup   either way        Call, Reason
//	71 signal   either way        Call, Signal (trickled candidates,
//	                              end-of-candidates, ICE restarts)
//
// The caller makes its session and offer when it dials, and trickles its
// candidates at once; the callee keeps them (at most 128) and makes its
// session only when the user answers, so a callee that does not answer
// never tells the caller its addresses. Letters of a call whose invite has
// not come yet (they may overtake it) are kept a minute. An invite older
// than RingTimeout when it arrives (it waited in a mailbox) does not ring:
// it is logged as a missed call.
//
// # Fingerprints
//
// The Fingerprint field is the sender's word, signed: whoever carried the
// letter could not have changed it. The callee's session is made with it
// as rtc.Config.ExpectRemoteFingerprint, the caller's is given it from
// the accept (rtc.Session.ExpectFingerprint). The session then refuses an
// SDP whose fingerprint is another (a relay that rewrote it to sit in the
// middle) and, once DTLS is up, checks the certificate DTLS actually
// presented; until that check passed nothing of the other end is played
// or shown. A mismatch ends the call at that end with ErrSecurity, and a
// hangup with reason 3 ends it at the other end with ErrSecurity too; both
// log it failed, with the reason.
//
// # States
//
//	outgoing: dialing → ringing → connecting → active → ended
//	incoming:           ringing → connecting → active → ended
//
// Dialing becomes ringing on the callee's ringing letter, and connecting
// on its accept (from dialing too: a lost ringing letter does not matter).
// Connecting becomes active when the session's data channel opens, which
// is after DTLS and the certificate check; only then is Media opened.
// Outcomes, as logged at each end:
//
//	hang-up, either side        answered   at both ends
//	callee declines             declined   at both ends
//	callee in another call      busy       at both ends (the callee's device does not ring)
//	caller hangs up while ringing cancelled at the caller, missed at the callee
//	nobody answers (RingTimeout) missed    at both ends ("no answer" / "rang out")
//	glare: the call that loses  cancelled  at its caller only (its callee never logs it)
//	vanished, ICE failed, no media path, no audio device, security: failed
//
// The callee rings for RingTimeout plus 2 s, so that the caller's cancel
// normally decides, and stops by itself if the cancel is lost.
//
// # Glare
//
// When two contacts call each other at once, each receives the other's
// invite while its own call to the other is not answered yet. Both keep
// the call with the lower ID (bytewise) and drop the other: the one whose
// own call has the higher ID cancels it (reason 2) and answers the other
// at once, without ringing; the one whose call has the lower ID ignores
// the invite. Both sides decide alike from the two IDs, so exactly one
// call results. An invite from the contact with a higher ID than our own
// call to it is ignored whatever the state of ours (it may come late,
// after ours was answered).
//
// # Media and keepalive
//
// Once active, a send loop asks Media's Source for a packet every 20 ms
// and writes it on the session's Opus track; received RTP goes straight to
// the Sink from the session's read loop. The session's data channel
// carries a keepalive every KeepaliveInterval (1 s) and the hang-up. A
// watchdog looks every 250 ms at how long nothing (no audio packet, no
// keepalive) came from the other end: after RestartAfter (3 s) it restarts
// ICE (the network may have changed: a new address, a NAT that lost its
// mapping; the caller, as the offerer, makes the restart offer, the callee
// asks for one) and again at most that often (a restart still checking
// its new pairs is given 5 s before another replaces it), reporting
// EventInterrupted and, when a path works again, EventResumed; after
// MediaTimeout (15 s) it ends the call as vanished (ErrVanished). So a
// peer that vanishes is noticed within MediaTimeout plus 250 ms of its
// last packet, 15.25 s by default; a peer that closes its session is
// noticed at once (DTLS and SCTP say so). Keepalives make silence mean
// absence even with DTX, which sends next to nothing in a pause.
//
// # Concurrency
//
// All call state is owned by one goroutine, fed by the API, the letters,
// the sessions' callbacks and the timers; it never waits on the network.
// Letters go out through a queue per call, in order; sessions close in the
// background; events reach OnEvent in order from a goroutine of their own,
// so OnEvent may call the Manager (to auto-answer).
//
// # Logging
//
// Call lifecycle (dialled, ringing, answered, connected, ended with its
// outcome) at Info, as is anything a contact sent that was refused;
// letters and signals at Debug; failures to log a call in the database at
// Warn.
package call
