package overlay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// Reachability. A peer that offers to serve as a supernode listens on one
// port for TCP and UDP. A verifying supernode dials it back on both: a TLS
// link (the candidate must hold the expected key) that echoes a Probe
// nonce, and a UDP datagram "PRLY"+nonce that the candidate echoes to the
// sender. A peer behind a NAT or firewall fails one or both, so it is never
// endorsed and never promoted.

// probeMagic starts a UDP reachability probe.
var probeMagic = []byte("PRLY")

const probeTimeout = 3 * time.Second

// answerProbes serves a verifier's dial-back link: it echoes Probe nonces
// until the link ends.
func answerProbes(l *Link) {
	defer l.Close("")
	for {
		m, err := l.Recv(probeTimeout)
		if err != nil {
			return
		}
		p, ok := m.(*wire.Probe)
		if !ok {
			return
		}
		if l.Send(p) != nil {
			return
		}
	}
}

// udpEcho answers UDP probes on pc until it is closed.
func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 64)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n == len(probeMagic)+8 && bytes.HasPrefix(buf[:n], probeMagic) {
			pc.WriteTo(buf[:n], from)
		}
	}
}

// checkReachable dials candidate back at addr over TCP (a TLS link to the
// expected key that echoes a nonce) and UDP (an echoed datagram), from
// localHost. It returns nil if both answered.
func checkReachable(ctx context.Context, network Network, id *identity.Identity, candidate identity.NodeID, addr, localHost string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*probeTimeout)
	defer cancel()
	nonce := rand.Uint64()
	l, err := DialLink(ctx, network, id, addr, candidate)
	if err != nil {
		return fmt.Errorf("tcp dial-back: %w", err)
	}
	defer l.Close("")
	if err := l.Send(&wire.Hello{Role: wire.RoleProbe}); err != nil {
		return fmt.Errorf("tcp dial-back: %w", err)
	}
	if err := l.Send(&wire.Probe{Nonce: nonce}); err != nil {
		return fmt.Errorf("tcp dial-back: %w", err)
	}
	m, err := l.Recv(probeTimeout)
	if p, ok := m.(*wire.Probe); err != nil || !ok || p.Nonce != nonce {
		return fmt.Errorf("tcp dial-back: no echo (%v)", err)
	}
	pc, err := network.ListenPacket(net.JoinHostPort(localHost, "0"))
	if err != nil {
		return fmt.Errorf("udp dial-back: %w", err)
	}
	defer pc.Close()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("udp dial-back: %w", err)
	}
	msg := binary.BigEndian.AppendUint64(append([]byte(nil), probeMagic...), nonce)
	buf := make([]byte, 64)
	for try := range 3 {
		if _, err := pc.WriteTo(msg, to); err != nil {
			return fmt.Errorf("udp dial-back: %w", err)
		}
		pc.SetReadDeadline(time.Now().Add(probeTimeout / 3 * time.Duration(try+1) / 2))
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				break // timed out: send again
			}
			if bytes.Equal(buf[:n], msg) {
				return nil
			}
		}
	}
	return errors.New("udp dial-back: no echo")
}

// CandidateConfig configures a Candidate.
type CandidateConfig struct {
	Identity *identity.Identity
	Network  Network // default TCP{}
	Logger   *slog.Logger
	// Listen is the address (host:port) to listen on, TCP and UDP.
	Listen string
}

// Candidate is a leaf's standing offer to serve as a supernode: it listens
// on one port, TCP and UDP, and answers verifiers' dial-back probes. When
// the peer is promoted, Close releases the port to its Supernode.
type Candidate struct {
	cfg  CandidateConfig
	ln   net.Listener
	pc   net.PacketConn
	wg   sync.WaitGroup
	once sync.Once
}

// ListenCandidate opens the candidate's TCP and UDP sockets.
func ListenCandidate(cfg CandidateConfig) (*Candidate, error) {
	if cfg.Network == nil {
		cfg.Network = TCP{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := cfg.Network.Listen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("overlay: candidate listen: %w", err)
	}
	pc, err := cfg.Network.ListenPacket(ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("overlay: candidate listen udp: %w", err)
	}
	c := &Candidate{cfg: cfg, ln: ln, pc: pc}
	cert, err := cfg.Identity.Certificate()
	if err != nil {
		c.Close()
		return nil, err
	}
	conf := tlsConfig(cert, true, identity.NodeID{})
	c.wg.Add(2)
	go func() { defer c.wg.Done(); udpEcho(pc) }()
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				defer cancel()
				l, err := acceptLink(ctx, conn, conf)
				if err != nil {
					return
				}
				m, err := l.Recv(probeTimeout)
				if h, ok := m.(*wire.Hello); err == nil && ok && h.Role == wire.RoleProbe {
					answerProbes(l)
					return
				}
				l.Close("not a supernode")
			}()
		}
	}()
	return c, nil
}

// Addr returns the address the candidate listens on.
func (c *Candidate) Addr() string { return c.ln.Addr().String() }

// Close stops listening and waits for the probe handlers to end.
func (c *Candidate) Close() {
	c.once.Do(func() {
		c.ln.Close()
		c.pc.Close()
		c.wg.Wait()
	})
}
