package sim

import (
	"container/heap"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// datagram is a datagram in flight to a socket.
type datagram struct {
	at     time.Time
	seq    uint64 // orders datagrams arriving at the same time
	from   netip.AddrPort
	data   []byte
	filter bool // the receiver was behind NAT when it was sent
}

// dgramHeap is a min-heap of datagrams by arrival.
type dgramHeap []datagram

func (q dgramHeap) Len() int { return len(q) }
func (q dgramHeap) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q dgramHeap) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dgramHeap) Push(x any)   { *q = append(*q, x.(datagram)) }
func (q *dgramHeap) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = datagram{}
	*q = old[:len(old)-1]
	return d
}

// packetConn is a datagram socket; it implements net.PacketConn.
type packetConn struct {
	n     *Net
	h     *Host
	laddr netip.AddrPort

	mu     sync.Mutex
	q      dgramHeap
	seq    uint64
	wake   waker
	closed bool
	rdl    time.Time
	wdl    time.Time
	// sent maps each address this socket sent to while behind NAT to the
	// time of the first such datagram: the NAT's filter.
	sent map[netip.AddrPort]time.Time
}

var _ net.PacketConn = (*packetConn)(nil)

// ListenPacket opens a datagram socket on addr (ip:port), where ip is the
// host's own IP or empty or unspecified, and port 0 picks an ephemeral port.
// It implements overlay.Network.
func (h *Host) ListenPacket(addr string) (net.PacketConn, error) {
	if !h.addr.IsValid() {
		return nil, opError("listen", "udp", nil, nil, errDetached)
	}
	port, err := h.bindPort(addr)
	if err != nil {
		return nil, opError("listen", "udp", nil, nil, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return nil, opError("listen", "udp", nil, nil, err)
	}
	if port == 0 {
		port, err = h.ephemeral(&h.nextUDP, func(p uint16) bool { return h.packets[p] != nil })
		if err != nil {
			return nil, opError("listen", "udp", nil, nil, err)
		}
	} else if h.packets[port] != nil {
		return nil, opError("listen", "udp", nil, udpAddr(netip.AddrPortFrom(h.addr, port)),
			os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	pc := &packetConn{n: h.n, h: h, laddr: netip.AddrPortFrom(h.addr, port)}
	if h.packets == nil {
		h.packets = make(map[uint16]*packetConn)
	}
	h.packets[port] = pc
	return pc, nil
}

func (pc *packetConn) err(op string, dst net.Addr, err error) error {
	return opError(op, "udp", udpAddr(pc.laddr), dst, err)
}

// ReadFrom implements net.PacketConn. A datagram longer than p is
// truncated; the rest is discarded, as with UDP.
func (pc *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		pc.mu.Lock()
		if pc.closed {
			pc.mu.Unlock()
			return 0, nil, pc.err("read", nil, net.ErrClosed)
		}
		now := time.Now()
		if passed(pc.rdl, now) {
			pc.mu.Unlock()
			return 0, nil, pc.err("read", nil, os.ErrDeadlineExceeded)
		}
		wakeAt := pc.rdl
		for len(pc.q) > 0 {
			if at := pc.q[0].at; at.After(now) {
				wakeAt = earliest(wakeAt, at)
				break
			}
			d := heap.Pop(&pc.q).(datagram)
			if d.filter {
				if t, ok := pc.sent[d.from]; !ok || t.After(d.at) {
					continue // dropped by the NAT
				}
			}
			n := copy(p, d.data)
			pc.mu.Unlock()
			return n, net.UDPAddrFromAddrPort(d.from), nil
		}
		w := pc.wake.wait()
		pc.mu.Unlock()
		block(w, nil, wakeAt)
	}
}

// WriteTo implements net.PacketConn. addr is a *net.UDPAddr or any net.Addr
// whose String is ip:port. The datagram is silently dropped if it is lost,
// partitioned, or has no socket to arrive at.
func (pc *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	dst, err := addrPort(addr)
	if err != nil {
		return 0, pc.err("write", nil, err)
	}
	if len(p) > maxDatagram {
		return 0, pc.err("write", udpAddr(dst), os.NewSyscallError("sendto", syscall.EMSGSIZE))
	}
	h := pc.h
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return 0, pc.err("write", udpAddr(dst), net.ErrClosed)
	}
	now := time.Now()
	if passed(pc.wdl, now) {
		pc.mu.Unlock()
		return 0, pc.err("write", udpAddr(dst), os.ErrDeadlineExceeded)
	}
	if h.nat.Load() && dst.Addr() != h.addr {
		if pc.sent == nil {
			pc.sent = make(map[netip.AddrPort]time.Time)
		}
		if _, ok := pc.sent[dst]; !ok {
			pc.sent[dst] = now
		}
	}
	pc.mu.Unlock()

	if pc.n.lost() || !pc.n.topo.Load().reachable(h.addr, dst.Addr()) {
		return len(p), nil
	}
	t := pc.n.lookup(dst.Addr())
	if t == nil {
		return len(p), nil
	}
	t.mu.Lock()
	var to *packetConn
	if t.usable() == nil {
		to = t.packets[dst.Port()]
	}
	t.mu.Unlock()
	if to != nil {
		to.deliver(datagram{
			at:     now.Add(pc.n.lat(h.addr, dst.Addr())),
			from:   pc.laddr,
			data:   append([]byte(nil), p...),
			filter: t != h && t.nat.Load(),
		})
	}
	return len(p), nil
}

// deliver queues a datagram to arrive.
func (pc *packetConn) deliver(d datagram) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return
	}
	pc.seq++
	d.seq = pc.seq
	heap.Push(&pc.q, d)
	pc.wake.wake()
}

// addrPort converts a net.Addr to an IP and port.
func addrPort(addr net.Addr) (netip.AddrPort, error) {
	switch a := addr.(type) {
	case nil:
		return netip.AddrPort{}, &net.AddrError{Err: "missing address"}
	case *net.UDPAddr:
		if a == nil {
			return netip.AddrPort{}, &net.AddrError{Err: "missing address"}
		}
		if ap := a.AddrPort(); ap.Addr().IsValid() && a.Zone == "" {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
		}
		return netip.AddrPort{}, &net.AddrError{Err: "invalid address", Addr: a.String()}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, &net.AddrError{Err: "invalid address", Addr: addr.String()}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Close implements net.PacketConn.
func (pc *packetConn) Close() error {
	h := pc.h
	h.mu.Lock()
	if h.packets[pc.laddr.Port()] == pc {
		delete(h.packets, pc.laddr.Port())
	}
	h.mu.Unlock()
	if !pc.close() {
		return pc.err("close", nil, net.ErrClosed)
	}
	return nil
}

// close marks pc closed; it reports false if it was already.
func (pc *packetConn) close() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return false
	}
	pc.closed = true
	pc.q = nil
	pc.sent = nil
	pc.wake.wake()
	return true
}

// LocalAddr implements net.PacketConn; it returns a *net.UDPAddr.
func (pc *packetConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(pc.laddr) }

// SetDeadline implements net.PacketConn.
func (pc *packetConn) SetDeadline(t time.Time) error { return pc.setDeadline(t, true, true) }

// SetReadDeadline implements net.PacketConn.
func (pc *packetConn) SetReadDeadline(t time.Time) error { return pc.setDeadline(t, true, false) }

// SetWriteDeadline implements net.PacketConn.
func (pc *packetConn) SetWriteDeadline(t time.Time) error { return pc.setDeadline(t, false, true) }

func (pc *packetConn) setDeadline(t time.Time, read, write bool) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return pc.err("set", nil, net.ErrClosed)
	}
	if read {
		pc.rdl = t
	}
	if write {
		pc.wdl = t
	}
	pc.wake.wake()
	return nil
}
