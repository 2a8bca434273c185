package overlay

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v2"

	"github.com/parleynet/parley/overlay/relay"
)

// A supernode serves dial-back probes, STUN and TURN on its one UDP port,
// and hands its leaves TURN credentials that its relay accepts.
func TestSupernodeServesProbesSTUNAndTURNOnOnePort(t *testing.T) {
	sn := startSN(t, func(c *SupernodeConfig) {
		c.Seed = true
		c.TuneRelay = func(rc *relay.Config) { rc.PermitPeer = func(net.IP) bool { return true } }
	})
	leaf, _ := onlineLeaf(t, sn, nil)
	servers, err := leaf.ICEServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || len(servers[0].URLs) != 2 || servers[0].URLs[1] != "turn:"+sn.Addr()+"?transport=udp" {
		t.Fatalf("ICE servers %+v", servers)
	}
	udpAddr := strings.TrimPrefix(servers[0].URLs[0], "stun:")

	// A dial-back probe is echoed on the same port.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, _ := net.ResolveUDPAddr("udp", udpAddr)
	probe := binary.BigEndian.AppendUint64(append([]byte(nil), probeMagic...), 42)
	conn.WriteTo(probe, to)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, _, err := conn.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], probe) {
		t.Fatalf("probe echo: %v %x", err, buf[:n])
	}

	// STUN and a TURN allocation with the credentials handed out.
	tc, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: udpAddr, TURNServerAddr: udpAddr, Conn: conn,
		Username: servers[0].Username, Password: servers[0].Credential, Realm: relay.DefaultRealm})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	conn.SetReadDeadline(time.Time{})
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	refl, err := tc.SendBindingRequest()
	if err != nil || refl.String() != conn.LocalAddr().String() {
		t.Fatalf("STUN binding: %v, %v; want %v", refl, err, conn.LocalAddr())
	}
	relayed, err := tc.Allocate()
	if err != nil {
		t.Fatalf("TURN allocation with handed-out credentials: %v", err)
	}
	defer relayed.Close()

	// Data relayed to a peer.
	peer, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer peer.Close()
	if _, err := relayed.WriteTo([]byte("via relay"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "via relay" || from.String() != relayed.LocalAddr().String() {
		t.Fatalf("relayed datagram: %q from %v (%v), want from %v", buf[:n], from, err, relayed.LocalAddr())
	}
	if sn.turn.server.Allocations() != 1 {
		t.Fatalf("relay counts %d allocations", sn.turn.server.Allocations())
	}

	// Forged credentials are refused.
	conn2, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer conn2.Close()
	bad, _ := turn.NewClient(&turn.ClientConfig{STUNServerAddr: udpAddr, TURNServerAddr: udpAddr, Conn: conn2,
		Username: servers[0].Username, Password: "forged", Realm: relay.DefaultRealm})
	defer bad.Close()
	bad.Listen()
	if _, err := bad.Allocate(); err == nil {
		t.Fatal("an allocation with a forged password succeeded")
	}
}
