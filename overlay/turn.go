package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/relay"
	"github.com/parleynet/parley/overlay/wire"
)

// STUN and TURN. A supernode's UDP port carries the dial-back probes of
// elections and, through relay, STUN and TURN for its leaves' calls and
// chats. The port is split here: probe datagrams are echoed, everything
// else goes to the relay server. A leaf asks its supernodes for ICE servers
// and gets short-lived TURN credentials (see package relay).

// ICEServer is a STUN or TURN server a leaf may use, with credentials.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// TURNTTL is how long the TURN credentials a supernode hands out live.
const TURNTTL = 10 * time.Minute

// udpMux splits a supernode's UDP socket between probes and the relay.
type udpMux struct {
	pc     net.PacketConn
	relay  chan datagram
	closed chan struct{}
	once   sync.Once
}

type datagram struct {
	b    []byte
	from net.Addr
}

func newUDPMux(pc net.PacketConn) *udpMux {
	return &udpMux{pc: pc, relay: make(chan datagram, 256), closed: make(chan struct{})}
}

// run reads the socket until it is closed.
func (m *udpMux) run() {
	defer m.close()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := m.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b := buf[:n]
		if n == len(probeMagic)+8 && bytes.HasPrefix(b, probeMagic) {
			m.pc.WriteTo(b, from)
			continue
		}
		select {
		case m.relay <- datagram{bytes.Clone(b), from}:
		default: // the relay is behind: drop, as a busy socket would
		}
	}
}

func (m *udpMux) close() { m.once.Do(func() { close(m.closed) }) }

// relayConn is the relay's side of the mux: a net.PacketConn that reads
// what run passed on and writes to the socket.
type relayConn struct {
	m *udpMux

	mu       sync.Mutex
	deadline time.Time
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.mu.Lock()
	dl := c.deadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case d := <-c.m.relay:
		return copy(p, d.b), d.from, nil
	case <-c.m.closed:
		return 0, nil, net.ErrClosed
	case <-timeout:
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.m.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.m.pc.WriteTo(p, addr)
}

func (c *relayConn) Close() error                  { c.m.close(); return nil }
func (c *relayConn) LocalAddr() net.Addr           { return c.m.pc.LocalAddr() }
func (c *relayConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }
func (c *relayConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
func (c *relayConn) SetWriteDeadline(time.Time) error { return nil }

// relayService is the supernode's STUN and TURN server on its overlay UDP
// port, started on first use, and the credentials it hands leaves.
type relayService struct {
	sn *Supernode

	mu     sync.Mutex
	server *relay.Server // guarded by mu: started on first use
	err    error         // guarded by mu
}

// relayServer returns the supernode's STUN/TURN server, starting it on
// first use (once the supernode knows its public address), or nil if it
// has no UDP port or relaying is off.
func (s *relayService) relayServer() (*relay.Server, string) {
	adv := s.sn.advertised()
	if s.sn.mux == nil || s.sn.cfg.NoRelay || adv == "" {
		return nil, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil || s.err != nil {
		return s.server, adv
	}
	host, _, err := net.SplitHostPort(adv)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		s.err = fmt.Errorf("advertised address %q is not an IP address", adv)
		s.sn.log.Warn("no TURN relay", "err", s.err)
		return nil, ""
	}
	cfg := relay.Config{
		PacketConn:   &relayConn{m: s.sn.mux},
		RelayAddress: ip,
		Logger:       s.sn.log,
		Now:          s.sn.cfg.Clock.Now,
	}
	if s.sn.cfg.TuneRelay != nil {
		s.sn.cfg.TuneRelay(&cfg)
	}
	s.server, s.err = relay.NewServer(cfg)
	if s.err != nil {
		s.sn.log.Warn("no TURN relay", "err", s.err)
	}
	return s.server, adv
}

// iceServers answers a leaf's TurnRequest.
func (s *relayService) iceServers(leaf identity.NodeID) *wire.TurnResult {
	srv, adv := s.relayServer()
	if srv == nil {
		return &wire.TurnResult{}
	}
	now := s.sn.cfg.Clock.Now()
	user, pass := srv.Credentials(leaf.Short(), TURNTTL, now)
	return &wire.TurnResult{
		URLs:     []string{"stun:" + adv, "turn:" + adv + "?transport=udp"},
		Username: user, Password: pass,
		Expires: now.Add(TURNTTL).UnixMilli(),
	}
}

// ICEServers asks the leaf's supernodes (primary and standbys) for STUN
// and TURN servers with fresh credentials. It returns those that answered.
func (l *Leaf) ICEServers(ctx context.Context) ([]ICEServer, error) {
	links := l.currentLinks()
	if len(links) == 0 {
		return nil, fmt.Errorf("%w: not logged in", ErrUnavailable)
	}
	results := make(chan *wire.TurnResult, len(links))
	for _, link := range links {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			m, err := link.Call(cctx, func(id uint64) wire.Message { return &wire.TurnRequest{ReqID: id} })
			r, _ := m.(*wire.TurnResult)
			if err != nil {
				r = nil
			}
			results <- r
		}()
	}
	var out []ICEServer
	for range links {
		if r := <-results; r != nil && len(r.URLs) > 0 {
			out = append(out, ICEServer{URLs: r.URLs, Username: r.Username, Credential: r.Password})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no supernode offers STUN/TURN", ErrUnavailable)
	}
	return out, nil
}
