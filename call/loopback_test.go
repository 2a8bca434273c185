package call

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// TestCallOverLoopback makes a call over the operating system's sockets
// on the loopback interface (no vnet, no STUN/TURN): the path the setup
// benchmarks measure.
func TestCallOverLoopback(t *testing.T) {
	t.Parallel()
	sb := newSwitchboard()
	loopback := func(c *Config) {
		c.ICEServers = nil
		c.Tune = func(rc *rtc.Config) {
			rc.SettingEngine = func(se *webrtc.SettingEngine) {
				se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
				se.SetIncludeLoopbackCandidate(true)
				se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
			}
		}
	}
	a := newLoopbackUser(t, sb, "alice", loopback)
	b := newLoopbackUser(t, sb, "bob", loopback)
	befriend(t, a, b)
	start := time.Now()
	id := connect(t, a, b)
	info, _ := a.m.Call(id)
	t.Logf("talking %v after the dial, over %v", time.Since(start).Round(time.Millisecond), info.Path)
	if info.Path.Local != rtc.Host || info.Path.Remote != rtc.Host {
		t.Errorf("path %v, want host to host", info.Path)
	}
	if err := a.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	b.waitEvent(EventEnded, id, 2*time.Second)
	checkLog(t, b, id, store.Incoming, a, store.CallAnswered, true, "hung up by alice")
}

// newLoopbackUser is newUser without a vnet.
func newLoopbackUser(t *testing.T, sb *switchboard, name string, opts ...userOpts) *user {
	t.Helper()
	return newUserOn(t, sb, nil, name, append([]userOpts{func(c *Config) {
		c.ICEServers = func(context.Context) ([]overlay.ICEServer, error) { return nil, nil }
	}}, opts...)...)
}

// TestPacedSource: a source that paces itself (a microphone) sets the
// send loop's pace: it is read again as soon as a packet is sent, not on
// a 20 ms clock of the loop's own, which would hold each frame back.
// Here it gives a packet every 5 ms, so four times as many arrive as a
// 20 ms clock would let through.
func TestPacedSource(t *testing.T) {
	t.Parallel()
	// In virtual time over the vnet: on the wall clock a busy machine
	// (two cores, a race-detector run beside it) read the source 86
	// times a second instead of 200, and the test failed for the load.
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pairOf(t)
		a.media.pace = 5 * time.Millisecond
		id := connect(t, a, b)
		got := waitAudio(t, b, id, 1, 5*time.Second)
		n0, t0 := len(got), time.Now()
		time.Sleep(time.Second)
		n := len(b.media.sink(id).packets()) - n0
		rate := float64(n) / time.Since(t0).Seconds()
		t.Logf("%d packets in %v: %.0f/s", n, time.Since(t0).Round(time.Millisecond), rate)
		if rate < 150 {
			t.Errorf("%.0f packets/s from a source that gives 200/s: the send loop kept its own 20 ms clock", rate)
		}
		if err := a.m.Hangup(id); err != nil {
			t.Fatal(err)
		}
		b.waitEvent(EventEnded, id, 2*time.Second)
	})
}
