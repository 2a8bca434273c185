package chat

import (
	"context"
	"testing"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/internal/testlog"
	"github.com/parleynet/parley/internal/vnetworld"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/rtc"
	"github.com/parleynet/parley/overlay/wire"
)

// sees makes u see other's presence as online, as the overlay would tell it.
func sees(t *testing.T, u, other *user) {
	t.Helper()
	rec, err := overlay.NewPresence(other.id, wire.PresenceBody{Status: wire.StatusOnline}, 1, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u.s.OnPresence(overlay.PresenceKey(other.id.NodeID()), rec)
}

// TestDirectLinkTakesCandidatesThatOvertakeTheOffer: the offerer trickles
// its candidates right behind the offer, while the answerer is still
// making its session (it asks its supernode for STUN/TURN servers first,
// here slowly). Those candidates are held and given to the session after
// the offer: the answerer's session lets checks through only from
// candidates it was told of, so dropping them left the link unopened.
func TestDirectLinkTakesCandidatesThatOvertakeTheOffer(t *testing.T) {
	w := vnetworld.New(t, testlog.New(t), vnetworld.None, vnetworld.None)
	sb := newSwitchboard()
	withRTC := func(n *vnet.Net) func(*Config) {
		return func(c *Config) {
			c.RTC = &RTC{
				ICEServers: func(ctx context.Context) ([]overlay.ICEServer, error) {
					time.Sleep(300 * time.Millisecond) // a supernode far away
					return nil, nil
				},
				Tune: func(rc *rtc.Config) {
					rc.Net = n
					rc.SettingEngine = func(se *webrtc.SettingEngine) {
						se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
					}
				},
			}
		}
	}
	a := newUser(t, sb, "alice", withRTC(w.Nets[0]))
	b := newUser(t, sb, "bob", withRTC(w.Nets[1]))
	befriend(t, a, b)
	sees(t, a, b)
	sees(t, b, a)
	ctx := context.Background()
	if _, err := a.s.Send(ctx, a.contact("bob").ID, "let's go direct"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a direct link open at both ends", func() bool {
		la, oka := a.s.Link(a.contact("bob").ID)
		lb, okb := b.s.Link(b.contact("alice").ID)
		return oka && okb && la.Open && lb.Open
	})
}
