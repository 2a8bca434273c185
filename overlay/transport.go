package overlay

import (
	"context"
	"net"
	"time"
)

// Network is how overlay code reaches the network. TCP is the real one; the
// simulator supplies an in-memory one, so the same code runs in both.
type Network interface {
	// Dial opens a stream connection to addr (host:port).
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Listen opens a stream listener on addr (host:port).
	Listen(addr string) (net.Listener, error)
	// ListenPacket opens a datagram socket on addr (host:port; port 0 for
	// any): reachability probes, and the supernode's STUN/TURN on its
	// overlay port.
	ListenPacket(addr string) (net.PacketConn, error)
}

// TCP is the Network of real sockets: TCP streams and UDP datagrams.
type TCP struct{}

// Dial implements Network.
func (TCP) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// Listen implements Network.
func (TCP) Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), "tcp", addr)
}

// ListenPacket implements Network with a UDP socket.
func (TCP) ListenPacket(addr string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(context.Background(), "udp", addr)
}

// Clock is how overlay code reads and waits on time. SystemClock is the real
// one; tests may wind a fake one forward. (Code run inside testing/synctest
// can use SystemClock: synctest virtualises the time package itself.)
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the Clock of the time package.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// sleep waits for d on c, or until ctx is done.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.After(d):
		return nil
	}
}
