package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/turn/v2"

	"github.com/parleynet/parley/internal/pionlog"
)

// DefaultRealm is the TURN realm when Config.Realm is empty.
const DefaultRealm = "parley"

// DefaultTTL is how long credentials from Credentials live when no TTL is
// given.
const DefaultTTL = 10 * time.Minute

// DefaultRefreshGrace is Config.RefreshGrace's default.
const DefaultRefreshGrace = 12 * time.Hour

// Default quotas.
const (
	DefaultMaxAllocationsPerUser = 5
	DefaultMaxAllocations        = 1000
)

// Config configures a Server.
type Config struct {
	// PacketConn is the bound UDP socket the server answers on; the server
	// owns it from NewServer on, and Close closes it.
	PacketConn net.PacketConn

	// RelayAddress is the public IP put in relayed addresses handed to
	// clients. Default: PacketConn's local IP, when that is not a wildcard.
	RelayAddress net.IP

	// Net is the network relay sockets are opened on: nil for the
	// operating system's, a vnet.Net in tests.
	Net transport.Net
	// RelayBindAddress is the local IP relay sockets bind to. Default:
	// PacketConn's local IP (which may be the wildcard).
	RelayBindAddress string
	// RelayPortMin and RelayPortMax, when both set, confine relay sockets
	// to that port range (inclusive), e.g. for a firewall rule.
	RelayPortMin, RelayPortMax uint16
	// RelayAddressGenerator, when set, replaces the generator built from
	// RelayAddress, Net, RelayBindAddress and the port range. Quotas apply
	// to it all the same.
	RelayAddressGenerator turn.RelayAddressGenerator

	// Realm is the TURN realm; default DefaultRealm.
	Realm string
	// Secret is the HMAC key of credentials; random per server when nil.
	Secret []byte

	// MaxAllocationsPerUser caps the allocations one user holds at once;
	// default DefaultMaxAllocationsPerUser. MaxAllocations caps them all;
	// default DefaultMaxAllocations.
	MaxAllocationsPerUser int
	MaxAllocations        int

	// PermitPeer reports whether clients may relay to and from peer;
	// default PublicPeer.
	PermitPeer func(peer net.IP) bool

	// Now is the clock credentials are checked against; default time.Now.
	Now func() time.Time

	// RefreshGrace is how long after its expiry a username still
	// authenticates requests on an allocation it made (refreshes,
	// permissions, channel bindings), so that a call outlives its
	// credentials: a TURN client cannot change them mid-call. A new
	// allocation always needs an unexpired username. Default
	// DefaultRefreshGrace.
	RefreshGrace time.Duration

	// Logger receives the server's log; default discards.
	Logger *slog.Logger
}

// Server is a running STUN and TURN server on one UDP socket.
type Server struct {
	log      *slog.Logger
	secret   []byte
	realm    string
	now      func() time.Time
	grace    time.Duration
	maxUser  int
	maxTotal int
	turn     *turn.Server

	mu      sync.Mutex
	perUser map[string]int // guarded by mu: live allocations per user
	total   int            // guarded by mu: live allocations in all
	// current is the user that authenticated the request being handled,
	// "" before one has. Pion handles the requests of one socket one at a
	// time on one goroutine: it reads a datagram, calls the auth handler,
	// then (for an Allocate) the relay address generator, and only then
	// reads the next one. current is reset at each read, so a generator
	// call always sees the user of its own request, or none.
	current string // guarded by mu
	// allocating reports whether the datagram being handled is an
	// Allocate request, set at each read like current.
	allocating bool // guarded by mu
}

// NewServer starts a STUN and TURN server on cfg.PacketConn.
func NewServer(cfg Config) (*Server, error) {
	if cfg.PacketConn == nil {
		return nil, fmt.Errorf("%w: no PacketConn", ErrConfig)
	}
	s := &Server{
		log:      cfg.Logger,
		secret:   cfg.Secret,
		realm:    cfg.Realm,
		now:      cfg.Now,
		grace:    cfg.RefreshGrace,
		maxUser:  cfg.MaxAllocationsPerUser,
		maxTotal: cfg.MaxAllocations,
		perUser:  make(map[string]int),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.realm == "" {
		s.realm = DefaultRealm
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.grace <= 0 {
		s.grace = DefaultRefreshGrace
	}
	if s.maxUser <= 0 {
		s.maxUser = DefaultMaxAllocationsPerUser
	}
	if s.maxTotal <= 0 {
		s.maxTotal = DefaultMaxAllocations
	}
	if len(s.secret) == 0 {
		s.secret = make([]byte, 32)
		if _, err := rand.Read(s.secret); err != nil {
			return nil, fmt.Errorf("relay: secret: %w", err)
		}
	} else {
		s.secret = append([]byte(nil), s.secret...)
	}

	gen := cfg.RelayAddressGenerator
	if gen == nil {
		var err error
		if gen, err = defaultGenerator(cfg); err != nil {
			return nil, err
		}
	}
	permit := cfg.PermitPeer
	if permit == nil {
		permit = PublicPeer
	}

	ts, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            &readConn{PacketConn: cfg.PacketConn, s: s},
			RelayAddressGenerator: &quotaGenerator{inner: gen, s: s},
			PermissionHandler: func(client net.Addr, peer net.IP) bool {
				if permit(peer) {
					return true
				}
				s.log.Debug("relay: peer refused", "client", client.String(), "peer", peer.String())
				return false
			},
		}},
		Realm:         s.realm,
		AuthHandler:   s.authenticate,
		LoggerFactory: pionlog.Factory{Log: s.log, Ceiling: slog.LevelDebug},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.turn = ts
	return s, nil
}

func defaultGenerator(cfg Config) (turn.RelayAddressGenerator, error) {
	var local net.IP
	if a, ok := cfg.PacketConn.LocalAddr().(*net.UDPAddr); ok {
		local = a.IP
	}
	relayIP := cfg.RelayAddress
	if relayIP == nil && local != nil && !local.IsUnspecified() {
		relayIP = local
	}
	if relayIP == nil || relayIP.IsUnspecified() {
		return nil, fmt.Errorf("%w: no RelayAddress, and the socket is bound to a wildcard", ErrConfig)
	}
	bind := cfg.RelayBindAddress
	if bind == "" {
		bind = "0.0.0.0"
		if local != nil && local.To4() != nil {
			bind = local.String()
		}
	}
	if cfg.RelayPortMin != 0 || cfg.RelayPortMax != 0 {
		if cfg.RelayPortMin == 0 || cfg.RelayPortMax < cfg.RelayPortMin {
			return nil, fmt.Errorf("%w: relay port range %d-%d", ErrConfig, cfg.RelayPortMin, cfg.RelayPortMax)
		}
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: relayIP,
			MinPort:      cfg.RelayPortMin,
			MaxPort:      cfg.RelayPortMax,
			Address:      bind,
			Net:          cfg.Net,
		}, nil
	}
	return &turn.RelayAddressGeneratorStatic{
		RelayAddress: relayIP,
		Address:      bind,
		Net:          cfg.Net,
	}, nil
}

// Close stops the server and closes its socket. Allocations are torn down
// in the background just after.
func (s *Server) Close() error {
	return s.turn.Close()
}

// Realm returns the server's TURN realm.
func (s *Server) Realm() string { return s.realm }

// Allocations returns the number of live allocations.
func (s *Server) Allocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Credentials returns TURN credentials for user that expire ttl after now
// (DefaultTTL when ttl ≤ 0): username "<unix expiry>:<user>" and password
// base64(HMAC-SHA1(secret, username)). user must not be empty; it is the
// name allocation quotas count by, so give each leaf its own (e.g. its
// NodeID in hex).
func (s *Server) Credentials(user string, ttl time.Duration, now time.Time) (username, password string) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, s.password(username)
}

func (s *Server) password(username string) string {
	mac := hmac.New(sha1.New, s.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// checkUsername returns the user a TURN REST username names, or why it is
// refused. allocating says whether the request is an Allocate; others may
// use a username up to the refresh grace past its expiry.
func (s *Server) checkUsername(username, realm string, allocating bool) (string, error) {
	if realm != s.realm {
		return "", fmt.Errorf("realm %q", realm)
	}
	exp, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return "", fmt.Errorf("not <expiry>:<user>")
	}
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", fmt.Errorf("expiry: %w", err)
	}
	now := s.now().Unix()
	switch {
	case allocating && now >= expiry:
		return "", fmt.Errorf("expired at %d", expiry)
	case now >= expiry && now-expiry >= int64(s.grace/time.Second):
		return "", fmt.Errorf("expired at %d, past the refresh grace", expiry)
	}
	return user, nil
}

// authenticate is pion's AuthHandler: it returns the long-term key of a
// valid username. Pion checks the request's message integrity with it, so a
// password not made with our secret fails there.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	s.mu.Lock()
	allocating := s.allocating
	s.mu.Unlock()
	user, err := s.checkUsername(username, realm, allocating)
	if err != nil {
		s.log.Debug("relay: credentials refused", "username", username, "from", src.String(), "err", err)
		return nil, false
	}
	s.mu.Lock()
	s.current = user
	s.mu.Unlock()
	return turn.GenerateAuthKey(username, realm, s.password(username)), true
}

// take counts one allocation for user, or refuses it over quota.
func (s *Server) take(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.total >= s.maxTotal:
		return fmt.Errorf("%w: %d allocations in all", ErrQuota, s.total)
	case s.perUser[user] >= s.maxUser:
		return fmt.Errorf("%w: user %q holds %d", ErrQuota, user, s.perUser[user])
	}
	s.total++
	s.perUser[user]++
	return nil
}

func (s *Server) release(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
}

// PublicPeer reports whether ip is a public unicast address: not loopback,
// private, carrier-grade NAT (100.64.0.0/10), link-local, multicast,
// unspecified or broadcast. It is the default Config.PermitPeer.
func PublicPeer(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	return !cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// readConn is the server's socket as pion sees it: each read forgets the
// user of the previous request and notes whether this one is an Allocate.
type readConn struct {
	net.PacketConn
	s *Server
}

func (c *readConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	allocating := err == nil && isAllocateRequest(p[:n])
	c.s.mu.Lock()
	c.s.current, c.s.allocating = "", allocating
	c.s.mu.Unlock()
	return n, addr, err
}

// isAllocateRequest reports whether b is a STUN Allocate request (RFC 8656:
// type 0x0003, magic cookie 0x2112A442).
func isAllocateRequest(b []byte) bool {
	return len(b) >= 20 &&
		binary.BigEndian.Uint16(b[0:2]) == 0x0003 &&
		binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// quotaGenerator counts allocations per user around the real generator.
type quotaGenerator struct {
	inner turn.RelayAddressGenerator
	s     *Server
}

func (g *quotaGenerator) Validate() error { return g.inner.Validate() }

func (g *quotaGenerator) AllocatePacketConn(network string, port int) (net.PacketConn, net.Addr, error) {
	g.s.mu.Lock()
	user := g.s.current
	g.s.mu.Unlock()
	if user == "" {
		return nil, nil, ErrNoUser
	}
	if err := g.s.take(user); err != nil {
		g.s.log.Info("relay: allocation refused", "user", user, "err", err)
		return nil, nil, err
	}
	conn, addr, err := g.inner.AllocatePacketConn(network, port)
	if err != nil {
		g.s.release(user)
		return nil, nil, err
	}
	g.s.log.Debug("relay: allocated", "user", user, "relay", addr.String())
	return &countedConn{PacketConn: conn, release: func() { g.s.release(user) }}, addr, nil
}

func (g *quotaGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

// countedConn is a relay socket that gives its quota back when pion closes
// it, which it does whenever the allocation ends (refresh to zero, expiry,
// server close).
type countedConn struct {
	net.PacketConn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.PacketConn.Close()
}
