package overlay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/relay"
	"github.com/parleynet/parley/overlay/wire"
)

// SupernodeConfig configures a Supernode. Zero fields take the defaults
// documented on each.
type SupernodeConfig struct {
	Identity *identity.Identity // required
	Network  Network            // default TCP{}
	Clock    Clock              // default SystemClock{}
	Logger   *slog.Logger
	// Rand drives the supernode's random choices (jitter, shuffles,
	// verifiers); default seeded from the runtime. The simulator seeds it.
	Rand *rand.Rand

	// Listen is the overlay listen address, host:port.
	Listen string
	// Advertise is the address other peers dial. Default: Listen, when its
	// host is a specific address; otherwise the address a peer supernode
	// observes us at, with Listen's port.
	Advertise string
	// Seed marks this supernode as a seed: peers never put it in their host cache.
	Seed bool
	// Join lists supernodes (usually the seeds, then cached ones) through
	// which this supernode joins the supernode mesh.
	Join []SeedAddr

	// MaxLeaves is the number of leaves whose primary link this supernode
	// holds before new primary logins are redirected. Default 10000.
	MaxLeaves int
	// MaxStandbys is the number of standby links (a leaf's reserve, which
	// carries only heartbeats until a failover) held before new standby
	// logins are redirected. Default MaxLeaves.
	MaxStandbys int
	// LoginRate is the sustained logins per second accepted before new
	// logins are redirected; LoginBurst the burst above it. Defaults 500, 1000.
	LoginRate  float64
	LoginBurst int
	// Heartbeat is how often leaves must ping; a link silent for three
	// intervals is closed. Default 15 s.
	Heartbeat time.Duration
	// MaxHandshakes bounds TLS handshakes in progress, so a connection flood
	// costs bounded CPU. Default 128.
	MaxHandshakes int
	// HandshakeTimeout bounds one TLS handshake plus Hello. Default 10 s.
	HandshakeTimeout time.Duration
	// HandshakeQueue is how long a new connection may wait for a handshake
	// slot before it is shed. Default 2 s.
	HandshakeQueue time.Duration
	// Software is sent in Hello, e.g. "parley/0.1.0".
	Software string

	// Seeds are the configured seeds: their announcements are trusted
	// without endorsements.
	Seeds []SeedAddr
	// Pinned keeps a non-seed supernode from demoting itself (an operator
	// ran it as a supernode on purpose).
	Pinned bool
	// Endorsements are those this supernode was elected with.
	Endorsements []wire.Endorsement
	// OnDemote is called when the supernode demotes itself, after it has
	// moved its leaves away and before it closes.
	OnDemote func()
	// ClaimDifficulty is the proof of work a username claim must carry.
	// Default DefaultClaimDifficulty.
	ClaimDifficulty int

	// TargetLeaves is the primary leaves a supernode should carry; the high
	// watermark is 1.5× it (at most 80 % of MaxLeaves), the low 0.2×.
	// Default 1000.
	TargetLeaves int
	// ElectionInterval is how often promotion and demotion are decided.
	// Default 1 min.
	ElectionInterval time.Duration
	// MinUptime is how long a leaf must have been up to be promoted. Default 30 min.
	MinUptime time.Duration
	// MinTenure is how long a supernode serves before it may demote. Default 30 min.
	MinTenure time.Duration
	// DemoteAfter is how long the load must stay under the low watermark
	// before demotion. Default 10 min.
	DemoteAfter time.Duration
	// Cooldown is how long after a demotion a peer cannot be promoted. Default 1 h.
	Cooldown time.Duration
	// MinSupernodes is the view size under which nobody demotes. Default 3.
	MinSupernodes int
	// AnnounceInterval and AnnounceTTL are how often this supernode
	// re-announces itself and how long an announcement lives. Defaults
	// 8 h and 24 h: a supernode that dies leaves the views by down
	// notices (down.go), not by its announcement's expiry, and every
	// re-announcement reaches every supernode, so the refresh is the
	// tier's steady cost. The first comes at a random time within the
	// interval, so a tier started at once does not refresh at once.
	AnnounceInterval time.Duration
	AnnounceTTL      time.Duration
	// EndorsementTTL is how long the endorsements this supernode signs
	// live. Default 24 h. A supernode renews its own with the
	// re-announcement after which they would have under 1.5 intervals
	// left, so a day-long endorsement costs no announcement of its own; a
	// supernode that dies leaves the views by down notices, not by
	// expiry.
	EndorsementTTL time.Duration
	// MaxPeers bounds the links to other supernodes: the ring neighbours,
	// the links it dials to the supernodes it learns of (up to a quarter
	// of the bound; others dial it too) and links made on demand to the
	// holders of records, the least recently used of which close first.
	// A tier of up to MaxPeers/4+1 supernodes stays fully linked. Default
	// 64.
	MaxPeers int
	// SweepInterval is how often expired records are dropped and their
	// subscribers told. Default 15 s.
	SweepInterval time.Duration
	// Mail bounds the mailboxes kept for offline peers.
	Mail MailLimits
	// NoRelay turns the STUN/TURN service off (the simulator, which has no
	// media). TuneRelay adjusts its configuration (tests).
	NoRelay   bool
	TuneRelay func(*relay.Config)
}

func (c *SupernodeConfig) setDefaults() {
	if c.Network == nil {
		c.Network = TCP{}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.MaxLeaves == 0 {
		c.MaxLeaves = 10000
	}
	if c.MaxStandbys == 0 {
		c.MaxStandbys = c.MaxLeaves
	}
	if c.LoginRate == 0 {
		c.LoginRate = 500
	}
	if c.LoginBurst == 0 {
		c.LoginBurst = int(2 * c.LoginRate)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = 128
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.HandshakeQueue == 0 {
		c.HandshakeQueue = 2 * time.Second
	}
	if c.ClaimDifficulty == 0 {
		c.ClaimDifficulty = record.DefaultClaimDifficulty
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.TargetLeaves == 0 {
		c.TargetLeaves = 1000
	}
	if c.MinSupernodes == 0 {
		c.MinSupernodes = 3
	}
	if c.MaxPeers < 8 {
		c.MaxPeers = 64
	}
	def(&c.ElectionInterval, time.Minute)
	def(&c.MinUptime, 30*time.Minute)
	def(&c.MinTenure, 30*time.Minute)
	def(&c.DemoteAfter, 10*time.Minute)
	def(&c.Cooldown, time.Hour)
	def(&c.AnnounceInterval, 8*time.Hour)
	def(&c.AnnounceTTL, record.MaxAnnounceTTL)
	def(&c.EndorsementTTL, 24*time.Hour)
	def(&c.SweepInterval, 15*time.Second)
	c.Mail.setDefaults()
}

// SupernodeStats are a supernode's counters, for status and metrics.
type SupernodeStats struct {
	Leaves           int    // leaf links held (primary and standby)
	PrimaryLeaves    int    // leaf links that are their leaf's primary
	Supernodes       int    // other supernodes linked in the mesh
	LinksOpen        int64  // authenticated links open, leaves and supernodes
	LoginsAccepted   uint64 // leaf logins welcomed
	LoginsRedirected uint64 // leaf logins turned away for capacity or rate
	HandshakeErrors  uint64 // connections that failed TLS or Hello
	View             int    // supernodes in the view (holding records), itself included
	Records          int    // directory records held here
	Promotions       uint64 // leaves this supernode promoted
	Demotions        uint64 // 1 if it demoted itself
	Announces        uint64 // announcements of other supernodes received whole
	AnnouncesNew     uint64 // of those, the ones newer than the one held
}

// Supernode serves leaves (login, heartbeats, admission control) and links
// to the other supernodes it knows.
type Supernode struct {
	cfg     SupernodeConfig
	cert    tls.Certificate
	tlsConf *tls.Config
	limiter *rate.Limiter
	ln      net.Listener
	hsSem   chan struct{}
	log     *slog.Logger

	linksOpen        atomic.Int64
	loginsAccepted   atomic.Uint64
	loginsRedirected atomic.Uint64
	handshakeErrors  atomic.Uint64
	pc               net.PacketConn // UDP on the overlay port: probes, STUN and TURN
	mux              *udpMux        // splits pc; nil without UDP

	// The services: each owns its state and lock and handles the wire
	// messages it registered (handlers).
	mem      *membership
	dir      *directory
	mail     *mailboxes
	turn     *relayService
	elect    *election
	handlers []handler

	mu        sync.Mutex
	advertise string                      // guarded by mu
	leaves    map[identity.NodeID]*snLeaf // guarded by mu
	primaries int                         // guarded by mu: leaves whose link is their primary
	rng       *rand.Rand                  // guarded by mu
	closed    bool                        // guarded by mu
	all       map[*Link]struct{}          // guarded by mu: every authenticated link, to close on shutdown
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	listening chan struct{}
}

// handler is a service's handler of the wire messages it owns, on a link
// from a leaf or (isPeer) another supernode; it reports whether m was one.
type handler func(l *Link, m wire.Message, isPeer bool) (handled bool)

// handleService passes m to the service that handles it, and reports
// whether one did.
func (s *Supernode) handleService(l *Link, m wire.Message, isPeer bool) bool {
	for _, h := range s.handlers {
		if h(l, m, isPeer) {
			return true
		}
	}
	return false
}

// load returns how many leaves use this supernode as their primary, and
// the size of its view.
func (s *Supernode) load() (primaries, view int) {
	s.mu.Lock()
	primaries = s.primaries
	s.mu.Unlock()
	return primaries, s.mem.currentRing().Len()
}

// leafState returns leaf id's link here and whether it is a standby; a
// nil link if it is not logged in here.
func (s *Supernode) leafState(id identity.NodeID) (*Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lf := s.leaves[id]; lf != nil {
		return lf.link, lf.standby
	}
	return nil, false
}

// primaryLeafLinks returns up to n links of leaves whose primary this
// supernode is, except leaf except.
func (s *Supernode) primaryLeafLinks(except identity.NodeID, n int) []*Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Link
	for id, lf := range s.leaves {
		if len(out) >= n {
			break
		}
		if id != except && !lf.standby {
			out = append(out, lf.link)
		}
	}
	return out
}

// leafLinks returns the links of every leaf logged in here.
func (s *Supernode) leafLinks() []*Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Link, 0, len(s.leaves))
	for _, lf := range s.leaves {
		out = append(out, lf.link)
	}
	return out
}

// isClosed reports whether the supernode is shutting down.
func (s *Supernode) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// advertised returns the address this supernode tells others to dial, or
// "" while it does not know it.
func (s *Supernode) advertised() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advertise
}

type snLeaf struct {
	link    *Link
	standby bool
}

type snPeer struct {
	link    *Link
	info    wire.Supernode
	dialed  bool      // we dialled it (for the duplicate-link tie-break)
	used    time.Time // guarded by membership.mu: last asked for (linkTo)
	evicted bool      // guarded by membership.mu: closed by us to make room, not failed
	lazy    bool      // guarded by membership.mu: out of the dissemination tree (tree.go)
}

// NewSupernode listens on cfg.Listen and returns a supernode ready to Serve.
func NewSupernode(cfg SupernodeConfig) (*Supernode, error) {
	cfg.setDefaults()
	if cfg.Identity == nil {
		return nil, errors.New("overlay: supernode needs an identity")
	}
	cert, err := cfg.Identity.Certificate()
	if err != nil {
		return nil, err
	}
	ln, err := cfg.Network.Listen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("overlay: listen %s: %w", cfg.Listen, err)
	}
	s := &Supernode{
		cfg:     cfg,
		cert:    cert,
		tlsConf: tlsConfig(cert, true, identity.NodeID{}),
		limiter: rate.NewLimiter(rate.Limit(cfg.LoginRate), cfg.LoginBurst),
		ln:      ln,
		hsSem:   make(chan struct{}, cfg.MaxHandshakes),
		log:     cfg.Logger.With("node", cfg.Identity.NodeID().Short(), "role", "supernode"),
		leaves:  make(map[identity.NodeID]*snLeaf),
		all:     make(map[*Link]struct{}),
		rng:     cfg.Rand,
	}
	s.mem = &membership{
		sn:           s,
		peers:        make(map[identity.NodeID]*snPeer),
		dialing:      make(map[identity.NodeID]bool),
		suspects:     make(map[identity.NodeID]suspicion),
		downs:        make(map[identity.NodeID]*downs),
		waiters:      make(map[identity.NodeID][]chan struct{}),
		announces:    make(map[identity.NodeID]*heard),
		missing:      make(map[wanted]*missing),
		endorsements: cfg.Endorsements,
		rng:          rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64())),
		joinKick:     make(chan struct{}, 1),
	}
	s.dir = newDirectory(s)
	s.mail = &mailboxes{sn: s, store: mailStore{boxes: make(map[identity.NodeID]*mailbox)}}
	s.turn = &relayService{sn: s}
	s.elect = newElection(s)
	s.handlers = []handler{s.mail.handleMail, s.dir.handleDirectory}
	if pc, err := cfg.Network.ListenPacket(ln.Addr().String()); err == nil {
		s.pc = pc
		s.mux = newUDPMux(pc)
	} else {
		s.log.Warn("no UDP on the overlay port: this supernode cannot be verified by dial-back", "err", err)
	}
	s.advertise = cfg.Advertise
	if s.advertise == "" {
		if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && host != "" && !net.ParseIP(host).IsUnspecified() {
			s.advertise = ln.Addr().String()
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Addr returns the address the supernode listens on.
func (s *Supernode) Addr() string { return s.ln.Addr().String() }

// ID returns the supernode's NodeID.
func (s *Supernode) ID() identity.NodeID { return s.cfg.Identity.NodeID() }

// Serve accepts links until ctx is done or Close is called, then closes
// every link with a Bye and returns. It returns nil on a clean stop.
func (s *Supernode) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.shutdown)
	defer stop()
	loops := []func(){
		s.mem.joinLoop,
		func() { s.mem.announceLoop(s.ctx) },
		func() { s.mem.gossipLoop(s.ctx) },
		func() { s.mem.treeLoop(s.ctx) },
		func() { s.dir.dirLoop(s.ctx) },
		func() { s.elect.electionLoop(s.ctx) },
		func() { s.mem.selfVerifyLoop(s.ctx) },
	}
	if s.pc != nil {
		loops = append(loops, s.mux.run)
	}
	for _, f := range loops {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); f() }()
	}
	var err error
	for {
		var conn net.Conn
		conn, err = s.ln.Accept()
		if err != nil {
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// Wait a little for a handshake slot: a burst of logins queues
			// briefly instead of being refused (a leaf would take a refused
			// handshake for a dead supernode). Past the wait, shed it.
			select {
			case s.hsSem <- struct{}{}:
			case <-s.cfg.Clock.After(s.cfg.HandshakeQueue):
				conn.Close()
				s.handshakeErrors.Add(1)
				return
			case <-s.ctx.Done():
				conn.Close()
				return
			}
			s.handle(conn)
		}()
	}
	s.shutdown()
	s.wg.Wait()
	if s.ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("overlay: accept: %w", err)
}

// Close stops the supernode, as cancelling Serve's context does.
func (s *Supernode) Close() { s.shutdown() }

func (s *Supernode) shutdown() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	links := make([]*Link, 0, len(s.all))
	for l := range s.all {
		links = append(links, l)
	}
	s.mu.Unlock()
	s.mem.farewell() // before the links close: the tier need not wait to notice
	s.cancel()
	s.ln.Close()
	s.turn.mu.Lock()
	if s.turn.server != nil {
		s.turn.server.Close()
	}
	s.turn.err = ErrClosed // no relay starts after this
	s.turn.mu.Unlock()
	if s.pc != nil {
		s.pc.Close()
	}
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() { defer wg.Done(); l.Close("supernode shutting down") }()
	}
	wg.Wait()
}

// Stats returns the current counters.
func (s *Supernode) Stats() SupernodeStats {
	s.mu.Lock()
	st := SupernodeStats{Leaves: len(s.leaves), PrimaryLeaves: s.primaries}
	s.mu.Unlock()
	st.Supernodes, st.View = s.mem.counts()
	s.dir.mu.Lock()
	st.Records = len(s.dir.records)
	s.dir.mu.Unlock()
	st.Promotions = s.elect.promotions.Load()
	st.Demotions = s.elect.demotions.Load()
	st.LinksOpen = s.linksOpen.Load()
	st.LoginsAccepted = s.loginsAccepted.Load()
	st.LoginsRedirected = s.loginsRedirected.Load()
	st.HandshakeErrors = s.handshakeErrors.Load()
	st.Announces, st.AnnouncesNew = s.mem.received.Load(), s.mem.receivedNew.Load()
	return st
}

// Supernodes returns the supernodes this one knows, itself first when its
// address is known.
func (s *Supernode) Supernodes() []wire.Supernode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.supernodesLocked(-1)
}

// supernodesLocked lists up to max known supernodes (all if max < 0),
// itself first, the rest in random order. s.mu must be held.
func (s *Supernode) supernodesLocked(max int) []wire.Supernode {
	var out []wire.Supernode
	if s.advertise != "" {
		id := s.ID()
		out = append(out, wire.Supernode{ID: id[:], Addr: s.advertise, Seed: s.cfg.Seed})
	}
	start := len(out)
	out = append(out, s.mem.viewPeers()...)
	rest := out[start:]
	s.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	if max >= 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// track registers an authenticated link for shutdown and the links gauge; it
// reports false when the supernode is already closing.
func (s *Supernode) track(l *Link) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.all[l] = struct{}{}
	s.linksOpen.Add(1)
	return true
}

func (s *Supernode) untrack(l *Link) {
	s.mu.Lock()
	if _, ok := s.all[l]; ok {
		delete(s.all, l)
		s.linksOpen.Add(-1)
	}
	s.mu.Unlock()
}

// handle runs one accepted connection: handshake, Hello, then the leaf or
// supernode conversation until the link ends.
func (s *Supernode) handle(conn net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	l, err := acceptLink(ctx, conn, s.tlsConf)
	if err == nil && !s.track(l) {
		l.Close("")
		err = ErrClosed
	}
	if err != nil {
		cancel()
		<-s.hsSem
		s.handshakeErrors.Add(1)
		s.log.Debug("handshake failed", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	m, err := l.Recv(s.cfg.HandshakeTimeout)
	cancel()
	<-s.hsSem
	if err != nil {
		s.untrack(l)
		s.handshakeErrors.Add(1)
		s.log.Info("closing link: no hello", "peer", l.Peer().Short(), "err", err)
		l.Close("")
		return
	}
	hello, ok := m.(*wire.Hello)
	if !ok {
		s.untrack(l)
		s.handshakeErrors.Add(1)
		s.log.Info("closing link: first message is not hello", "peer", l.Peer().Short(), "type", m.Type())
		l.Close("expected hello")
		return
	}
	// The conversation runs on a goroutine of its own: the handshake grew
	// this one's stack (TLS 1.3 with ML-KEM, certificate parsing) to 32
	// KiB, which garbage collection shrinks only by halves and only while
	// a quarter of it is unused, so every held link kept 16 KiB of stack.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.untrack(l)
		switch hello.Role {
		case wire.RoleLeaf:
			s.serveLeaf(l, hello)
		case wire.RoleSupernode:
			s.mem.servePeer(l, hello, false)
		case wire.RoleProbe:
			answerProbes(l)
		default:
			s.handshakeErrors.Add(1)
			l.Close("unknown role")
		}
	}()
}

// admit decides a leaf login: nil to accept, or the Redirect to send.
// s.mu must be held.
func (s *Supernode) admitLocked(id identity.NodeID, standby bool) *wire.Redirect {
	_, relogin := s.leaves[id]
	full := s.primaries >= s.cfg.MaxLeaves
	if standby {
		full = len(s.leaves)-s.primaries >= s.cfg.MaxStandbys
	}
	if !relogin && full {
		return &wire.Redirect{RetryAfterMS: 30_000 + uint32(s.rng.IntN(30_000)), Reason: "supernode at leaf capacity"}
	}
	if r := s.limiter.Reserve(); !r.OK() || r.Delay() > 0 {
		wait := time.Second
		if r.OK() {
			wait = r.Delay()
			r.Cancel()
		}
		// Spread retries over a few seconds past the point the rate allows.
		wait += time.Duration(s.rng.Int64N(int64(2 * time.Second)))
		return &wire.Redirect{RetryAfterMS: uint32(wait / time.Millisecond), Reason: "supernode over login rate"}
	}
	return nil
}

func (s *Supernode) serveLeaf(l *Link, hello *wire.Hello) {
	id := l.Peer()
	s.mu.Lock()
	if red := s.admitLocked(id, hello.Standby); red != nil {
		// The alternatives: not this supernode, which is turning it away.
		red.Supernodes = s.supernodesLocked(17)
		if s.advertise != "" {
			red.Supernodes = red.Supernodes[1:]
		}
		s.mu.Unlock()
		s.loginsRedirected.Add(1)
		s.log.Debug("login redirected", "leaf", id.Short(), "reason", red.Reason)
		l.Send(red)
		l.Close("")
		return
	}
	old := s.leaves[id]
	me := &snLeaf{link: l, standby: hello.Standby}
	s.setLeafLocked(id, me)
	welcome := &wire.Welcome{
		Supernodes:    s.supernodesLocked(16),
		ObservedAddr:  l.RemoteAddr().String(),
		HeartbeatMS:   uint32(s.cfg.Heartbeat / time.Millisecond),
		SupernodeSeed: s.cfg.Seed,
	}
	s.mu.Unlock()
	if old != nil {
		old.link.Close("replaced by a new login")
	}
	s.loginsAccepted.Add(1)
	defer func() {
		s.mu.Lock()
		last := s.leaves[id] == me
		if last {
			s.setLeafLocked(id, nil)
		}
		s.mu.Unlock()
		if last {
			s.elect.leafGone(id)
			s.dir.leafGone(id)
		}
	}()
	if err := l.Send(welcome); err != nil {
		l.Close("")
		return
	}
	reason := s.converse(l, func() time.Duration { return s.cfg.Heartbeat }, func(m wire.Message) error {
		switch m := m.(type) {
		case *wire.LinkRole:
			s.mu.Lock()
			if s.leaves[id] == me && me.standby != m.Standby {
				s.setLeafLocked(id, nil)
				me.standby = m.Standby
				s.setLeafLocked(id, me)
			}
			s.mu.Unlock()
		case *wire.Candidacy:
			s.elect.handleCandidacy(l, m)
		case *wire.TurnRequest:
			r := s.turn.iceServers(id)
			r.ReqID = m.ReqID
			l.Send(r)
		default:
			if !s.handleService(l, m, false) {
				return fmt.Errorf("%w: leaf sent %T", ErrProtocol, m)
			}
		}
		return nil
	})
	s.log.Debug("leaf link closed", "leaf", id.Short(), "reason", reason)
}

// setLeafLocked sets (or, with nil, removes) the leaf link of id, keeping
// the primaries count. s.mu must be held.
func (s *Supernode) setLeafLocked(id identity.NodeID, l *snLeaf) {
	if old := s.leaves[id]; old != nil {
		if !old.standby {
			s.primaries--
		}
		delete(s.leaves, id)
	}
	if l != nil {
		if !l.standby {
			s.primaries++
		}
		s.leaves[id] = l
	}
}

// converse runs the common read loop of an established link: heartbeats,
// Bye, and a read deadline of three heartbeats. Other messages go to
// handle; an error from it closes the link. It returns why the link ended.
func (s *Supernode) converse(l *Link, beat func() time.Duration, handle func(wire.Message) error) string {
	for {
		m, err := l.Recv(3 * beat())
		if l.Refuse(err) {
			s.log.Warn("refused a frame", "peer", l.Peer().Short(), "err", err)
			continue
		}
		if err != nil {
			reason := linkErrReason(err)
			if isMalformed(err) {
				s.log.Warn("closing link: malformed frame", "peer", l.Peer().Short(), "err", err)
			}
			l.Close("")
			return reason
		}
		switch m := m.(type) {
		case *wire.Ping:
			err = l.Send(&wire.Pong{Seq: m.Seq})
			if err == nil && m.Announced != 0 {
				err = handle(m) // a supernode's count of announcements
			}
		case *wire.Pong:
		case *wire.Bye:
			l.Close("")
			return "peer said bye: " + m.Reason
		default:
			err = handle(m)
		}
		if err != nil {
			s.log.Info("closing link", "peer", l.Peer().Short(), "reason", err)
			l.Close(err.Error())
			return err.Error()
		}
	}
}

// isMalformed reports whether err is the peer's fault at the wire level: a
// frame that does not decode. Such a link is closed and the reason logged.
func isMalformed(err error) bool {
	for _, e := range []error{wire.ErrFrameSize, wire.ErrVersion, wire.ErrUnknownType, wire.ErrBody, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// linkErrReason describes why a read ended, for logs.
func linkErrReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "closed by peer"
	case errors.As(err, &ne) && ne.Timeout():
		return "heartbeat timeout"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return err.Error()
}
