package rtc

import (
	"testing"
)

// FuzzHandleSignal feeds an answerer offers and candidates built from
// fuzzed text: whatever comes, HandleSignal returns (an error or nil) and
// never panics, and the session still closes.
func FuzzHandleSignal(f *testing.F) {
	w := newWorld(f, publicPair)
	offer, cands := captureOffer(f, w)
	f.Add(uint8(KindOffer), offer.SDP, cands[0].Candidate)
	f.Add(uint8(KindCandidate), "", cands[0].Candidate)
	f.Add(uint8(KindOffer), "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "candidate:1 1 udp 1 1.2.3.4 1 typ relay raddr 0.0.0.0 rport 0")
	f.Add(uint8(KindAnswer), "m=application 0\r\na=fingerprint:sha-256 00\r\na=ice-ufrag:x\r\n", "candidate: 1 udp 1 ::1 65535 typ srflx raddr")
	f.Fuzz(func(t *testing.T, kind uint8, sdp, candidate string) {
		s, err := NewSession(Config{
			Net:           w.Nets[1],
			SettingEngine: udp4Only,
			Send:          func(Signal) error { return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.HandleSignal(Signal{Session: offer.Session, Kind: Kind(kind), SDP: sdp})
		s.HandleSignal(Signal{Session: offer.Session, Kind: KindCandidate, Candidate: candidate})
		s.HandleSignal(Signal{Session: offer.Session, Kind: KindOffer, SDP: offer.SDP})
		s.HandleSignal(Signal{Session: offer.Session, Kind: KindCandidate, Candidate: candidate, UsernameFragment: sdp})
	})
}
