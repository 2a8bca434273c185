// Package vnetworld builds, for tests, a virtual internet on pion's vnet: a
// supernode's STUN/TURN server (overlay/relay) and peers on it or behind
// NATs of the RFC 4787 kinds. The WebRTC session tests (rtc) and the
// call tests (call) share it.
package vnetworld

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2/vnet"

	"github.com/parleynet/parley/overlay/relay"
)

// NAT is a kind of NAT in front of a peer, in RFC 4787 terms.
type NAT int

// The kinds of NAT.
const (
	None           NAT = iota // the peer is on the public network
	FullCone                  // EI mapping, EI filtering
	AddrRestricted            // EI mapping, address-dependent filtering
	PortRestricted            // EI mapping, address-and-port-dependent filtering
	Symmetric                 // address-and-port-dependent mapping and filtering
)

// Kinds are all the kinds, for NAT matrices.
var Kinds = []NAT{None, FullCone, AddrRestricted, PortRestricted, Symmetric}

func (k NAT) String() string {
	return [...]string{"none", "full-cone", "addr-restricted", "port-restricted", "symmetric"}[k]
}

func (k NAT) natType() *vnet.NATType {
	ei, ad, apd := vnet.EndpointIndependent, vnet.EndpointAddrDependent, vnet.EndpointAddrPortDependent
	switch k {
	case FullCone:
		return &vnet.NATType{MappingBehavior: ei, FilteringBehavior: ei}
	case AddrRestricted:
		return &vnet.NATType{MappingBehavior: ei, FilteringBehavior: ad}
	case PortRestricted:
		return &vnet.NATType{MappingBehavior: ei, FilteringBehavior: apd}
	case Symmetric:
		return &vnet.NATType{MappingBehavior: apd, FilteringBehavior: apd}
	}
	return nil
}

// ServerIP is the STUN/TURN server's address; it listens on port 3478.
const ServerIP = "1.2.3.4"

// World is a virtual internet, 1.2.3.0/24, with the STUN/TURN server at
// ServerIP:3478 and a peer per NAT kind given, each on it (1.2.3.10, .20,
// …) or on a LAN behind a NAT with that public address.
type World struct {
	WAN    *vnet.Router // the internet: tests filter what crosses it
	Server *relay.Server
	Nets   []*vnet.Net // the peers' networks, in the order of the kinds
	Public []string    // the peers' public addresses
}

// vnetMu serializes building vnets: vnet hands out MAC addresses from a
// package counter without a lock, a data race between parallel tests.
var vnetMu sync.Mutex

// New builds a world with a peer per kind; it stops with the test. pion's
// own logs go nowhere; the relay logs to log.
func New(t testing.TB, log *slog.Logger, kinds ...NAT) *World {
	t.Helper()
	return NewWAN(t, log, 0, kinds...)
}

// NewWAN is New with a one-way delay on the internet: every packet that
// crosses it, peer to peer or peer to server, takes delay (so a round trip
// between two peers takes twice that).
func NewWAN(t testing.TB, log *slog.Logger, delay time.Duration, kinds ...NAT) *World {
	t.Helper()
	vnetMu.Lock()
	defer vnetMu.Unlock()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf, MinDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	serverNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ServerIP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(serverNet); err != nil {
		t.Fatal(err)
	}
	w := &World{WAN: wan}
	for i, k := range kinds {
		public := fmt.Sprintf("1.2.3.%d", 10*(i+1))
		w.Public = append(w.Public, public)
		if k == None {
			n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{public}})
			if err != nil {
				t.Fatal(err)
			}
			if err := wan.AddNet(n); err != nil {
				t.Fatal(err)
			}
			w.Nets = append(w.Nets, n)
			continue
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			CIDR:          fmt.Sprintf("10.0.%d.0/24", i+1),
			StaticIPs:     []string{public},
			NATType:       k.natType(),
			LoggerFactory: lf,
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.0.%d.2", i+1)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lan.AddNet(n); err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			t.Fatal(err)
		}
		w.Nets = append(w.Nets, n)
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wan.Stop() })
	pc, err := serverNet.ListenPacket("udp4", ServerIP+":3478")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.NewServer(relay.Config{PacketConn: pc, Net: serverNet, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	w.Server = srv
	return w
}

// ICE returns what a supernode would hand the leaf named user: the STUN and
// TURN URLs and TURN credentials.
func (w *World) ICE(user string) (urls []string, username, credential string) {
	u, p := w.Server.Credentials(user, 0, time.Now())
	return []string{"stun:" + ServerIP + ":3478", "turn:" + ServerIP + ":3478?transport=udp"}, u, p
}
