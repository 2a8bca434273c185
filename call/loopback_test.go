package call

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/rtc"
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
