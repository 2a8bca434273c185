package chat

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/internal/vnetworld"
	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// sees makes u see other's presence as online, as the overlay would tell it.
func sees(t *testing.T, u, other *user) {
	t.Helper()
	rec, err := record.NewPresence(other.id, wire.PresenceBody{Status: wire.StatusOnline}, 1, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u.s.OnPresence(record.PresenceKey(other.id.NodeID()), rec)
}

// TestDirectLinkTakesCandidatesThatOvertakeTheOffer: the offerer trickles
// its candidates right behind the offer, while the answerer is still
// making its session (it asks its supernode for STUN/TURN servers first,
// here slowly). Those candidates are held and given to the session after
// the offer: the answerer's session lets checks through only from
// candidates it was told of, so dropping them left the link unopened.
func TestDirectLinkTakesCandidatesThatOvertakeTheOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := vnetworld.New(t, testutil.Logger(t), vnetworld.None, vnetworld.None)
		sb := newSwitchboard()
		a := newUser(t, sb, "alice", withRTC(w.Nets[0], nil))
		b := newUser(t, sb, "bob", withRTC(w.Nets[1], nil))
		linkUp(t, a, b)
	})
}

// withRTC gives a user direct links on n, whose supernode answers for
// STUN/TURN servers slowly; tune, if set, adjusts the WebRTC settings.
func withRTC(n *vnet.Net, tune func(*webrtc.SettingEngine)) opt {
	return func(c *Config, _ *letters.Config) {
		c.RTC = &RTC{
			ICEServers: func(ctx context.Context) ([]overlay.ICEServer, error) {
				time.Sleep(300 * time.Millisecond) // a supernode far away
				return nil, nil
			},
			Tune: func(rc *rtc.Config) {
				rc.Net = n
				rc.SettingEngine = func(se *webrtc.SettingEngine) {
					se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
					if tune != nil {
						tune(se)
					}
				}
			},
		}
	}
}

// linkUp makes a and b contacts who see each other online, and has a
// write to b so that their conversation goes direct.
func linkUp(t *testing.T, a, b *user) {
	t.Helper()
	befriend(t, a, b)
	sees(t, a, b)
	sees(t, b, a)
	if _, err := a.s.Send(context.Background(), a.contact(b.name).ID, "let's go direct"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a direct link open at both ends", func() bool {
		la, oka := a.s.Link(a.contact(b.name).ID)
		lb, okb := b.s.Link(b.contact(a.name).ID)
		return oka && okb && la.Open && lb.Open
	})
}

// TestReceiptLostOnADyingLinkIsSentAgain: bob's receipt goes out on the
// direct link just as the link dies (everything from bob to alice is
// lost, as when alice's end crashed). When bob's end sees the link fail,
// the receipt goes again by envelope: alice sees her message delivered
// within seconds, not at its next resend (a minute here; six hours for
// a message that went to a mailbox).
func TestReceiptLostOnADyingLinkIsSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := vnetworld.New(t, testutil.Logger(t), vnetworld.None, vnetworld.None)
		var cut atomic.Bool
		w.WAN.AddChunkFilter(func(c vnet.Chunk) bool {
			return !cut.Load() || c.SourceAddr().(*net.UDPAddr).IP.String() != w.Public[1]
		})
		sb := newSwitchboard()
		quick := func(se *webrtc.SettingEngine) {
			se.SetICETimeouts(time.Second, time.Second, 100*time.Millisecond)
		}
		slowResend := func(_ *Config, l *letters.Config) { l.ResendDelivered = time.Minute }
		a := newUser(t, sb, "alice", withRTC(w.Nets[0], quick), slowResend)
		b := newUser(t, sb, "bob", withRTC(w.Nets[1], quick), slowResend)
		linkUp(t, a, b)

		cut.Store(true)
		ctx := context.Background()
		m, err := a.s.Send(ctx, a.contact("bob").ID, "are you there?")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "bob has the message", func() bool {
			ms, _ := b.db.Messages(ctx, b.contact("alice").ID, store.Cursor{}, 10)
			return len(ms) > 0 && ms[0].Body == "are you there?"
		})
		eventually(t, "bob's receipt sent on the direct link", func() bool { return b.s.Stats().Direct > 0 })
		if got, err := a.db.MessageByMsgID(ctx, a.id.NodeID(), m.MsgID); err != nil || got.State == store.MessageDelivered {
			t.Fatalf("alice's message %v (%v) before the link failed: the receipt was not lost", got.State, err)
		}
		// Alice's end fails after 2 s without a word from bob, bob's 2 s after
		// alice's goes quiet; well within the minute of the resend.
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := a.db.MessageByMsgID(ctx, a.id.NodeID(), m.MsgID)
			if err == nil && got.State == store.MessageDelivered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice's message still %v (%v) 20 s after the link was cut", got.State, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
