package relay

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v2"

	"github.com/parleynet/parley/internal/pionlog"
	"github.com/parleynet/parley/internal/testutil"
)

// testLogger logs through t.Log when PARLEY_TEST_LOG is set.
var testLogger = testutil.Logger

func anyPeer(net.IP) bool { return true }

// startServer runs a server on a loopback port; cfg.PacketConn is filled in.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PacketConn = pc
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := NewServer(cfg)
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, pc.LocalAddr().String()
}

// newClient is a pion TURN client on its own loopback socket.
func newClient(t *testing.T, server, username, password string) (*turn.Client, net.PacketConn) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
		LoggerFactory:  pionlog.Factory{Log: testLogger(t), Ceiling: slog.LevelWarn},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c, conn
}

func TestBindingReturnsReflexiveAddress(t *testing.T) {
	_, addr := startServer(t, Config{})
	c, conn := newClient(t, addr, "", "")
	got, err := c.SendBindingRequest()
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != conn.LocalAddr().String() {
		t.Fatalf("reflexive address %s, want the client's %s", got, conn.LocalAddr())
	}
}

func TestCredentialsFormat(t *testing.T) {
	secret := []byte("test secret")
	s, _ := startServer(t, Config{Secret: secret})
	now := time.Unix(1_700_000_000, 0)

	username, password := s.Credentials("alice:laptop", time.Hour, now)
	if want := strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + ":alice:laptop"; username != want {
		t.Fatalf("username %q, want %q", username, want)
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); password != want {
		t.Fatalf("password %q, want %q", password, want)
	}

	username, _ = s.Credentials("bob", 0, now)
	if want := strconv.FormatInt(now.Add(DefaultTTL).Unix(), 10) + ":bob"; username != want {
		t.Fatalf("default TTL: username %q, want %q", username, want)
	}
}

func TestCheckUsername(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s, _ := startServer(t, Config{Now: func() time.Time { return now }})
	exp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	for _, tc := range []struct {
		username, realm string
		allocating      bool
		user            string
	}{
		{exp(time.Minute) + ":alice", DefaultRealm, true, "alice"},
		{exp(time.Minute) + ":a:b", DefaultRealm, true, "a:b"},
		{exp(0) + ":alice", DefaultRealm, true, ""}, // expires now
		{exp(-time.Second) + ":alice", DefaultRealm, true, ""},
		{exp(time.Minute) + ":", DefaultRealm, true, ""},
		{exp(time.Minute), DefaultRealm, true, ""},
		{"soon:alice", DefaultRealm, true, ""},
		{":alice", DefaultRealm, true, ""},
		{"", DefaultRealm, true, ""},
		{"99999999999999999999:alice", DefaultRealm, true, ""},
		{exp(time.Minute) + ":alice", "other", true, ""},
		// Requests on an existing allocation: the refresh grace.
		{exp(-time.Minute) + ":alice", DefaultRealm, false, "alice"},
		{exp(-DefaultRefreshGrace+time.Minute) + ":alice", DefaultRealm, false, "alice"},
		{exp(-DefaultRefreshGrace) + ":alice", DefaultRealm, false, ""},
		{exp(-time.Minute) + ":alice", "other", false, ""},
	} {
		user, err := s.checkUsername(tc.username, tc.realm, tc.allocating)
		if user != tc.user || (err == nil) != (tc.user != "") {
			t.Errorf("checkUsername(%q, %q, %v) = %q, %v; want %q", tc.username, tc.realm, tc.allocating, user, err, tc.user)
		}
	}
}

// exchange sends from each relayed conn to the other's relayed address
// until each has read the other's message.
func exchange(t *testing.T, a, b net.PacketConn) {
	t.Helper()
	var wg sync.WaitGroup
	recv := func(c net.PacketConn, want []byte, from net.Addr) {
		defer wg.Done()
		buf := make([]byte, 1500)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, src, err := c.ReadFrom(buf)
			if err != nil {
				t.Errorf("read on %s: %v", c.LocalAddr(), err)
				return
			}
			if bytes.Equal(buf[:n], want) && src.String() == from.String() {
				return
			}
		}
	}
	msgA, msgB := []byte("from a"), []byte("from b")
	wg.Add(2)
	go recv(a, msgB, b.LocalAddr())
	go recv(b, msgA, a.LocalAddr())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		// The first datagrams can arrive before the other side's
		// permission exists; keep sending until both got through.
		if _, err := a.WriteTo(msgA, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WriteTo(msgB, a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestAllocationRelaysBetweenClients(t *testing.T) {
	s, addr := startServer(t, Config{PermitPeer: anyPeer})
	now := time.Now()
	ua, pa := s.Credentials("alice", 0, now)
	ub, pb := s.Credentials("bob", 0, now)
	ca, _ := newClient(t, addr, ua, pa)
	cb, _ := newClient(t, addr, ub, pb)

	ra, err := ca.Allocate()
	if err != nil {
		t.Fatalf("alice allocates: %v", err)
	}
	defer ra.Close()
	rb, err := cb.Allocate()
	if err != nil {
		t.Fatalf("bob allocates: %v", err)
	}
	defer rb.Close()
	if got := s.Allocations(); got != 2 {
		t.Fatalf("%d allocations, want 2", got)
	}
	if ip := ra.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("relayed address %s, want the socket's IP", ra.LocalAddr())
	}
	exchange(t, ra, rb)
}

func TestRefusedCredentials(t *testing.T) {
	s, addr := startServer(t, Config{PermitPeer: anyPeer})
	other, _ := startServer(t, Config{})
	now := time.Now()

	expiredUser, expiredPass := s.Credentials("alice", time.Minute, now.Add(-time.Hour))
	goodUser, _ := s.Credentials("alice", 0, now)
	otherUser, otherPass := other.Credentials("alice", 0, now)
	noUser, noUserPass := s.Credentials("", 0, now)
	for _, tc := range []struct{ name, username, password string }{
		{"expired", expiredUser, expiredPass},
		{"forged password", goodUser, "bm90IHRoZSBwYXNzd29yZA=="},
		{"other server's secret", otherUser, otherPass},
		{"extended expiry", strings.Replace(expiredUser, strings.Split(expiredUser, ":")[0],
			strconv.FormatInt(now.Add(time.Hour).Unix(), 10), 1), expiredPass},
		{"no expiry", "alice", s.password("alice")},
		{"no user", noUser, noUserPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, addr, tc.username, tc.password)
			if conn, err := c.Allocate(); err == nil {
				conn.Close()
				t.Fatalf("allocation with %s credentials succeeded", tc.name)
			}
			if got := s.Allocations(); got != 0 {
				t.Fatalf("%d allocations after refusals", got)
			}
		})
	}
}

func TestExpiryFollowsServerClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	s, addr := startServer(t, Config{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	u, p := s.Credentials("alice", time.Minute, now)

	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	c, _ := newClient(t, addr, u, p)
	if conn, err := c.Allocate(); err == nil {
		conn.Close()
		t.Fatal("allocation with credentials expired on the server's clock succeeded")
	}

	mu.Lock()
	now = now.Add(-90 * time.Second) // 30 s into the credentials' minute
	mu.Unlock()
	c2, _ := newClient(t, addr, u, p)
	conn, err := c2.Allocate()
	if err != nil {
		t.Fatalf("allocation within the TTL: %v", err)
	}
	conn.Close()
}

// TestCallOutlivesCredentials lets the credentials of two allocations
// expire on the server's clock: the allocations go on relaying, with new
// permissions (authenticated requests) made after the expiry, but the same
// credentials make no new allocation.
func TestCallOutlivesCredentials(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, addr := startServer(t, Config{PermitPeer: anyPeer, Now: clock})
	ua, pa := s.Credentials("alice", time.Minute, now)
	ub, pb := s.Credentials("bob", time.Minute, now)
	ca, _ := newClient(t, addr, ua, pa)
	cb, _ := newClient(t, addr, ub, pb)
	ra, err := ca.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := cb.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()

	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	exchange(t, ra, rb) // the first datagrams each way create permissions

	c2, _ := newClient(t, addr, ua, pa)
	if conn, err := c2.Allocate(); err == nil {
		conn.Close()
		t.Fatal("expired credentials made a new allocation")
	}
}

func TestQuotas(t *testing.T) {
	s, addr := startServer(t, Config{MaxAllocationsPerUser: 2, MaxAllocations: 3})
	now := time.Now()
	alloc := func(user string) (net.PacketConn, error) {
		u, p := s.Credentials(user, 0, now)
		c, _ := newClient(t, addr, u, p)
		return c.Allocate()
	}

	var alice []net.PacketConn
	for i := range 2 {
		conn, err := alloc("alice")
		if err != nil {
			t.Fatalf("alice's allocation %d: %v", i+1, err)
		}
		alice = append(alice, conn)
	}
	if conn, err := alloc("alice"); err == nil {
		conn.Close()
		t.Fatal("alice's third allocation went over her quota of 2")
	}
	bob, err := alloc("bob")
	if err != nil {
		t.Fatalf("bob's allocation under the total: %v", err)
	}
	defer bob.Close()
	if conn, err := alloc("carol"); err == nil {
		conn.Close()
		t.Fatal("carol's allocation went over the total of 3")
	}
	if got := s.Allocations(); got != 3 {
		t.Fatalf("%d allocations, want 3", got)
	}

	// A deallocation gives the quota back.
	alice[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Allocations() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocations after alice deallocated one, want 2", s.Allocations())
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := alloc("alice")
	if err != nil {
		t.Fatalf("alice allocates again after freeing one: %v", err)
	}
	conn.Close()
	alice[1].Close()
}

func TestDefaultRefusesPrivatePeers(t *testing.T) {
	// relayTo reports whether a datagram sent through a fresh allocation on
	// a server with permit reaches a loopback listener.
	relayTo := func(permit func(net.IP) bool) bool {
		s, addr := startServer(t, Config{PermitPeer: permit})
		u, p := s.Credentials("alice", 0, time.Now())
		c, _ := newClient(t, addr, u, p)
		relayed, err := c.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		defer relayed.Close()
		target, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		relayed.WriteTo([]byte("into the LAN"), target.LocalAddr()) // refused permissions surface here or not at all
		target.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _, err = target.ReadFrom(make([]byte, 100))
		var ne net.Error
		if err != nil && (!errors.As(err, &ne) || !ne.Timeout()) {
			t.Fatalf("read: %v", err)
		}
		return err == nil
	}
	if !relayTo(anyPeer) {
		t.Fatal("control: a server permitting every peer did not relay to loopback")
	}
	if relayTo(nil) {
		t.Fatal("the default server relayed to a loopback peer")
	}
}

func TestPublicPeer(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"1.2.3.4", true},
		{"8.8.8.8", true},
		{"2001:4860:4860::8888", true},
		{"::ffff:1.2.3.4", true},
		{"127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"169.254.1.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"0.0.0.0", false},
		{"::1", false},
		{"fd00::1", false},
		{"fe80::1", false},
		{"::", false},
	} {
		if got := PublicPeer(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("PublicPeer(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if PublicPeer(nil) {
		t.Error("PublicPeer(nil) = true")
	}
}

func TestNewServerConfigErrors(t *testing.T) {
	if _, err := NewServer(Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no PacketConn: %v, want ErrConfig", err)
	}
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := NewServer(Config{PacketConn: pc}); !errors.Is(err, ErrConfig) {
		t.Fatalf("wildcard socket without RelayAddress: %v, want ErrConfig", err)
	}
	if _, err := NewServer(Config{PacketConn: pc, RelayAddress: net.IPv4(1, 2, 3, 4), RelayPortMin: 5000}); !errors.Is(err, ErrConfig) {
		t.Fatalf("half a port range: %v, want ErrConfig", err)
	}
}

func TestPortRange(t *testing.T) {
	s, addr := startServer(t, Config{PermitPeer: anyPeer, RelayPortMin: 42000, RelayPortMax: 42010})
	u, p := s.Credentials("alice", 0, time.Now())
	c, _ := newClient(t, addr, u, p)
	relayed, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayed.Close()
	if port := relayed.LocalAddr().(*net.UDPAddr).Port; port < 42000 || port > 42010 {
		t.Fatalf("relay port %d outside 42000-42010", port)
	}
}
