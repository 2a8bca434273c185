package rtc

import (
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/stun"
	"github.com/pion/webrtc/v3"
)

func TestPeerFilter(t *testing.T) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	resp := stun.MustBuild(stun.TransactionID, stun.BindingSuccess).Raw
	f := newPeerFilter()
	f.learn(netip.MustParseAddrPort("1.2.3.20:5000"), ServerReflexive)
	f.learn(netip.MustParseAddrPort("5.6.7.8:6000"), Relay)
	from := func(s string) net.Addr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tc := range []struct {
		from string
		b    []byte
		want bool
	}{
		{"1.2.3.20:5000", req, true},  // a signalled candidate
		{"1.2.3.20:49999", req, true}, // another port of a signalled NAT: peer-reflexive
		{"5.6.7.8:6000", req, true},   // a signalled relay
		{"5.6.7.8:6001", req, false},  // another port on the relay's server: not yet signalled
		{"9.9.9.9:1", req, false},     // unknown
		{"9.9.9.9:1", resp, true},     // only requests are filtered
		{"9.9.9.9:1", []byte("DTLS data"), true},
		{"[::ffff:1.2.3.20]:7", req, true},
	} {
		if got := f.allow(from(tc.from), tc.b); got != tc.want {
			t.Errorf("allow(%s, %d bytes) = %v, want %v", tc.from, len(tc.b), got, tc.want)
		}
	}
	if got := f.drops.Load(); got != 2 {
		t.Errorf("%d drops counted, want 2", got)
	}
}

// TestLateRelayCandidate holds the answerer's relay candidates back for a
// second, as slow signaling does, between two full-cone NATs where the
// direct path works. Without the filter pion learns the relay from its
// early checks as a peer-reflexive candidate and may pick it; with it, the
// relay is only ever a relay candidate, and the pair goes direct.
func TestLateRelayCandidate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, [2]natKind{natFullCone, natFullCone})
		p := newPair(t, w, nil)
		p.ba.mu.Lock()
		p.ba.delayRelay = time.Second
		p.ba.mu.Unlock()
		waitOpen(t, p.a, 10*time.Second)
		waitOpen(t, p.b, 10*time.Second)
		time.Sleep(1500 * time.Millisecond) // the relay candidates are in

		if path, _ := p.a.Path(); path.Relayed() {
			t.Errorf("offerer's path %v is relayed", path)
		}
		for _, st := range p.a.pc.GetStats() {
			c, ok := st.(webrtc.ICECandidateStats)
			if ok && c.Type == webrtc.StatsTypeRemoteCandidate && c.IP == serverIP && c.CandidateType != webrtc.ICECandidateTypeRelay {
				t.Errorf("the answerer's relay %s:%d is known as %s", c.IP, c.Port, c.CandidateType)
			}
		}
		if p.a.filter.drops.Load() == 0 {
			t.Error("the offerer's filter dropped nothing: the relay's checks did not come early")
		}
	})
}
