package rtc

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"github.com/pion/webrtc/v3"
)

// The DTLS certificate check. Pion checks the certificate the DTLS peer
// presents against the fingerprint in the remote SDP, and only if its
// SettingEngine does not switch that off. A session checks more, itself:
//
//   - every fingerprint line of a remote SDP must give one fingerprint,
//     and it must be the expected one (Config.ExpectRemoteFingerprint or
//     ExpectFingerprint, which the caller takes from signaling the other
//     end signed), else the session ends with ErrSecurity before pion sees
//     the SDP;
//   - a later description (an ICE restart) must keep that fingerprint;
//   - once DTLS is up, the certificate it actually presented is hashed and
//     compared with the expected fingerprint; until that check passed no
//     message, no open and no audio packet of the other end reaches a
//     callback, and WriteAudio sends nothing. Pion reports DTLS connected
//     (where the check runs) before it starts SRTP and SCTP, so nothing
//     slips through before it.

// ExpectFingerprint sets the fingerprint the other end's DTLS certificate
// must have, as Config.ExpectRemoteFingerprint does. An offerer, which
// learns it with the answer, calls it before it hands the answer to
// HandleSignal. It returns an error wrapping ErrConfig for a malformed
// fingerprint; one wrapping ErrSecurity, and ends the session, if another
// fingerprint was expected already or the other end's SDP or certificate
// has another.
func (s *Session) ExpectFingerprint(fp string) error {
	want := normalizeFingerprint(fp)
	if !fingerprintHashOK(want) {
		return fmt.Errorf("%w: expected fingerprint %q", ErrConfig, fp)
	}
	s.mu.Lock()
	prev, remote, presented := s.expectFP, s.remoteFP, s.presentedFP
	if prev == "" {
		s.expectFP = want
	}
	s.mu.Unlock()
	var err error
	switch {
	case prev != "" && prev != want:
		err = fmt.Errorf("%w: expected %s, now told %s", ErrSecurity, prev, want)
	case remote != "" && remote != want:
		err = fmt.Errorf("%w: the remote SDP's DTLS fingerprint is %s, not %s", ErrSecurity, remote, want)
	case presented != "" && presented != want:
		err = fmt.Errorf("%w: the DTLS peer presented %s, not %s", ErrSecurity, presented, want)
	}
	if err != nil {
		s.end(err)
	}
	return err
}

// PresentedFingerprint returns the fingerprint of the certificate the
// other end's DTLS actually presented, in the form of LocalFingerprint, or
// "" before DTLS is up.
func (s *Session) PresentedFingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presentedFP
}

// Verified reports whether DTLS is up and the certificate it presented
// matched the expected fingerprint.
func (s *Session) Verified() bool { return s.verified.Load() }

// onDTLSState is the DTLS transport's state handler. Pion calls it with
// DTLSTransportStateConnected after the handshake, holding the transport's
// lock, before it starts SRTP and SCTP; the check runs as soon as the lock
// is free, and until it has passed everything of the other end waits
// (awaitVerified).
func (s *Session) onDTLSState(t *webrtc.DTLSTransport, st webrtc.DTLSTransportState) {
	if st == webrtc.DTLSTransportStateConnected {
		go s.verifyPresented(t)
	}
}

// verifyPresented checks the certificate DTLS presented against the
// expected fingerprint, and either lets the other end through or ends the
// session with ErrSecurity.
func (s *Session) verifyPresented(t *webrtc.DTLSTransport) {
	if err := s.checkPresented(t); err != nil {
		s.end(err)
		return
	}
	s.log.Debug("rtc: DTLS certificate verified", "fingerprint", s.PresentedFingerprint())
	if s.verified.CompareAndSwap(false, true) {
		close(s.verifiedCh)
	}
}

// checkPresented returns an error wrapping ErrSecurity unless the
// certificate DTLS presented has the expected fingerprint.
func (s *Session) checkPresented(t *webrtc.DTLSTransport) error {
	cert := t.GetRemoteCertificate()
	if len(cert) == 0 {
		return fmt.Errorf("%w: DTLS peer presented no certificate", ErrSecurity)
	}
	s.mu.Lock()
	want := s.expectFP
	if want == "" {
		want = s.remoteFP
	}
	s.mu.Unlock()
	got, err := certFingerprint(cert, want)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSecurity, err)
	}
	s.mu.Lock()
	s.presentedFP = got
	s.mu.Unlock()
	if got != want {
		return fmt.Errorf("%w: the DTLS peer presented %s, not %s", ErrSecurity, got, want)
	}
	return nil
}

// failReason is why a failed connection failed: ErrSecurity if DTLS got
// as far as a certificate and it was the wrong one (pion's own check
// refused it), else ErrConnectionFailed.
func (s *Session) failReason() error {
	t := s.pc.SCTP().Transport()
	if len(t.GetRemoteCertificate()) > 0 {
		if err := s.checkPresented(t); err != nil {
			return err
		}
	}
	return ErrConnectionFailed
}

// awaitVerified waits until the other end's certificate has been checked
// and reports whether it passed; false once the session has ended.
func (s *Session) awaitVerified() bool {
	select {
	case <-s.verifiedCh:
		return !s.isEnded()
	case <-s.ended:
		return false
	}
}

// fingerprintHash returns the hash of a fingerprint's algorithm.
func fingerprintHash(fp string) (hash.Hash, bool) {
	alg, _, _ := strings.Cut(fp, " ")
	switch alg {
	case "sha-256":
		return sha256.New(), true
	case "sha-384":
		return sha512.New384(), true
	case "sha-512":
		return sha512.New(), true
	}
	return nil, false
}

// fingerprintHashOK reports whether fp is a normalized fingerprint with an
// algorithm certFingerprint knows and a value of its length.
func fingerprintHashOK(fp string) bool {
	h, ok := fingerprintHash(fp)
	if !ok {
		return false
	}
	_, v, _ := strings.Cut(fp, " ")
	return len(v) == 3*h.Size()-1
}

// certFingerprint returns the fingerprint of the DER certificate cert with
// the algorithm of like, in the normalized form.
func certFingerprint(cert []byte, like string) (string, error) {
	h, ok := fingerprintHash(like)
	if !ok {
		return "", fmt.Errorf("no known hash for fingerprint %q", like)
	}
	h.Write(cert)
	sum := strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	var b strings.Builder
	alg, _, _ := strings.Cut(like, " ")
	b.WriteString(alg + " ")
	for i := 0; i < len(sum); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(sum[i : i+2])
	}
	return b.String(), nil
}
