package rtc

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v2"
)

// peerFilter keeps pion from mistaking the other side's relay for a direct
// path.
//
// With trickle ICE a connectivity check often arrives before the candidate
// it comes from has been signalled (the signal goes through supernodes, the
// check straight through the network). Pion then makes a peer-reflexive
// candidate of the sender's address, with the peer-reflexive priority (it
// ignores the check's PRIORITY attribute, pion/ice#622) and the
// peer-reflexive acceptance wait of 1 s instead of a relay's 2 s. When the
// address is the other side's TURN relay, the relayed pair then ranks with
// the direct peer-reflexive pairs, and pion's controlling side nominates
// whichever became valid first: in the NAT matrix, before this filter,
// about every other run had a pair or two with a working direct path go
// through the relay.
//
// So the sockets of host and server-reflexive candidates drop STUN binding
// requests from an IP address that no signalled candidate of the other side
// has, unless that exact address was signalled. A direct check comes from
// the other side's host address or from its NAT's public address, which its
// server-reflexive candidates carry; a check from its relay comes from a
// TURN server's address, which becomes known with its relay candidate. The
// dropped check is retransmitted and, once the candidate has arrived, pion
// knows the relay for what it is. Once the other side has said
// end-of-candidates, all its relays are known and the filter lets
// everything through, so a peer without a server-reflexive candidate (its
// STUN servers unreachable) can still open a peer-reflexive pair, only
// later.
type peerFilter struct {
	open  atomic.Bool // every relay of the other side is known: allow all
	mu    sync.Mutex
	ips   map[netip.Addr]bool     // guarded by mu: IPs of signalled non-relay candidates
	addrs map[netip.AddrPort]bool // guarded by mu: every signalled candidate
	drops atomic.Int64            // binding requests dropped
}

func newPeerFilter() *peerFilter {
	return &peerFilter{ips: make(map[netip.Addr]bool), addrs: make(map[netip.AddrPort]bool)}
}

// learn records a candidate the other side signalled.
func (f *peerFilter) learn(ap netip.AddrPort, typ CandidateType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[ap] = true
	if typ != Relay {
		f.ips[ap.Addr()] = true
	}
}

// allow reports whether a datagram b from from may reach pion.
func (f *peerFilter) allow(from net.Addr, b []byte) bool {
	if f.open.Load() || !isBindingRequest(b) {
		return true
	}
	u, ok := from.(*net.UDPAddr)
	if !ok {
		return true
	}
	ip, ok := netip.AddrFromSlice(u.IP)
	if !ok {
		return true
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(u.Port))
	f.mu.Lock()
	ok = f.ips[ap.Addr()] || f.addrs[ap]
	f.mu.Unlock()
	if !ok {
		f.drops.Add(1)
	}
	return ok
}

// isBindingRequest reports whether b is a STUN Binding request (RFC 8489:
// type 0x0001, magic cookie 0x2112A442).
func isBindingRequest(b []byte) bool {
	return len(b) >= 20 &&
		binary.BigEndian.Uint16(b[0:2]) == 0x0001 &&
		binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// filteredNet is the network pion sees: UDP sockets (those of host and
// server-reflexive candidates) pass what they read through the filter.
// TURN client sockets (ListenPacket) are left alone.
type filteredNet struct {
	transport.Net
	f *peerFilter
}

func (n filteredNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &filteredConn{UDPConn: c, f: n.f}, nil
}

type filteredConn struct {
	transport.UDPConn
	f *peerFilter
}

func (c *filteredConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || c.f.allow(addr, p[:n]) {
			return n, addr, err
		}
	}
}

func (c *filteredConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDP(p)
		if err != nil || c.f.allow(addr, p[:n]) {
			return n, addr, err
		}
	}
}

func (c *filteredConn) ReadMsgUDP(p, oob []byte) (int, int, int, *net.UDPAddr, error) {
	for {
		n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDP(p, oob)
		if err != nil || c.f.allow(addr, p[:n]) {
			return n, oobn, flags, addr, err
		}
	}
}
