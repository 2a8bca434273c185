package call

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/store"
)

// TestCallNATMatrix calls across NATs of rtc's matrix on a vnet
// internet with a supernode's STUN/TURN server: each pair connects, audio
// flows both ways, and the path is direct or relayed as NAT theory says
// (the relay exactly for symmetric with symmetric or with port-restricted
// cone; see rtc's expectRelay).
func TestCallNATMatrix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		caller, callee natKind
		relay          bool
	}{
		{natNone, natSymmetric, false},
		{natSymmetric, natNone, false},
		{natPortRestricted, natPortRestricted, false},
		{natFullCone, natSymmetric, false},
		{natSymmetric, natPortRestricted, true},
		{natSymmetric, natSymmetric, true},
	} {
		t.Run(tc.caller.String()+"→"+tc.callee.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, tc.caller, tc.callee)
				sb := newSwitchboard()
				a := newUser(t, sb, w, 0, "alice")
				b := newUser(t, sb, w, 1, "bob")
				befriend(t, a, b)
				start := time.Now()
				id := connect(t, a, b)
				pa, _ := a.m.Call(id)
				pb, _ := b.m.Call(id)
				t.Logf("talking after %v; caller's path %v, callee's %v", time.Since(start).Round(time.Millisecond), pa.Path, pb.Path)
				if pa.Path.Relayed() != tc.relay || pb.Path.Relayed() != tc.relay {
					t.Errorf("relayed %v / %v, want %v", pa.Path.Relayed(), pb.Path.Relayed(), tc.relay)
				}
				if err := b.m.Hangup(id); err != nil {
					t.Fatal(err)
				}
				a.waitEvent(EventEnded, id, 2*time.Second)
				checkLog(t, a, id, store.Outgoing, b, store.CallAnswered, true, "hung up by bob")
			})
		})
	}
}
