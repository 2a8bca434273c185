package rtc

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v3"
)

// ICE restart. When the network under a session changes (a new address, a
// NAT that forgot its mapping), the selected pair dies, and ICE would give
// up after its timeouts. An ICE restart gathers new candidates and checks
// new pairs while DTLS, SCTP and SRTP go on over whatever pair wins: the
// offerer makes a new offer with new ICE credentials (generation n+1), the
// answerer answers it, and both trickle their new candidates stamped with
// the new generation. A candidate of an earlier generation is stale and
// refused; one of a later generation waits for its offer or answer (signals
// may overtake each other). The answerer cannot make an offer, so its
// RestartICE sends a KindRestart signal asking the offerer to restart.
//
// Pion drops the selected pair the moment it restarts, so media pauses
// until a new pair is checked, typically a few hundred milliseconds on a
// direct path, and up to the 2 s pion waits before it accepts a relay. So
// a restart that is answered and checking its pairs is not replaced by
// another (the offerer's own, or one the answerer asks for) until it
// connects or restartPatience has passed.

// restartRetry is how long an offerer waits for the answer to an ICE
// restart before a request from the answerer makes it restart again.
const restartRetry = 5 * time.Second

// RestartICE restarts ICE: an offerer sends a restart offer, an answerer
// asks the offerer for one (KindRestart). It returns ErrNotOpen before the
// first offer and answer are through, and ErrClosed after the end. A
// restart does not end the session; if no new pair works, ICE fails as it
// would have (ErrConnectionFailed, within DisconnectedTimeout +
// FailedTimeout of the restart).
func (s *Session) RestartICE() error {
	if !s.cfg.Offerer {
		if s.isEnded() {
			return ErrClosed
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.remoteSet || !s.descQueued {
			return ErrNotOpen
		}
		s.log.Debug("rtc: asking for an ICE restart", "generation", s.gen)
		s.pushOut(Signal{Kind: KindRestart})
		return nil
	}
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	return s.restart()
}

// restartPatience is how long an ICE restart is given, unanswered or
// answered and checking its pairs, before another may replace it.
const restartPatience = 5 * time.Second

// restart makes an ICE restart offer. Call with sigMu held.
func (s *Session) restart() error {
	if s.isEnded() {
		return ErrClosed
	}
	s.mu.Lock()
	if !s.remoteSet {
		s.mu.Unlock()
		return ErrNotOpen
	}
	if s.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// A restart offer is out and not yet answered: both ends asked at
		// once (our own watchdog and the answerer's request). That one
		// serves; a second offer now is not allowed. One whose answer was
		// lost is rolled back after a while and made anew.
		if time.Since(s.restartAt) < restartPatience {
			s.mu.Unlock()
			s.log.Debug("rtc: ICE restart already under way", "generation", s.gen)
			return nil
		}
		s.mu.Unlock()
		if err := s.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			return fmt.Errorf("rtc: rolling back an unanswered restart: %w", err)
		}
		s.mu.Lock()
	}
	if !s.checkingAt.IsZero() && time.Since(s.checkingAt) < restartPatience {
		// The last restart is answered and its pairs are being checked:
		// a new one would throw them away (pion drops every pair when it
		// restarts), and on a slow path restarts would follow each other
		// with none ever connecting.
		s.mu.Unlock()
		s.log.Debug("rtc: ICE restart already checking", "generation", s.gen)
		return nil
	}
	prev := s.gen
	s.gen++
	s.restartAt = time.Now()
	s.checkingAt = s.restartAt
	s.descQueued, s.sentCands = false, 0
	s.newRemoteGeneration()
	gen := s.gen
	s.mu.Unlock()
	s.log.Info("rtc: ICE restart", "generation", gen)

	offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err == nil {
		err = s.pc.SetLocalDescription(offer)
	}
	if err != nil {
		s.mu.Lock()
		s.gen, s.restartAt, s.checkingAt = prev, time.Time{}, time.Time{}
		s.flushPendingOut()
		s.mu.Unlock()
		return fmt.Errorf("rtc: ICE restart offer: %w", err)
	}
	s.queueDescription(KindOffer, offer.SDP)
	return nil
}

// handleRestartRequest handles a KindRestart from the answerer: it
// restarts ICE unless it already has since the answerer asked (the request
// is of an earlier generation), and the restart is not overdue.
func (s *Session) handleRestartRequest(sig Signal) error {
	if !s.cfg.Offerer {
		return fmt.Errorf("%w: restart request to the answerer", ErrUnexpectedSignal)
	}
	s.mu.Lock()
	gen, at := s.gen, s.restartAt
	s.mu.Unlock()
	switch {
	case sig.Generation > gen:
		return fmt.Errorf("%w: restart request of ICE generation %d, now %d", ErrBadSignal, sig.Generation, gen)
	case sig.Generation < gen && (at.IsZero() || time.Since(at) < restartRetry):
		return nil // restarted already, or doing so
	}
	return s.restart()
}
