package sim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// network is overlay.Network, repeated here so that the tests check the
// method set without importing overlay.
type network interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
	Listen(addr string) (net.Listener, error)
	ListenPacket(addr string) (net.PacketConn, error)
}

var _ network = (*Host)(nil)

const lat = 20 * time.Millisecond

// fixed returns a net with a constant one-way latency of lat.
func fixed(t *testing.T) *Net {
	n := NewNet(1)
	n.SetLatency(func(a, b string) time.Duration { return lat })
	t.Cleanup(n.Close)
	return n
}

// echo serves l, echoing every connection, until l is closed.
func echo(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func mustListen(t *testing.T, h *Host, addr string) net.Listener {
	t.Helper()
	l, err := h.Listen(addr)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustDial(t *testing.T, h *Host, addr string) net.Conn {
	t.Helper()
	c, err := h.Dial(t.Context(), addr)
	if err != nil {
		t.Fatalf("Dial(%q): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEchoRTT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		go echo(mustListen(t, b, ":4717"))

		start := time.Now()
		c := mustDial(t, a, "127.0.0.2:4717")
		if d := time.Since(start); d != 2*lat {
			t.Errorf("dial took %v, want %v", d, 2*lat)
		}
		if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.IP.String() != "127.0.0.1" || la.Port < ephemeralLow {
			t.Errorf("LocalAddr = %v", c.LocalAddr())
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != "127.0.0.2:4717" {
			t.Errorf("RemoteAddr = %v", c.RemoteAddr())
		}
		for i := range 3 {
			msg := fmt.Appendf(nil, "ping %d", i)
			start = time.Now()
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 2*lat {
				t.Errorf("round trip %d took %v, want %v", i, d, 2*lat)
			}
			if !bytes.Equal(buf, msg) {
				t.Errorf("echo = %q, want %q", buf, msg)
			}
		}
	})
}

func TestDefaultLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n1, n2, n3 := NewNet(7), NewNet(7), NewNet(8)
		defer n1.Close()
		defer n2.Close()
		defer n3.Close()
		a, b := n1.Host("10.0.0.1"), n1.Host("10.0.0.2")
		la, lb := a.addr, b.addr
		differ := 0
		for i := range 100 {
			x := n1.Host(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)).addr
			d := n1.lat(la, x)
			if d < minLatency || d > maxLatency {
				t.Fatalf("latency %v out of range", d)
			}
			if d != n1.lat(x, la) {
				t.Fatalf("latency not symmetric")
			}
			if d != n2.lat(la, x) {
				t.Fatalf("same seed, different latency")
			}
			if d != n3.lat(la, x) {
				differ++
			}
		}
		if differ < 90 {
			t.Errorf("only %d of 100 latencies differ between seeds", differ)
		}
		if n1.lat(la, la) != 0 {
			t.Errorf("latency to self = %v", n1.lat(la, la))
		}

		// The measured round trip is twice the one-way latency.
		go echo(mustListen(t, b, ":1"))
		start := time.Now()
		mustDial(t, a, "10.0.0.2:1")
		if d := time.Since(start); d != 2*n1.lat(la, lb) {
			t.Errorf("dial took %v, want %v", d, 2*n1.lat(la, lb))
		}
	})
}

// selfSigned returns a TLS certificate with a fresh ed25519 key.
func selfSigned(t *testing.T) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sim"},
		DNSNames:     []string{"sim"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, leaf
}

func TestTLS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		cert, leaf := selfSigned(t)
		l := mustListen(t, b, "127.0.0.2:443")
		srvErr := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				srvErr <- err
				return
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
			defer tc.Close()
			_, err = io.Copy(tc, tc)
			srvErr <- err
		}()

		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		raw := mustDial(t, a, "127.0.0.2:443")
		tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "sim", MinVersion: tls.VersionTLS13})
		start := time.Now()
		if err := tc.HandshakeContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("version %x", v)
		}
		if d := time.Since(start); d != 2*lat {
			t.Errorf("TLS 1.3 handshake took %v, want one round trip %v", d, 2*lat)
		}

		data := bytes.Repeat([]byte("0123456789abcdef"), 8192) // several records
		go tc.Write(data)
		got := make([]byte, len(data))
		if _, err := io.ReadFull(tc, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Error("echoed data differs")
		}
		if err := tc.Close(); err != nil {
			t.Error(err)
		}
		if err := <-srvErr; err != nil {
			t.Errorf("server: %v", err)
		}
	})
}

func TestEOFAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		l := mustListen(t, b, ":80")
		c := mustDial(t, a, "127.0.0.2:80")
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c.Write([]byte("hello, "))
		c.Write([]byte("world"))
		sent := time.Now()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v", err)
		}

		// Partial reads with a small buffer, then EOF.
		var got []byte
		buf := make([]byte, 3)
		for {
			k, err := s.Read(buf)
			got = append(got, buf[:k]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != "hello, world" {
			t.Errorf("read %q", got)
		}
		if d := time.Since(sent); d != lat {
			t.Errorf("data and EOF arrived after %v, want %v", d, lat)
		}
		if _, err := s.Read(buf); err != io.EOF {
			t.Errorf("Read after EOF: %v", err)
		}
		// Writing to a peer that closed is not an error, as with TCP.
		if _, err := s.Write([]byte("late")); err != nil {
			t.Errorf("Write to closed peer: %v", err)
		}
	})
}

func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		l := mustListen(t, b, ":80")
		c := mustDial(t, a, "127.0.0.2:80")
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()

		start := time.Now()
		c.SetReadDeadline(start.Add(100 * time.Millisecond))
		_, err = c.Read(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want deadline exceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("error %v is not a net.Error timeout", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("timed out after %v", d)
		}

		// Extending the deadline from another goroutine wakes a blocked Read
		// and it then gets data.
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		go func() {
			time.Sleep(10 * time.Millisecond)
			c.SetReadDeadline(time.Time{})
			time.Sleep(100 * time.Millisecond)
			s.Write([]byte("late"))
		}()
		start = time.Now()
		buf := make([]byte, 10)
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) != "late" {
			t.Fatalf("Read = %q, %v", buf[:k], err)
		}
		if d := time.Since(start); d != 110*time.Millisecond+lat {
			t.Errorf("read after %v", d)
		}

		// A past write deadline fails writes.
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Write: %v, want deadline exceeded", err)
		}
		c.SetDeadline(time.Time{})
		if _, err := c.Write([]byte("x")); err != nil {
			t.Errorf("Write: %v", err)
		}

		// Accept deadline.
		dl := l.(interface{ SetDeadline(time.Time) error })
		dl.SetDeadline(time.Now().Add(time.Second))
		if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Accept: %v, want deadline exceeded", err)
		}
	})
}

func TestDialDownHostBlackHoles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		mustListen(t, b, ":80")
		b.Down()
		for _, addr := range []string{"127.0.0.2:80", "127.0.0.99:80"} { // down, and no such host
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			start := time.Now()
			c, err := a.Dial(ctx, addr)
			cancel()
			if c != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial(%s) = %v, %v; want context deadline", addr, c, err)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("Dial(%s) returned after %v", addr, d)
			}
		}

		// Without a deadline, the dial gives up as a kernel does.
		start := time.Now()
		_, err := a.Dial(context.Background(), "127.0.0.2:80")
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Errorf("Dial: %v, want ETIMEDOUT", err)
		}
		if d := time.Since(start); d != connectTimeout {
			t.Errorf("Dial gave up after %v", d)
		}

		// A dial from a host that goes down fails then.
		go func() {
			time.Sleep(time.Second)
			a.Down()
		}()
		start = time.Now()
		if _, err := a.Dial(context.Background(), "127.0.0.2:80"); err == nil {
			t.Error("dial from crashed host succeeded")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Dial from crashing host returned after %v", d)
		}
		// And from a host that is down, at once.
		start = time.Now()
		if _, err := a.Dial(context.Background(), "127.0.0.2:80"); err == nil || time.Since(start) != 0 {
			t.Errorf("dial from down host: %v after %v", err, time.Since(start))
		}
		if _, err := a.Listen(":80"); err == nil {
			t.Error("Listen on down host succeeded")
		}
		if _, err := a.ListenPacket(":80"); err == nil {
			t.Error("ListenPacket on down host succeeded")
		}
	})
}

func TestDialRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a := n.Host("127.0.0.1")
		n.Host("127.0.0.2")
		start := time.Now()
		_, err := a.Dial(t.Context(), "127.0.0.2:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial: %v, want connection refused", err)
		}
		if d := time.Since(start); d != 2*lat {
			t.Errorf("refused after %v, want %v", d, 2*lat)
		}
	})
}

func TestDownResetsPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("127.0.0.1"), n.Host("127.0.0.2")
		l := mustListen(t, b, ":80")
		pc, err := b.ListenPacket(":80")
		if err != nil {
			t.Fatal(err)
		}
		c := mustDial(t, a, "127.0.0.2:80")
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte("last words"))

		type result struct {
			err error
			at  time.Duration
		}
		start := time.Now()
		srvRead := make(chan result, 1)
		go func() {
			_, err := s.Read(make([]byte, 1))
			srvRead <- result{err, time.Since(start)}
		}()
		acc := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			acc <- err
		}()
		udp := make(chan error, 1)
		go func() {
			_, _, err := pc.ReadFrom(make([]byte, 10))
			udp <- err
		}()
		synctest.Wait()
		b.Down()

		// The local side sees its sockets closed.
		if r := <-srvRead; !errors.Is(r.err, net.ErrClosed) || r.at != 0 {
			t.Errorf("local Read: %v at %v, want net.ErrClosed at once", r.err, r.at)
		}
		if err := <-acc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept: %v", err)
		}
		if err := <-udp; !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom: %v", err)
		}
		// The peer reads what was sent, then a reset after the latency.
		buf := make([]byte, 100)
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) != "last words" {
			t.Errorf("Read = %q, %v", buf[:k], err)
		}
		_, err = c.Read(buf)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read: %v, want connection reset", err)
		}
		if d := time.Since(start); d != lat {
			t.Errorf("reset after %v, want %v", d, lat)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Write after reset: %v", err)
		}

		// Up: no listeners until the code listens again.
		b.Up()
		if _, err := a.Dial(t.Context(), "127.0.0.2:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial after Up: %v, want refused", err)
		}
		go echo(mustListen(t, b, ":80"))
		c2 := mustDial(t, a, "127.0.0.2:80")
		c2.Write([]byte("hi"))
		if _, err := io.ReadFull(c2, buf[:2]); err != nil {
			t.Error(err)
		}
	})
}

func TestNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		nat, pub, other := n.Host("10.0.0.1"), n.Host("10.0.0.2"), n.Host("10.0.0.3")
		nat.SetNAT(true)
		mustListen(t, nat, ":80")

		// Inbound dials black hole.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := pub.Dial(ctx, "10.0.0.1:80")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("inbound dial: %v, want black hole", err)
		}

		// Outbound dials work both ways.
		go echo(mustListen(t, pub, ":80"))
		c := mustDial(t, nat, "10.0.0.2:80")
		c.Write([]byte("out"))
		buf := make([]byte, 3)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "out" {
			t.Errorf("echo over outbound conn: %q, %v", buf, err)
		}

		// UDP: only from addresses the NAT host sent to.
		npc, _ := nat.ListenPacket(":5000")
		ppc, _ := pub.ListenPacket(":5000")
		ppc2, _ := pub.ListenPacket(":5001")
		opc, _ := other.ListenPacket(":5000")
		natAddr := npc.LocalAddr()
		ppc.WriteTo([]byte("unsolicited"), natAddr)
		time.Sleep(2 * lat)
		npc.WriteTo([]byte("hello"), ppc.LocalAddr())
		k, from, err := ppc.ReadFrom(buf[:])
		if err != nil || from.String() != "10.0.0.1:5000" {
			t.Fatalf("pub ReadFrom = %d, %v, %v", k, from, err)
		}
		ppc.WriteTo([]byte("reply"), from)
		ppc2.WriteTo([]byte("other port"), from)
		opc.WriteTo([]byte("other host"), from)
		got := make([]byte, 20)
		k, from, err = npc.ReadFrom(got)
		if err != nil || string(got[:k]) != "reply" || from.String() != "10.0.0.2:5000" {
			t.Errorf("NAT ReadFrom = %q from %v, %v; want reply", got[:k], from, err)
		}
		npc.SetReadDeadline(time.Now().Add(time.Second))
		if k, from, err := npc.ReadFrom(got); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("NAT ReadFrom = %q from %v, %v; want nothing more", got[:k], from, err)
		}

		// Without NAT the unsolicited datagram is delivered.
		nat.SetNAT(false)
		npc.SetReadDeadline(time.Time{})
		opc.WriteTo([]byte("other host"), natAddr)
		if k, _, err := npc.ReadFrom(got); err != nil || string(got[:k]) != "other host" {
			t.Errorf("ReadFrom = %q, %v", got[:k], err)
		}
	})
}

func TestPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b, c := n.Host("10.0.0.1"), n.Host("10.0.0.2"), n.Host("10.0.0.3")
		lb := mustListen(t, b, ":80")
		go echo(mustListen(t, c, ":80"))
		ab := mustDial(t, a, "10.0.0.2:80")
		ba, err := lb.Accept()
		if err != nil {
			t.Fatal(err)
		}
		bpc, _ := b.ListenPacket(":80")
		apc, _ := a.ListenPacket(":80")

		n.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2"})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		if _, err := a.Dial(ctx, "10.0.0.2:80"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("dial across partition: %v", err)
		}
		cancel()
		// c is in no group: it reaches both.
		mustDial(t, a, "10.0.0.3:80")
		mustDial(t, b, "10.0.0.3:80")
		// Datagrams across are dropped.
		apc.WriteTo([]byte("lost"), bpc.LocalAddr())
		// Data on an existing connection stalls until the partition heals.
		ab.Write([]byte("stalled"))
		healAt := time.Now().Add(5 * time.Second)
		go func() {
			time.Sleep(time.Until(healAt))
			n.Heal()
		}()
		buf := make([]byte, 20)
		k, err := ba.Read(buf)
		if err != nil || string(buf[:k]) != "stalled" {
			t.Errorf("Read = %q, %v", buf[:k], err)
		}
		if !time.Now().Equal(healAt) {
			t.Errorf("stalled data delivered at %v, want at heal", time.Until(healAt))
		}
		bpc.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := bpc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("datagram across partition: %v", err)
		}
		// After Heal, everything works again.
		ba.Close()
		lb.Close()
		go echo(mustListen(t, b, ":80"))
		mustDial(t, a, "10.0.0.2:80")
		apc.WriteTo([]byte("found"), bpc.LocalAddr())
		bpc.SetReadDeadline(time.Time{})
		if k, _, err := bpc.ReadFrom(buf); err != nil || string(buf[:k]) != "found" {
			t.Errorf("ReadFrom after heal = %q, %v", buf[:k], err)
		}
	})
}

func TestAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		h := n.Host("127.1.2.3")
		if h.IP() != "127.1.2.3" || n.Host("127.1.2.3") != h || n.Host("::ffff:127.1.2.3") != h {
			t.Error("Host is not create-or-get")
		}
		l := mustListen(t, h, "127.1.2.3:4717")
		if l.Addr().String() != "127.1.2.3:4717" {
			t.Errorf("Addr = %v", l.Addr())
		}
		if _, ok := l.Addr().(*net.TCPAddr); !ok {
			t.Errorf("Addr is %T", l.Addr())
		}
		if _, err := h.Listen(":4717"); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second Listen: %v, want address in use", err)
		}
		// TCP and UDP port spaces are separate.
		pc, err := h.ListenPacket(l.Addr().String())
		if err != nil {
			t.Fatalf("ListenPacket on the TCP port: %v", err)
		}
		if _, ok := pc.LocalAddr().(*net.UDPAddr); !ok || pc.LocalAddr().String() != "127.1.2.3:4717" {
			t.Errorf("LocalAddr = %v", pc.LocalAddr())
		}
		if _, err := h.ListenPacket("0.0.0.0:4717"); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second ListenPacket: %v, want address in use", err)
		}
		// Closing frees the port.
		l.Close()
		if l2, err := h.Listen(":4717"); err != nil {
			t.Errorf("Listen after Close: %v", err)
		} else {
			l2.Close()
		}
		// Port 0 picks an ephemeral port.
		l0 := mustListen(t, h, ":0")
		if p := l0.Addr().(*net.TCPAddr).Port; p < ephemeralLow {
			t.Errorf("ephemeral port %d", p)
		}
		pc0, err := h.ListenPacket("127.1.2.3:0")
		if err != nil || pc0.LocalAddr().(*net.UDPAddr).Port < ephemeralLow {
			t.Errorf("ListenPacket :0 = %v, %v", pc0.LocalAddr(), err)
		}
		// Another host's IP cannot be bound.
		if _, err := h.Listen("127.9.9.9:1"); err == nil {
			t.Error("Listen on another IP succeeded")
		}
		// Bad input gives errors, not panics.
		for _, bad := range []string{"", "nonsense", "1.2.3.4", "1.2.3.4:99999", "1.2.3.4:-1", "host:80", "1.2.3.4:http", "[::1"} {
			if _, err := h.Listen(bad); err == nil {
				t.Errorf("Listen(%q) succeeded", bad)
			}
			if _, err := h.ListenPacket(bad); err == nil && bad != "" {
				t.Errorf("ListenPacket(%q) succeeded", bad)
			}
			if _, err := h.Dial(t.Context(), bad); err == nil {
				t.Errorf("Dial(%q) succeeded", bad)
			}
		}
		if _, err := pc.WriteTo([]byte("x"), nil); err == nil {
			t.Error("WriteTo(nil) succeeded")
		}
		if _, err := pc.WriteTo([]byte("x"), &net.UDPAddr{}); err == nil {
			t.Error("WriteTo(empty address) succeeded")
		}
		if _, err := pc.WriteTo(make([]byte, 70000), pc.LocalAddr()); err == nil {
			t.Error("oversized datagram sent")
		}
		bad := n.Host("not an ip")
		if _, err := bad.Listen(":1"); err == nil {
			t.Error("Listen on invalid host succeeded")
		}
		if _, err := bad.Dial(t.Context(), "127.1.2.3:1"); err == nil {
			t.Error("Dial from invalid host succeeded")
		}
		if _, err := bad.ListenPacket(":1"); err == nil {
			t.Error("ListenPacket on invalid host succeeded")
		}
		bad.Down()
		bad.Up()
		bad.SetNAT(true)
	})
}

func TestDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		apc, _ := a.ListenPacket(":0")
		bpc, _ := b.ListenPacket(":9")

		// Delivery after the latency; the sender's address; truncation; a
		// net.Addr that is not a *net.UDPAddr.
		start := time.Now()
		apc.WriteTo([]byte("0123456789"), bpc.LocalAddr())
		apc.WriteTo([]byte("second"), stringAddr("10.0.0.2:9"))
		apc.WriteTo([]byte("nobody"), stringAddr("10.0.0.2:10"))
		buf := make([]byte, 4)
		k, from, err := bpc.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "0123" || from.String() != apc.LocalAddr().String() {
			t.Errorf("ReadFrom = %q from %v, %v", buf[:k], from, err)
		}
		if _, ok := from.(*net.UDPAddr); !ok {
			t.Errorf("from is %T", from)
		}
		if d := time.Since(start); d != lat {
			t.Errorf("arrived after %v", d)
		}
		buf = make([]byte, 10)
		if k, _, err := bpc.ReadFrom(buf); err != nil || string(buf[:k]) != "second" {
			t.Errorf("ReadFrom = %q, %v", buf[:k], err)
		}

		// Loss.
		n.SetLoss(1)
		for range 100 {
			apc.WriteTo([]byte("lost"), bpc.LocalAddr())
		}
		bpc.SetReadDeadline(time.Now().Add(time.Second))
		if k, _, err := bpc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("ReadFrom at loss 1 = %q, %v", buf[:k], err)
		}
		// Partial loss is about right and deterministic in the seed.
		n.SetLoss(0.5)
		for range 1000 {
			apc.WriteTo([]byte("x"), bpc.LocalAddr())
		}
		bpc.SetReadDeadline(time.Now().Add(time.Second))
		got := 0
		for {
			if _, _, err := bpc.ReadFrom(buf); err != nil {
				break
			}
			got++
		}
		if got < 400 || got > 600 {
			t.Errorf("%d of 1000 arrived at loss 0.5", got)
		}
		n.SetLoss(0)
		apc.WriteTo([]byte("kept"), bpc.LocalAddr())
		bpc.SetReadDeadline(time.Time{})
		if k, _, err := bpc.ReadFrom(buf); err != nil || string(buf[:k]) != "kept" {
			t.Errorf("ReadFrom at loss 0 = %q, %v", buf[:k], err)
		}

		// Datagrams of different latencies arrive in order of arrival.
		c := n.Host("10.0.0.3")
		cpc, _ := c.ListenPacket(":0")
		n.SetLatency(func(x, y string) time.Duration {
			if x == "10.0.0.3" {
				return 5 * time.Millisecond
			}
			return 50 * time.Millisecond
		})
		apc.WriteTo([]byte("slow"), bpc.LocalAddr())
		cpc.WriteTo([]byte("fast"), bpc.LocalAddr())
		for _, want := range []string{"fast", "slow"} {
			if k, _, err := bpc.ReadFrom(buf); err != nil || string(buf[:k]) != want {
				t.Errorf("ReadFrom = %q, %v; want %q", buf[:k], err, want)
			}
		}

		apc.Close()
		if _, err := apc.WriteTo([]byte("x"), bpc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close: %v", err)
		}
	})
}

type stringAddr string

func (a stringAddr) Network() string { return "udp" }
func (a stringAddr) String() string  { return string(a) }

func TestNetClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNet(3)
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		l, _ := b.Listen(":80")
		c, err := a.Dial(t.Context(), "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		pc, _ := a.ListenPacket(":80")
		b.Down()
		errs := make(chan error, 4)
		go func() { _, err := a.Dial(context.Background(), "10.0.0.2:80"); errs <- err }()
		go func() { _, err := l.Accept(); errs <- err }()
		go func() { _, _, err := pc.ReadFrom(nil); errs <- err }()
		go func() { _, err := io.ReadAll(c); errs <- err }()
		synctest.Wait()
		n.Close()
		for range 4 {
			if err := <-errs; err == nil {
				t.Error("operation succeeded after Close")
			}
		}
		if _, err := a.Dial(t.Context(), "10.0.0.2:80"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Dial after Close: %v", err)
		}
		if _, err := a.Listen(":81"); err == nil {
			t.Error("Listen after Close succeeded")
		}
		n.Close()
	})
}

// TestDialCancelled checks that a connection whose dialer gives up during
// the handshake is reset at the server.
func TestDialCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := fixed(t)
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		l := mustListen(t, b, ":80")
		ctx, cancel := context.WithTimeout(t.Context(), lat+lat/2)
		defer cancel()
		if _, err := a.Dial(ctx, "10.0.0.2:80"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v", err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read: %v, want reset", err)
		}
	})
}

// TestScale has 2,000 hosts dial one server and exchange a message over
// TLS-free streams and a datagram each.
func TestScale(t *testing.T) {
	const hosts = 2000
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		n := NewNet(42)
		defer n.Close()
		srv := n.Host("10.255.255.1")
		go echo(mustListen(t, srv, ":4717"))
		spc, err := srv.ListenPacket(":4717")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 64)
			for {
				k, from, err := spc.ReadFrom(buf)
				if err != nil {
					return
				}
				spc.WriteTo(buf[:k], from)
			}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed []error
		for i := range hosts {
			wg.Go(func() {
				h := n.Host(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
				if i%2 == 0 {
					h.SetNAT(true)
				}
				err := func() error {
					c, err := h.Dial(t.Context(), "10.255.255.1:4717")
					if err != nil {
						return err
					}
					defer c.Close()
					msg := fmt.Appendf(nil, "hello from %d", i)
					if _, err := c.Write(msg); err != nil {
						return err
					}
					buf := make([]byte, len(msg))
					if _, err := io.ReadFull(c, buf); err != nil {
						return err
					}
					if !bytes.Equal(buf, msg) {
						return fmt.Errorf("echo %q", buf)
					}
					pc, err := h.ListenPacket(":0")
					if err != nil {
						return err
					}
					defer pc.Close()
					pc.WriteTo(msg, spc.LocalAddr())
					k, _, err := pc.ReadFrom(buf)
					if err != nil || !bytes.Equal(buf[:k], msg) {
						return fmt.Errorf("udp echo %q, %v", buf[:k], err)
					}
					return nil
				}()
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Errorf("%d hosts failed, e.g. %v", len(failed), failed[0])
		}
		if d := time.Since(start); d > 6*maxLatency {
			t.Errorf("virtual time %v for dial, echo and datagram", d)
		}
	})
	t.Logf("%d hosts in %v wall time", hosts, time.Since(wall))
}

// TestRealTime runs the network outside synctest.
func TestRealTime(t *testing.T) {
	n := NewNet(1)
	defer n.Close()
	n.SetLatency(func(a, b string) time.Duration { return 2 * time.Millisecond })
	a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	go echo(mustListen(t, b, ":80"))
	start := time.Now()
	c := mustDial(t, a, "10.0.0.2:80")
	c.Write([]byte("real"))
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "real" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if d := time.Since(start); d < 8*time.Millisecond {
		t.Errorf("two round trips took %v", d)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read: %v", err)
	}
}
