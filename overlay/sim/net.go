package sim

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ephemeral port range, as a kernel's: local ports of outgoing connections
// and of sockets bound to port 0.
const (
	ephemeralLow  = 30000
	ephemeralHigh = 65535
)

// connectTimeout is how long a dial into a black hole waits at most, as
// Linux gives up after its SYN retries (tcp_syn_retries = 6).
const connectTimeout = 127 * time.Second

// Default one-way latency range.
const (
	minLatency = 5 * time.Millisecond
	maxLatency = 60 * time.Millisecond
)

// Net is an in-memory network of hosts with latency, loss, partitions,
// NAT and crashes. It is safe for concurrent use.
type Net struct {
	seed   uint64
	mu     sync.RWMutex
	hosts  map[netip.Addr]*Host
	closed atomic.Bool
	done   chan struct{} // closed by Close

	latency atomic.Pointer[func(a, b string) time.Duration] // nil: default
	loss    atomic.Uint64                                   // float64 bits
	topo    atomic.Pointer[topology]

	rngMu sync.Mutex
	rng   *rand.Rand
}

// topology is one immutable partition state. changed is closed when it is
// replaced, waking readers stalled by it.
type topology struct {
	group   map[netip.Addr]int // nil: no partition
	changed chan struct{}
}

// reachable reports whether a and b can exchange packets.
func (t *topology) reachable(a, b netip.Addr) bool {
	if t.group == nil || a == b {
		return true
	}
	ga, oka := t.group[a]
	gb, okb := t.group[b]
	return !oka || !okb || ga == gb
}

// NewNet returns an empty network whose latencies and loss draws are
// determined by seed.
func NewNet(seed uint64) *Net {
	n := &Net{
		seed:  seed,
		hosts: make(map[netip.Addr]*Host),
		done:  make(chan struct{}),
		rng:   rand.New(rand.NewPCG(seed, 0x51a7_0e71)),
	}
	n.topo.Store(&topology{changed: make(chan struct{})})
	return n
}

// Host returns the host with IP address ip, creating it (up, not behind
// NAT) if it does not exist. If ip is not a valid IP address, Host returns a
// detached host on which every operation fails.
func (n *Net) Host(ip string) *Host {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return &Host{n: n, ip: ip}
	}
	a = a.Unmap()
	n.mu.RLock()
	h := n.hosts[a]
	n.mu.RUnlock()
	if h != nil {
		return h
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[a]; h != nil {
		return h
	}
	h = &Host{
		n:        n,
		addr:     a,
		ip:       a.String(),
		up:       true,
		downCh:   make(chan struct{}),
		nextTCP:  ephemeralLow,
		nextUDP:  ephemeralLow,
		conns:    make(map[*conn]struct{}),
		connPort: make(map[uint16]*conn),
	}
	n.hosts[a] = h
	return h
}

// lookup returns the host with address a, or nil.
func (n *Net) lookup(a netip.Addr) *Host {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.hosts[a]
}

// Close closes every connection, listener and packet socket of the network
// and releases every goroutine waiting in it. Later operations fail.
func (n *Net) Close() {
	n.mu.Lock()
	if n.closed.Swap(true) {
		n.mu.Unlock()
		return
	}
	close(n.done)
	hosts := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hosts = append(hosts, h)
	}
	n.mu.Unlock()
	for _, h := range hosts {
		h.teardown(kindNone)
	}
}

// SetLatency sets the one-way latency from IP a to IP b to fn(a, b), for
// data sent from now on. Negative values count as zero. A nil fn restores
// the default, a deterministic 5–60 ms per pair of IPs.
func (n *Net) SetLatency(fn func(a, b string) time.Duration) {
	if fn == nil {
		n.latency.Store(nil)
		return
	}
	n.latency.Store(&fn)
}

// SetLoss sets the probability, clamped to [0, 1], that a datagram is lost.
// Stream connections are reliable.
func (n *Net) SetLoss(p float64) {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	if p > 1 {
		p = 1
	}
	n.loss.Store(math.Float64bits(p))
}

// Partition splits the network: hosts in different groups cannot reach each
// other, while hosts in no group reach all. It replaces any earlier
// partition. Data already in flight between separated hosts on stream
// connections stalls until Heal; new dials across the split black hole and
// datagrams are dropped. Invalid IPs are ignored.
func (n *Net) Partition(groups ...[]string) {
	g := make(map[netip.Addr]int)
	for i, grp := range groups {
		for _, ip := range grp {
			if a, err := netip.ParseAddr(ip); err == nil {
				g[a.Unmap()] = i + 1
			}
		}
	}
	n.setTopology(&topology{group: g, changed: make(chan struct{})})
}

// Heal ends any partition.
func (n *Net) Heal() {
	n.setTopology(&topology{changed: make(chan struct{})})
}

func (n *Net) setTopology(t *topology) {
	old := n.topo.Swap(t)
	close(old.changed)
}

// lat returns the one-way latency from a to b.
func (n *Net) lat(a, b netip.Addr) time.Duration {
	if fn := n.latency.Load(); fn != nil {
		return max((*fn)(a.String(), b.String()), 0)
	}
	if a == b {
		return 0
	}
	if b.Less(a) {
		a, b = b, a
	}
	h := mix(n.seed ^ 0x9e3779b97f4a7c15)
	for _, x := range [2]netip.Addr{a, b} {
		s := x.As16()
		var hi, lo uint64
		for i := range 8 {
			hi = hi<<8 | uint64(s[i])
			lo = lo<<8 | uint64(s[8+i])
		}
		h = mix(h ^ hi)
		h = mix(h ^ lo)
	}
	return minLatency + time.Duration(h%uint64(maxLatency-minLatency+1))
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// lost draws whether a datagram is lost.
func (n *Net) lost() bool {
	p := math.Float64frombits(n.loss.Load())
	if p <= 0 {
		return false
	}
	n.rngMu.Lock()
	defer n.rngMu.Unlock()
	return n.rng.Float64() < p
}

// sleep waits d, or until ctx is done, down is closed or the network is
// closed; it returns nil only if d passed.
func (n *Net) sleep(ctx context.Context, down <-chan struct{}, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-down:
		return errDown
	case <-n.done:
		return net.ErrClosed
	}
}

// Host is one machine of a Net, with one IP address. It implements the
// overlay.Network method set: Dial, Listen and ListenPacket.
type Host struct {
	n    *Net
	addr netip.Addr // invalid for a detached host
	ip   string
	nat  atomic.Bool

	mu       sync.Mutex
	up       bool
	downCh   chan struct{} // closed when the host goes down
	nextTCP  int
	nextUDP  int
	listen   map[uint16]*listener
	packets  map[uint16]*packetConn
	conns    map[*conn]struct{}
	connPort map[uint16]*conn // local ports of outgoing connections
}

// IP returns the host's IP address.
func (h *Host) IP() string { return h.ip }

// SetNAT puts the host behind a NAT (port-restricted cone) if behind is
// true, or takes it out. Behind NAT, inbound dials black hole and datagrams
// are accepted only from addresses the receiving socket sent to before.
func (h *Host) SetNAT(behind bool) { h.nat.Store(behind) }

// Down crashes the host: its connections, listeners and packet sockets are
// closed, and the peers of its connections read a connection reset after
// the latency. Dials to it black hole until Up.
func (h *Host) Down() {
	if !h.addr.IsValid() {
		return
	}
	h.mu.Lock()
	if !h.up {
		h.mu.Unlock()
		return
	}
	h.up = false
	close(h.downCh)
	h.mu.Unlock()
	h.teardown(kindReset)
}

// Up restarts a crashed host, with no listeners or sockets open.
func (h *Host) Up() {
	if !h.addr.IsValid() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up {
		return
	}
	h.up = true
	h.downCh = make(chan struct{})
}

// teardown closes everything the host has open, sending kind (a reset, or
// nothing) to the peers of its connections.
func (h *Host) teardown(kind chunkKind) {
	h.mu.Lock()
	conns := h.conns
	ls := h.listen
	pcs := h.packets
	h.conns = make(map[*conn]struct{})
	h.connPort = make(map[uint16]*conn)
	h.listen = nil
	h.packets = nil
	h.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	for _, pc := range pcs {
		pc.close()
	}
	for c := range conns {
		c.shutdown(kind)
	}
}

// usable reports why the host cannot open sockets, or nil. h.mu is held.
func (h *Host) usable() error {
	switch {
	case h.n.closed.Load():
		return net.ErrClosed
	case !h.up:
		return errDown
	}
	return nil
}

// ephemeral picks a free local port from the ephemeral range. h.mu is held.
func (h *Host) ephemeral(next *int, used func(uint16) bool) (uint16, error) {
	for range ephemeralHigh - ephemeralLow + 1 {
		p := *next
		*next++
		if *next > ephemeralHigh {
			*next = ephemeralLow
		}
		if !used(uint16(p)) {
			return uint16(p), nil
		}
	}
	return 0, os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)
}

// forget drops c from the host's open connections. h.mu is not held.
func (h *Host) forget(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	if h.connPort[c.laddr.Port()] == c {
		delete(h.connPort, c.laddr.Port())
	}
	h.mu.Unlock()
}

// errDown is the error of operations on a host that is down.
var errDown = os.NewSyscallError("connect", syscall.ENETDOWN)

var errDetached = errors.New("sim: host has no valid IP address")

// parseHostPort splits addr into an IP and a port. An empty host, or
// "localhost", is the host itself.
func (h *Host) parseHostPort(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: addr}
	}
	if host == "" || host == "localhost" {
		return netip.AddrPortFrom(h.addr, uint16(p)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, &net.AddrError{Err: "not an IP address", Addr: addr}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// bindPort parses a local address to bind: its IP must be the host's or
// unspecified.
func (h *Host) bindPort(addr string) (uint16, error) {
	ap, err := h.parseHostPort(addr)
	if err != nil {
		return 0, err
	}
	if a := ap.Addr(); a != h.addr && !a.IsUnspecified() {
		return 0, os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)
	}
	return ap.Port(), nil
}

// opError wraps err as the net package does. src and dst may be nil.
func opError(op, network string, src, dst net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}

// tcpAddr returns ap as a net.Addr, or nil if ap is invalid.
func tcpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// udpAddr returns ap as a net.Addr, or nil if ap is invalid.
func udpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}

// waker lets goroutines wait for a change to state guarded by a mutex: wait
// (under the mutex) returns a channel that wake (under the mutex) closes. A
// channel is made only when someone waits.
type waker struct{ ch chan struct{} }

func (w *waker) wait() <-chan struct{} {
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *waker) wake() {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// block waits until wake or extra is ready, or until at if at is not zero.
func block(wake, extra <-chan struct{}, at time.Time) {
	if at.IsZero() {
		select {
		case <-wake:
		case <-extra:
		}
		return
	}
	d := time.Until(at)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	select {
	case <-wake:
	case <-extra:
	case <-t.C:
	}
	t.Stop()
}

// earliest returns the earlier of a and b, where zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// passed reports whether deadline d is set and not after now.
func passed(d, now time.Time) bool { return !d.IsZero() && !now.Before(d) }
