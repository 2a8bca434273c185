package sim

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// chunkKind is what a queued chunk carries.
type chunkKind uint8

const (
	kindNone  chunkKind = iota
	kindData            // bytes
	kindEOF             // the writer closed
	kindReset           // the writer's host crashed
)

// chunk is data (or an end marker) in flight, readable from at.
type chunk struct {
	at   time.Time
	data []byte
	kind chunkKind
}

// end is the receiving side of one endpoint of a connection, with the
// endpoint's own state. Everything is guarded by mu.
type end struct {
	mu      sync.Mutex
	q       []chunk // q[head:] in flight or unread, in order of at
	head    int
	last    time.Time // at of the latest chunk: delivery stays in order
	final   bool      // an EOF or reset is queued: nothing more comes
	resetAt time.Time // when a queued reset arrives
	wake    waker
	closed  bool // closed locally: reads and writes fail
	rdl     time.Time
	wdl     time.Time
}

// push queues a chunk of kind sent now to arrive at at (or after the chunk
// before it). It copies p.
func (e *end) push(kind chunkKind, p []byte, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.final {
		return
	}
	if at.Before(e.last) {
		at = e.last
	}
	e.last = at
	defer e.wake.wake()
	switch kind {
	case kindData:
		if n := len(e.q); n > e.head && e.q[n-1].kind == kindData && e.q[n-1].at.Equal(at) {
			e.q[n-1].data = append(e.q[n-1].data, p...)
			return
		}
		p = append([]byte(nil), p...)
	case kindReset:
		e.resetAt = at
		e.final = true
	case kindEOF:
		e.final = true
	}
	e.q = append(e.q, chunk{at: at, data: p, kind: kind})
}

// conn is one endpoint of a stream connection; it implements net.Conn.
type conn struct {
	n            *Net
	h            *Host // local host
	laddr, raddr netip.AddrPort
	rx           *end // this endpoint's side
	tx           *end // the peer's side
}

var _ net.Conn = (*conn)(nil)

// newPair returns the two endpoints of a connection between a (on host ha)
// and b (on hb).
func newPair(n *Net, ha *Host, a netip.AddrPort, hb *Host, b netip.AddrPort) (*conn, *conn) {
	ea, eb := new(end), new(end)
	return &conn{n: n, h: ha, laddr: a, raddr: b, rx: ea, tx: eb},
		&conn{n: n, h: hb, laddr: b, raddr: a, rx: eb, tx: ea}
}

func (c *conn) err(op string, err error) error {
	return opError(op, "tcp", tcpAddr(c.laddr), tcpAddr(c.raddr), err)
}

// Read implements net.Conn.
func (c *conn) Read(p []byte) (int, error) {
	e := c.rx
	for {
		topo := c.n.topo.Load()
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return 0, c.err("read", net.ErrClosed)
		}
		now := time.Now()
		if passed(e.rdl, now) {
			e.mu.Unlock()
			return 0, c.err("read", os.ErrDeadlineExceeded)
		}
		wakeAt := e.rdl
		var stalled <-chan struct{}
		if e.head < len(e.q) {
			h := &e.q[e.head]
			switch {
			case h.at.After(now):
				wakeAt = earliest(wakeAt, h.at)
			case !topo.reachable(c.laddr.Addr(), c.raddr.Addr()):
				stalled = topo.changed
			case h.kind == kindData:
				n := copy(p, h.data)
				h.data = h.data[n:]
				if len(h.data) == 0 {
					*h = chunk{}
					e.head++
					if e.head == len(e.q) {
						e.q, e.head = e.q[:0], 0
					}
				}
				e.mu.Unlock()
				return n, nil
			case h.kind == kindEOF:
				e.mu.Unlock()
				return 0, io.EOF
			default:
				e.mu.Unlock()
				return 0, c.err("read", os.NewSyscallError("read", syscall.ECONNRESET))
			}
		}
		w := e.wake.wait()
		e.mu.Unlock()
		block(w, stalled, wakeAt)
	}
}

// Write implements net.Conn. It never blocks: the data is queued to arrive
// at the peer after the latency.
func (c *conn) Write(p []byte) (int, error) {
	e := c.rx
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, c.err("write", net.ErrClosed)
	}
	now := time.Now()
	if passed(e.wdl, now) {
		e.mu.Unlock()
		return 0, c.err("write", os.ErrDeadlineExceeded)
	}
	if !e.resetAt.IsZero() && !e.resetAt.After(now) {
		e.mu.Unlock()
		return 0, c.err("write", os.NewSyscallError("write", syscall.ECONNRESET))
	}
	e.mu.Unlock()
	if len(p) > 0 {
		c.tx.push(kindData, p, now.Add(c.n.lat(c.laddr.Addr(), c.raddr.Addr())))
	}
	return len(p), nil
}

// Close implements net.Conn: the peer reads the data sent so far, then
// io.EOF.
func (c *conn) Close() error {
	if !c.shutdown(kindEOF) {
		return c.err("close", net.ErrClosed)
	}
	return nil
}

// shutdown closes the endpoint locally and sends kind to the peer. It
// reports false if the endpoint was already closed.
func (c *conn) shutdown(kind chunkKind) bool {
	e := c.rx
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	e.closed = true
	e.q, e.head = nil, 0
	e.wake.wake()
	e.mu.Unlock()
	c.h.forget(c)
	if kind != kindNone {
		c.tx.push(kind, nil, time.Now().Add(c.n.lat(c.laddr.Addr(), c.raddr.Addr())))
	}
	return true
}

// LocalAddr implements net.Conn; it returns a *net.TCPAddr.
func (c *conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.laddr) }

// RemoteAddr implements net.Conn; it returns a *net.TCPAddr.
func (c *conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddr) }

// SetDeadline implements net.Conn.
func (c *conn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

// SetReadDeadline implements net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline implements net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

func (c *conn) setDeadline(t time.Time, read, write bool) error {
	e := c.rx
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return c.err("set", net.ErrClosed)
	}
	if read {
		e.rdl = t
	}
	if write {
		e.wdl = t
	}
	e.wake.wake()
	return nil
}

// Dial opens a stream connection to addr (ip:port), taking one round trip.
// It implements overlay.Network; see the package documentation for black
// holes, refusals and NAT.
func (h *Host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n := h.n
	if !h.addr.IsValid() {
		return nil, opError("dial", "tcp", nil, nil, errDetached)
	}
	dst, err := h.parseHostPort(addr)
	if err != nil {
		return nil, opError("dial", "tcp", nil, nil, err)
	}
	raddr := tcpAddr(dst)
	start := time.Now()

	target := n.lookup(dst.Addr())
	var c, sc *conn
	h.mu.Lock()
	if err := h.usable(); err != nil {
		h.mu.Unlock()
		return nil, opError("dial", "tcp", nil, raddr, err)
	}
	down := h.downCh
	lport, err := h.ephemeral(&h.nextTCP, func(p uint16) bool {
		return h.connPort[p] != nil || h.listen[p] != nil
	})
	if err != nil {
		h.mu.Unlock()
		return nil, opError("dial", "tcp", nil, raddr, err)
	}
	c, sc = newPair(n, h, netip.AddrPortFrom(h.addr, lport), target, dst)
	h.connPort[lport] = c
	h.mu.Unlock()
	fail := func(err error) (net.Conn, error) {
		h.forget(c)
		return nil, c.err("dial", err)
	}

	// The SYN travels to the target.
	if err := n.sleep(ctx, down, n.lat(h.addr, dst.Addr())); err != nil {
		return fail(err)
	}
	back := n.lat(dst.Addr(), h.addr)
	switch target.offer(h, sc) {
	case blackHole:
		err := n.sleep(ctx, down, connectTimeout-time.Since(start))
		if err == nil {
			err = os.NewSyscallError("connect", syscall.ETIMEDOUT)
		}
		return fail(err)
	case refused:
		err := n.sleep(ctx, down, back)
		if err == nil {
			err = os.NewSyscallError("connect", syscall.ECONNREFUSED)
		}
		return fail(err)
	}

	// Accepted: the connection exists at both ends; the SYN-ACK travels back.
	h.mu.Lock()
	ok := h.downCh == down && h.usable() == nil
	if ok {
		h.conns[c] = struct{}{}
	}
	h.mu.Unlock()
	if !ok {
		c.shutdown(kindReset)
		return nil, c.err("dial", errDown)
	}
	if err := n.sleep(ctx, down, back); err != nil {
		c.shutdown(kindReset)
		return nil, c.err("dial", err)
	}
	return c, nil
}

// verdict is what a host does with a SYN.
type verdict int

const (
	blackHole verdict = iota
	refused
	accepted
)

// offer delivers a SYN from host from: if a listener takes it, the server
// endpoint sc joins the host's connections and the listener's queue. t may
// be nil (no such host).
func (t *Host) offer(from *Host, sc *conn) verdict {
	if t == nil || !t.n.topo.Load().reachable(from.addr, t.addr) {
		return blackHole
	}
	if t != from && t.nat.Load() {
		return blackHole
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.usable() != nil {
		return blackHole
	}
	l := t.listen[sc.laddr.Port()]
	if l == nil || !l.enqueue(sc) {
		return refused
	}
	t.conns[sc] = struct{}{}
	return accepted
}

// listener implements net.Listener.
type listener struct {
	h    *Host
	addr netip.AddrPort

	mu     sync.Mutex
	q      []*conn
	wake   waker
	closed bool
	dl     time.Time
}

// Listen opens a stream listener on addr (ip:port), where ip is the host's
// own IP or empty or unspecified, and port 0 picks an ephemeral port. It
// implements overlay.Network.
func (h *Host) Listen(addr string) (net.Listener, error) {
	if !h.addr.IsValid() {
		return nil, opError("listen", "tcp", nil, nil, errDetached)
	}
	port, err := h.bindPort(addr)
	if err != nil {
		return nil, opError("listen", "tcp", nil, nil, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return nil, opError("listen", "tcp", nil, nil, err)
	}
	if port == 0 {
		port, err = h.ephemeral(&h.nextTCP, func(p uint16) bool {
			return h.connPort[p] != nil || h.listen[p] != nil
		})
		if err != nil {
			return nil, opError("listen", "tcp", nil, nil, err)
		}
	} else if h.listen[port] != nil {
		return nil, opError("listen", "tcp", nil, tcpAddr(netip.AddrPortFrom(h.addr, port)),
			os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	l := &listener{h: h, addr: netip.AddrPortFrom(h.addr, port)}
	if h.listen == nil {
		h.listen = make(map[uint16]*listener)
	}
	h.listen[port] = l
	return l, nil
}

// enqueue adds an incoming connection; it reports false if l is closed.
func (l *listener) enqueue(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.q = append(l.q, c)
	l.wake.wake()
	return true
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, opError("accept", "tcp", nil, tcpAddr(l.addr), net.ErrClosed)
		}
		if passed(l.dl, time.Now()) {
			l.mu.Unlock()
			return nil, opError("accept", "tcp", nil, tcpAddr(l.addr), os.ErrDeadlineExceeded)
		}
		if len(l.q) > 0 {
			c := l.q[0]
			l.q[0] = nil
			l.q = l.q[1:]
			if len(l.q) == 0 {
				l.q = nil
			}
			l.mu.Unlock()
			return c, nil
		}
		w := l.wake.wait()
		dl := l.dl
		l.mu.Unlock()
		block(w, nil, dl)
	}
}

// SetDeadline sets the deadline for Accept, as (*net.TCPListener).SetDeadline.
func (l *listener) SetDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return opError("set", "tcp", nil, tcpAddr(l.addr), net.ErrClosed)
	}
	l.dl = t
	l.wake.wake()
	return nil
}

// Close implements net.Listener. Connections not yet accepted are reset.
func (l *listener) Close() error {
	l.h.mu.Lock()
	if l.h.listen[l.addr.Port()] == l {
		delete(l.h.listen, l.addr.Port())
	}
	l.h.mu.Unlock()
	if !l.close() {
		return opError("close", "tcp", nil, tcpAddr(l.addr), net.ErrClosed)
	}
	return nil
}

// close marks l closed and resets its queued connections; it reports false
// if l was already closed.
func (l *listener) close() bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.closed = true
	q := l.q
	l.q = nil
	l.wake.wake()
	l.mu.Unlock()
	for _, c := range q {
		c.shutdown(kindReset)
	}
	return true
}

// Addr implements net.Listener; it returns a *net.TCPAddr.
func (l *listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
