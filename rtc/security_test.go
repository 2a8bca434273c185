package rtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
)

// otherFingerprint returns the fingerprint of a fresh certificate: the one
// a hostile relay sitting in the middle would put in the SDP.
func otherFingerprint(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	fps, err := cert.GetFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	return normalizeFingerprint(fps[0].Algorithm + " " + fps[0].Value)
}

var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:.*$`)

// rewriteFingerprint is a relay that puts fp into every offer or answer
// (restarts included) of kind.
func rewriteFingerprint(kind Kind, fp string) func(Signal) Signal {
	return func(s Signal) Signal {
		if s.Kind == kind {
			s.SDP = fingerprintLine.ReplaceAllString(s.SDP, "a=fingerprint:"+fp)
		}
		return s
	}
}

// sendAudio writes numbered packets on s until it ends or stop closes.
func sendAudio(s *Session, stop <-chan struct{}) {
	tick := time.NewTicker(FrameDuration)
	defer tick.Stop()
	for i := uint32(0); ; i++ {
		select {
		case <-tick.C:
		case <-stop:
			return
		case <-s.Done():
			return
		}
		s.WriteAudio(numbered(i), FrameDuration)
	}
}

// TestRewrittenFingerprint: a relay on the signaling path replaces the
// DTLS fingerprint in the SDP with its own, but cannot forge the
// fingerprint the sender signed (Config.ExpectRemoteFingerprint or
// ExpectFingerprint). The end that gets the rewritten SDP ends with
// ErrSecurity before pion ever sees it; nothing opens and no audio packet
// arrives at either end.
func TestRewrittenFingerprint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kind Kind // the description the relay rewrites
	}{{"offer", KindOffer}, {"answer", KindAnswer}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, publicPair)
			sinkA, sinkB := newAudioSink(), newAudioSink()
			fake := otherFingerprint(t)
			p := newPairWith(t, w, audioTweak(sinkA, sinkB), func(p *pair) {
				// Each end expects the fingerprint the other signed.
				if err := p.b.ExpectFingerprint(p.a.LocalFingerprint()); err != nil {
					t.Fatal(err)
				}
				if err := p.a.ExpectFingerprint(p.b.LocalFingerprint()); err != nil {
					t.Fatal(err)
				}
				if tc.kind == KindOffer {
					p.ab.rewrite = rewriteFingerprint(KindOffer, fake)
				} else {
					p.ba.rewrite = rewriteFingerprint(KindAnswer, fake)
				}
			})
			stop := make(chan struct{})
			defer close(stop)
			go sendAudio(p.a.Session, stop)
			go sendAudio(p.b.Session, stop)

			victim, other, errs := p.b, p.a, p.ab
			if tc.kind == KindAnswer {
				victim, other, errs = p.a, p.b, p.ba
			}
			reason, _ := waitClosed(t, victim, 5*time.Second)
			if !errors.Is(reason, ErrSecurity) {
				t.Fatalf("closed with %v, want ErrSecurity", reason)
			}
			if e := errs.errors(); len(e) == 0 || !errors.Is(e[0], ErrSecurity) {
				t.Errorf("HandleSignal of the rewritten %s returned %v, want ErrSecurity", tc.kind, e)
			}
			other.Close()
			<-other.Done()
			<-victim.Done()
			if n := len(sinkA.packets()) + len(sinkB.packets()); n > 0 {
				t.Errorf("%d audio packets arrived", n)
			}
			for _, pe := range []*peer{p.a, p.b} {
				select {
				case <-pe.opened:
					t.Error("a session opened")
				default:
				}
			}
		})
	}
}

// TestPresentedCertificateChecked does not rely on the SDP check nor on
// pion's: the relay rewrites the offer's fingerprint to one the answerer
// was also told to expect (as if the signed field were forged too), so
// the SDP passes, and pion's own fingerprint check is switched off. The
// certificate DTLS actually presents is still the offerer's real one, and
// the session's own check of it ends the answerer with ErrSecurity before
// any message or audio packet gets through. With pion's check on, pion
// refuses the handshake first, and that too is reported as ErrSecurity.
func TestPresentedCertificateChecked(t *testing.T) {
	t.Parallel()
	for _, pionChecks := range []bool{false, true} {
		name := "pion check off"
		if pionChecks {
			name = "pion check on"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, publicPair)
			sinkA, sinkB := newAudioSink(), newAudioSink()
			fake := otherFingerprint(t)
			var msgsB atomic.Int32
			p := newPairWith(t, w, func(c *Config) {
				audioTweak(sinkA, sinkB)(c)
				if !c.Offerer {
					c.ExpectRemoteFingerprint = fake
					c.SettingEngine = func(se *webrtc.SettingEngine) {
						udp4Only(se)
						se.DisableCertificateFingerprintVerification(!pionChecks)
					}
					on := c.OnMessage
					c.OnMessage = func(b []byte) { msgsB.Add(1); on(b) }
				}
			}, func(p *pair) {
				p.ab.rewrite = rewriteFingerprint(KindOffer, fake)
			})
			stop := make(chan struct{})
			defer close(stop)
			go sendAudio(p.a.Session, stop)
			go func() {
				// The offerer talks as soon as its channel opens.
				select {
				case <-p.a.opened:
					p.a.Send([]byte("secret"))
				case <-stop:
				}
			}()

			reason, _ := waitClosed(t, p.b, 10*time.Second)
			if !errors.Is(reason, ErrSecurity) {
				t.Fatalf("answerer closed with %v, want ErrSecurity", reason)
			}
			if !strings.Contains(reason.Error(), p.a.LocalFingerprint()) {
				t.Errorf("reason %q does not name the certificate presented, %s", reason, p.a.LocalFingerprint())
			}
			if got := p.b.PresentedFingerprint(); got != p.a.LocalFingerprint() {
				t.Errorf("PresentedFingerprint %q, want the offerer's real %q", got, p.a.LocalFingerprint())
			}
			if p.b.Verified() {
				t.Error("Verified() after a mismatch")
			}
			time.Sleep(200 * time.Millisecond)
			<-p.b.Done()
			if n := len(sinkB.packets()); n > 0 {
				t.Errorf("%d audio packets reached the answerer", n)
			}
			if n := msgsB.Load(); n > 0 {
				t.Errorf("%d messages reached the answerer", n)
			}
			select {
			case <-p.b.opened:
				t.Error("the answerer opened")
			default:
			}
		})
	}
}

// TestExpectFingerprint: the right fingerprint lets a session through and
// is what DTLS presented; a malformed one is refused; a second, different
// one ends the session.
func TestExpectFingerprint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, publicPair)
	p := newPairWith(t, w, nil, func(p *pair) {
		if err := p.a.ExpectFingerprint(strings.ToLower(p.b.LocalFingerprint())); err != nil {
			t.Fatalf("ExpectFingerprint in lower case: %v", err)
		}
		if err := p.a.ExpectFingerprint("sha-256 nonsense"); !errors.Is(err, ErrConfig) {
			t.Errorf("ExpectFingerprint of a malformed one: %v, want ErrConfig", err)
		}
	})
	waitOpen(t, p.a, 10*time.Second)
	waitOpen(t, p.b, 10*time.Second)
	if got := p.a.PresentedFingerprint(); got != p.b.LocalFingerprint() || !p.a.Verified() {
		t.Fatalf("presented %q (verified %v), want %q", got, p.a.Verified(), p.b.LocalFingerprint())
	}
	if got := p.b.PresentedFingerprint(); got != p.a.LocalFingerprint() {
		t.Fatalf("answerer: presented %q, want %q", got, p.a.LocalFingerprint())
	}
	if err := p.a.ExpectFingerprint(otherFingerprint(t)); !errors.Is(err, ErrSecurity) {
		t.Fatalf("a second, different expected fingerprint: %v, want ErrSecurity", err)
	}
	if reason, _ := waitClosed(t, p.a, 5*time.Second); !errors.Is(reason, ErrSecurity) {
		t.Fatalf("closed with %v, want ErrSecurity", reason)
	}
	if _, err := NewSession(Config{Send: func(Signal) error { return nil }, ExpectRemoteFingerprint: "md5 00:11"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewSession with an MD5 fingerprint: %v, want ErrConfig", err)
	}
}

// TestTwoFingerprints: an SDP whose fingerprint lines disagree is refused,
// whatever the first says: pion would check only the first.
func TestTwoFingerprints(t *testing.T) {
	t.Parallel()
	w := newWorld(t, publicPair)
	offer, _ := captureOffer(t, w)
	s, err := NewSession(Config{Net: w.Nets[1], SettingEngine: udp4Only, Send: func(Signal) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	two := offer
	two.SDP = strings.Replace(offer.SDP, "a=setup:", "a=fingerprint:"+otherFingerprint(t)+"\r\na=setup:", 1)
	if two.SDP == offer.SDP {
		t.Fatal("no a=setup line to put the second fingerprint before")
	}
	if err := s.HandleSignal(two); !errors.Is(err, ErrBadSignal) {
		t.Fatalf("offer with two fingerprints: %v, want ErrBadSignal", err)
	}
	if err := s.HandleSignal(offer); err != nil {
		t.Fatalf("the real offer after: %v", err)
	}
}
