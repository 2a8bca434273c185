package overlay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// alpn is the TLS application protocol of overlay links; the frame version
// inside it is negotiated per frame (see package wire).
const alpn = "parley/1"

// writeTimeout bounds one frame write, so a peer that stops reading cannot
// block its writer forever.
const writeTimeout = 10 * time.Second

// peerKey extracts the ed25519 key from the peer's certificate chain.
// TLS 1.3's CertificateVerify has already proved the peer holds its private half.
func peerKey(cs tls.ConnectionState) (ed25519.PublicKey, error) {
	if len(cs.PeerCertificates) != 1 {
		return nil, fmt.Errorf("%w: %d certificates", ErrBadPeerCertificate, len(cs.PeerCertificates))
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is %T", ErrBadPeerCertificate, cs.PeerCertificates[0].PublicKey)
	}
	return pub, nil
}

// tlsConfig returns the TLS configuration for one side of a link. expect, if
// not zero, is the NodeID the peer must have.
func tlsConfig(cert tls.Certificate, server bool, expect identity.NodeID) *tls.Config {
	cfg := &tls.Config{
		Certificates:       []tls.Certificate{cert},
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{alpn},
		InsecureSkipVerify: true, // there is no CA: VerifyConnection checks the key instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			pub, err := peerKey(cs)
			if err != nil {
				return err
			}
			if got := identity.NodeIDOf(pub); !expect.IsZero() && got != expect {
				return fmt.Errorf("%w: got %s, want %s", ErrNodeIDMismatch, got.Short(), expect.Short())
			}
			return nil
		},
	}
	if server {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg
}

// Link is an authenticated, encrypted overlay connection to one peer that
// carries wire frames. Send may be called from any goroutine; Recv from one.
type Link struct {
	conn    net.Conn
	peer    identity.NodeID
	peerKey ed25519.PublicKey

	wmu  sync.Mutex // serialises Send
	rbuf []byte     // owned by the Recv goroutine
	// refused counts frames refused as unreadable (see Refuse); owned by
	// the Recv goroutine.
	refused int
	calls   pending // requests in flight (see Call)

	closeOnce sync.Once
	done      chan struct{}
}

func newLink(conn *tls.Conn) (*Link, error) {
	pub, err := peerKey(conn.ConnectionState())
	if err != nil {
		return nil, err
	}
	return &Link{conn: conn, peer: identity.NodeIDOf(pub), peerKey: pub, done: make(chan struct{})}, nil
}

// DialLink connects to addr over network and authenticates the peer. If
// expect is not zero, a peer with any other NodeID is refused with
// ErrNodeIDMismatch (a zero expect accepts any key: used for seeds whose
// NodeID is not known in advance).
func DialLink(ctx context.Context, network Network, id *identity.Identity, addr string, expect identity.NodeID) (*Link, error) {
	cert, err := id.Certificate()
	if err != nil {
		return nil, err
	}
	return dialLink(ctx, network, cert, addr, expect)
}

func dialLink(ctx context.Context, network Network, cert tls.Certificate, addr string, expect identity.NodeID) (*Link, error) {
	raw, err := network.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, tlsConfig(cert, false, expect))
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeError(err)
	}
	l, err := newLink(conn)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return l, nil
}

// acceptLink runs the server side of the TLS handshake on raw.
func acceptLink(ctx context.Context, raw net.Conn, cfg *tls.Config) (*Link, error) {
	conn := tls.Server(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeError(err)
	}
	l, err := newLink(conn)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return l, nil
}

// handshakeError keeps our own sentinel errors visible through tls's wrapping.
func handshakeError(err error) error {
	for _, sentinel := range []error{ErrNodeIDMismatch, ErrBadPeerCertificate} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("overlay: TLS handshake: %w", err)
}

// Peer returns the NodeID the peer proved it holds.
func (l *Link) Peer() identity.NodeID { return l.peer }

// PeerKey returns the peer's public key.
func (l *Link) PeerKey() ed25519.PublicKey { return l.peerKey }

// RemoteAddr returns the peer's network address.
func (l *Link) RemoteAddr() net.Addr { return l.conn.RemoteAddr() }

// Send writes one message.
func (l *Link) Send(m wire.Message) error {
	b, err := wire.Append(nil, m)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	select {
	case <-l.done:
		return ErrClosed
	default:
	}
	l.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = l.conn.Write(b)
	return err
}

// Recv reads one message, waiting at most timeout (forever if zero). A
// malformed frame is returned as an error; the caller closes the link.
func (l *Link) Recv(timeout time.Duration) (wire.Message, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	l.conn.SetReadDeadline(deadline)
	m, err := wire.Read(l.conn, l.rbuf)
	if err != nil {
		select {
		case <-l.done:
			return nil, ErrClosed
		default:
		}
	}
	return m, err
}

// maxRefusedFrames is how many unreadable frames a link refuses one by one
// before it is closed: a peer that sends nothing else is broken or hostile.
const maxRefusedFrames = 64

// Refuse reports whether the link may go on after Recv returned err: true
// for a frame read whole but not understood (wire.Skippable), up to
// maxRefusedFrames in the link's life. Such a frame is dropped alone, so an
// older peer's oversized list costs that one message, not the link and a
// storm of logins. Called from the Recv goroutine.
func (l *Link) Refuse(err error) bool {
	if !wire.Skippable(err) {
		return false
	}
	l.refused++
	return l.refused <= maxRefusedFrames
}

// Close closes the link. A non-empty reason is sent to the peer first as a
// Bye, best effort.
func (l *Link) Close(reason string) error {
	var err error
	l.closeOnce.Do(func() {
		if reason != "" {
			l.wmu.Lock()
			l.conn.SetWriteDeadline(time.Now().Add(time.Second))
			b, _ := wire.Append(nil, &wire.Bye{Reason: reason})
			l.conn.Write(b)
			l.wmu.Unlock()
		}
		close(l.done)
		err = l.conn.Close()
	})
	return err
}

// Done returns a channel closed when the link is closed by Close.
func (l *Link) Done() <-chan struct{} { return l.done }

// keepalive sends a Ping on l every interval until l is closed or stop is
// closed. The peer answers with Pongs, which keep the peer's read deadline
// (three intervals) from expiring on a healthy link.
func keepalive(l *Link, c Clock, every time.Duration, stop <-chan struct{}) {
	keepaliveWith(l, c, func() time.Duration { return every }, stop, nil)
}

// keepaliveWith is keepalive with the interval asked of every before each
// Ping, and fill, if not nil, adding to each.
func keepaliveWith(l *Link, c Clock, every func() time.Duration, stop <-chan struct{}, fill func(*wire.Ping)) {
	var seq uint64
	for {
		select {
		case <-stop:
			return
		case <-l.Done():
			return
		case <-c.After(every()):
		}
		seq++
		p := &wire.Ping{Seq: seq}
		if fill != nil {
			fill(p)
		}
		if err := l.Send(p); err != nil {
			l.Close("")
			return
		}
	}
}
