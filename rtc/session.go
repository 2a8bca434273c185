package rtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/internal/pionlog"
)

// Label is the data channel's label.
const Label = "parley"

// MaxMessageSize is the largest message Send accepts: 64 KiB less one
// byte. SCTP itself would take 65536 bytes, but pion reads each message
// into a buffer of math.MaxUint16 bytes and closes the channel on a larger
// one, so 65535 is the largest that arrives.
const MaxMessageSize = 1<<16 - 1

// MaxBuffered is how many bytes Send lets wait for the network before it
// refuses more with ErrBufferFull.
const MaxBuffered = 4 << 20

// Timing defaults. ICE reports a pair disconnected after
// DisconnectedTimeout without a packet from the other side, and failed
// FailedTimeout later, so a peer that vanishes is reported within about
// DisconnectedTimeout+FailedTimeout (15 s) plus one keepalive interval.
const (
	DefaultConnectTimeout = 30 * time.Second
	DisconnectedTimeout   = 5 * time.Second
	FailedTimeout         = 10 * time.Second
	KeepaliveInterval     = 2 * time.Second
)

// How long ICE waits, from the start of its checks, before it may nominate
// a pair whose local and remote candidates are of each type (pion's
// acceptance waits; a pair waits for the longer of its two). pion's
// defaults (host 0, server-reflexive 500 ms, peer-reflexive 1 s, relay 2 s)
// put a call's media at 1.4–1.6 s behind NAT and 2.8 s through a relay on
// the vnet matrix at 50 ms RTT. A check answers within a round trip or
// two, so shorter waits lose nothing on a direct path; relay stays last,
// long enough after prflx that a direct pair found by then wins.
const (
	srflxAcceptanceWait = 50 * time.Millisecond
	prflxAcceptanceWait = 100 * time.Millisecond
	relayAcceptanceWait = 500 * time.Millisecond
)

// Bounds on what the other side can make a Session hold.
const (
	maxRemoteCandidates = 64  // per ICE generation
	maxKnownCandidates  = 256 // remembered for Path, over all generations
)

// Config configures a Session.
type Config struct {
	// Offerer makes this end the one that creates the data channel and the
	// offer (on Start); the other end answers.
	Offerer bool
	// ID is the session's ID. An offerer with none gets a random one; an
	// answerer with none takes the one of the first offer it accepts.
	ID SessionID

	// ICEServers are the STUN and TURN servers to gather candidates from,
	// typically the leaf's supernodes with TURN credentials from them. No
	// other server is ever used.
	ICEServers []webrtc.ICEServer

	// Send sends a signal to the other end; required. It is called from one
	// goroutine of the session, in order: the offer or answer first, then
	// candidates as they are gathered (trickle ICE), then end-of-candidates.
	// An error sending the offer or the answer ends the session
	// (ErrSignaling); one sending a candidate is logged and skipped.
	Send func(Signal) error

	// OnOpen is called once the data channel is open, OnMessage with each
	// message received, and OnClose once, last, with the reason the session
	// ended (ErrClosed after Close, ErrRemoteClosed, ErrConnectionFailed,
	// ErrConnectTimeout, or one wrapping ErrSignaling). All three are called
	// from one goroutine of the session, in that order; a callback may call
	// any method of the session, Close included. A slow OnMessage slows the
	// sender down (the data channel is flow-controlled), it loses nothing.
	OnOpen    func()
	OnMessage func([]byte)
	OnClose   func(reason error)

	// ConnectTimeout bounds the time from NewSession to an open data
	// channel; default DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// Net is the network the session uses: nil for the operating system's,
	// a vnet.Net in tests. The session wraps it (see peerFilter), so set it
	// here, not with SetNet in the SettingEngine hook.
	Net transport.Net

	// SettingEngine, when set, is called with the session's pion setting
	// engine after the session's defaults are in it (network, ICE timeouts,
	// no mDNS, UDP only), e.g. to set shorter timeouts in tests.
	SettingEngine func(*webrtc.SettingEngine)

	// Logger receives the session's log; default discards.
	Logger *slog.Logger

	// Audio, when set, adds one Opus track each way to the session (see
	// AudioConfig); nil makes a data-channel-only session.
	Audio *AudioConfig

	// ExpectRemoteFingerprint is the fingerprint ("sha-256 AB:CD:…", as
	// LocalFingerprint gives it) the other end's DTLS certificate must
	// have, from signaling the other end signed. A remote SDP with another
	// fingerprint, or a DTLS peer presenting another certificate, ends the
	// session with ErrSecurity. An offerer learns it with the answer and
	// sets it with ExpectFingerprint instead. Empty: the SDP's fingerprint
	// is the expected one.
	ExpectRemoteFingerprint string

	// OnInterrupted, if set, is called with true when the connection is
	// lost after it had been up (ICE disconnected, or an ICE restart is
	// under way) and with false when a path works again. It is called from
	// the goroutine that calls OnOpen and OnMessage, and never after
	// OnClose.
	OnInterrupted func(interrupted bool)
}

// CandidateType is the type of an ICE candidate.
type CandidateType string

// Candidate types.
const (
	Host            CandidateType = "host"  // an address of the peer's own interface
	ServerReflexive CandidateType = "srflx" // the peer's address as a STUN server saw it
	PeerReflexive   CandidateType = "prflx" // the peer's address as the other peer saw it
	Relay           CandidateType = "relay" // an address on a TURN server
)

// Path is the candidate pair a session's packets take.
type Path struct {
	Local, Remote         CandidateType
	LocalAddr, RemoteAddr string // host:port
}

// Relayed reports whether the path goes through a TURN relay at either end.
func (p Path) Relayed() bool { return p.Local == Relay || p.Remote == Relay }

// String returns e.g. "srflx 1.2.3.4:5 → relay 6.7.8.9:10".
func (p Path) String() string {
	return fmt.Sprintf("%s %s → %s %s", p.Local, p.LocalAddr, p.Remote, p.RemoteAddr)
}

// Session is a WebRTC session with one other peer: one PeerConnection
// carrying one ordered, reliable data channel labelled Label and, with
// Config.Audio, one Opus track each way.
type Session struct {
	cfg     Config
	log     *slog.Logger
	pc      *webrtc.PeerConnection
	localFP string
	timer   *time.Timer // connect timeout
	filter  *peerFilter
	audio   *audioState // nil without Config.Audio

	// verified is set once the certificate the DTLS peer presented was
	// checked against the expected fingerprint; until then nothing of the
	// other end reaches a callback, and WriteAudio sends nothing.
	verified   atomic.Bool
	verifiedCh chan struct{} // closed when verified is set

	// sigMu serializes Start and HandleSignal, which call into pion. It is
	// never taken by pion's callbacks.
	sigMu sync.Mutex

	// mu guards the fields below; it is held only briefly and never across
	// a call into pion or a callback.
	mu          sync.Mutex
	id          SessionID
	started     bool                     // offerer: Start ran
	remoteSet   bool                     // a remote description is applied
	remoteUfrag string                   // from the remote description
	remoteFP    string                   // from the first remote description
	expectFP    string                   // the fingerprint the remote certificate must have; "" for remoteFP
	presentedFP string                   // the fingerprint of the certificate DTLS presented
	gen         uint16                   // the ICE generation in force or being set up
	descGen     uint16                   // the generation of the remote description applied
	restartAt   time.Time                // offerer: when the restart awaiting its answer began
	checkingAt  time.Time                // offerer: when the restart not yet connected began
	remoteDone  bool                     // the other side sent end-of-candidates for eocGen
	eocGen      uint16                   // the generation of that end-of-candidates
	remoteCount int                      // how many candidates it says it sent
	added       int                      // candidates of gen handed to pion
	genCands    int                      // candidates of gen taken
	opening     bool                     // the filter is (being) opened for gen
	sentCands   int                      // candidates of gen queued for sending
	queued      []remoteCandidate        // candidates before their remote description
	remoteCands map[string]CandidateType // host:port → type of candidates signalled to us
	connected   bool                     // the connection has been up
	interrupted bool                     // it was lost since (OnInterrupted(true) queued)
	readersDone bool                     // no more audio read loops may start
	localUfrag  string                   // from the local description
	descQueued  bool                     // our offer or answer is in out
	pendingOut  []Signal                 // candidates gathered before descQueued
	out         []Signal                 // signals for sendLoop, in order
	dc          *webrtc.DataChannel      // the one data channel
	opened      bool                     // the data channel has opened
	reason      error                    // why the session ended
	outReady    chan struct{}            // poked when out grows
	events      chan func()              // callbacks for dispatch, in order
	ended       chan struct{}            // closed by end
	pcClosed    chan struct{}            // closed once pion's PeerConnection is closed
	done        chan struct{}            // closed after OnClose returned
	endOnce     sync.Once
	openOnce    sync.Once
	readers     sync.WaitGroup // audio read loops; OnClose waits for them
}

// NewSession creates a session. Nothing goes on the network until Start
// (offerer) or the offer (answerer).
func NewSession(cfg Config) (*Session, error) {
	if cfg.Send == nil {
		return nil, fmt.Errorf("%w: no Send", ErrConfig)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Offerer && cfg.ID.IsZero() {
		cfg.ID = NewSessionID()
	}
	expect := ""
	if cfg.ExpectRemoteFingerprint != "" {
		if expect = normalizeFingerprint(cfg.ExpectRemoteFingerprint); !fingerprintHashOK(expect) {
			return nil, fmt.Errorf("%w: expected fingerprint %q", ErrConfig, cfg.ExpectRemoteFingerprint)
		}
	}
	log = log.With("offerer", cfg.Offerer)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("rtc: key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("rtc: certificate: %w", err)
	}
	fps, err := cert.GetFingerprints()
	if err != nil || len(fps) == 0 {
		return nil, fmt.Errorf("rtc: certificate fingerprint: %v", err)
	}

	network := cfg.Net
	if network == nil {
		if network, err = stdnet.NewNet(); err != nil {
			return nil, fmt.Errorf("rtc: network: %w", err)
		}
	}
	filter := newPeerFilter()

	se := webrtc.SettingEngine{LoggerFactory: pionlog.Factory{Log: log, Ceiling: slog.LevelWarn}}
	se.SetNet(filteredNet{Net: network, f: filter})
	se.SetICETimeouts(DisconnectedTimeout, FailedTimeout, KeepaliveInterval)
	se.SetHostAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(srflxAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(prflxAcceptanceWait)
	se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	// Parley peers never make mDNS candidates, and resolving the other
	// side's would send multicast queries on its say-so.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	opts := []func(*webrtc.API){webrtc.WithSettingEngine(se)}
	if cfg.Audio != nil {
		m, err := opusMediaEngine()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		opts = append(opts, webrtc.WithMediaEngine(m))
	}
	api := webrtc.NewAPI(opts...)
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:   cfg.ICEServers,
		Certificates: []webrtc.Certificate{*cert},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var audio *audioState
	if cfg.Audio != nil {
		if audio, err = addAudio(pc); err != nil {
			pc.Close()
			return nil, err
		}
	}

	s := &Session{
		cfg:         cfg,
		log:         log,
		pc:          pc,
		localFP:     normalizeFingerprint(fps[0].Algorithm + " " + fps[0].Value),
		filter:      filter,
		audio:       audio,
		id:          cfg.ID,
		expectFP:    expect,
		remoteCands: make(map[string]CandidateType),
		verifiedCh:  make(chan struct{}),
		outReady:    make(chan struct{}, 1),
		events:      make(chan func(), 64),
		ended:       make(chan struct{}),
		pcClosed:    make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.timer = time.AfterFunc(cfg.ConnectTimeout, func() {
		s.mu.Lock()
		opened := s.opened
		s.mu.Unlock()
		if !opened {
			s.end(ErrConnectTimeout)
		}
	})
	pc.OnICECandidate(s.onCandidate)
	pc.OnConnectionStateChange(s.onState)
	pc.OnDataChannel(s.onDataChannel)
	dtls := pc.SCTP().Transport()
	dtls.OnStateChange(func(st webrtc.DTLSTransportState) { s.onDTLSState(dtls, st) })
	if audio != nil {
		pc.OnTrack(s.onTrack)
	}
	go s.sendLoop()
	go s.dispatch()
	return s, nil
}

// ID returns the session's ID; zero on an answerer before it accepted an
// offer.
func (s *Session) ID() SessionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// LocalFingerprint returns the fingerprint of this end's DTLS certificate
// as it appears in its SDP, e.g. "sha-256 AB:CD:…". The caller signs it in
// the signaling envelope, so the other end can tell that the SDP it got
// (and so the DTLS peer pion verifies against it) is really ours.
func (s *Session) LocalFingerprint() string { return s.localFP }

// RemoteFingerprint returns the fingerprint in the other end's SDP, in the
// form of LocalFingerprint, or "" before the remote description. Pion
// refuses a DTLS peer whose certificate does not match it; the session
// also checks it against the expected fingerprint (see
// ExpectRemoteFingerprint) and checks the certificate DTLS presented
// itself (see PresentedFingerprint).
func (s *Session) RemoteFingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteFP
}

// Start starts an offerer: it creates the data channel and the offer and
// hands the offer to Config.Send. It does nothing on an answerer, or the
// second time.
func (s *Session) Start() error {
	if !s.cfg.Offerer {
		return nil
	}
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if s.isEnded() {
		return ErrClosed
	}
	s.mu.Lock()
	started := s.started
	s.started = true
	s.mu.Unlock()
	if started {
		return nil
	}

	// nil DataChannelInit: ordered and reliable.
	dc, err := s.pc.CreateDataChannel(Label, nil)
	if err != nil {
		return fmt.Errorf("rtc: data channel: %w", err)
	}
	s.mu.Lock()
	s.dc = dc
	s.mu.Unlock()
	s.attach(dc)
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("rtc: offer: %w", err)
	}
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("rtc: offer: %w", err)
	}
	s.queueDescription(KindOffer, offer.SDP)
	return nil
}

// HandleSignal applies a signal from the other end. It returns an error,
// never panics, for a signal that is malformed (ErrBadSignal), of another
// session (ErrWrongSession) or out of place (ErrUnexpectedSignal); the
// session goes on, and the caller decides whether to Close it. Candidates
// that arrive before the remote description are kept and applied with it.
func (s *Session) HandleSignal(sig Signal) error {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if s.isEnded() {
		return ErrClosed
	}

	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	switch {
	case sig.Session.IsZero():
		return fmt.Errorf("%w: no session ID", ErrBadSignal)
	case id.IsZero() && sig.Kind != KindOffer:
		return fmt.Errorf("%w: %s before the offer", ErrUnexpectedSignal, sig.Kind)
	case !id.IsZero() && sig.Session != id:
		return fmt.Errorf("%w: %s of session %s", ErrWrongSession, sig.Kind, sig.Session)
	}

	switch sig.Kind {
	case KindOffer, KindAnswer:
		return s.handleDescription(sig)
	case KindCandidate:
		return s.handleCandidate(sig)
	case KindEndOfCandidates:
		s.log.Debug("rtc: remote end of candidates", "count", sig.Count, "generation", sig.Generation)
		s.mu.Lock()
		if sig.Generation < s.gen {
			s.mu.Unlock()
			return fmt.Errorf("%w: end of candidates of ICE generation %d, now %d", ErrBadSignal, sig.Generation, s.gen)
		}
		s.remoteDone, s.eocGen, s.remoteCount = true, sig.Generation, int(sig.Count)
		s.mu.Unlock()
		s.maybeOpenFilter()
		return nil
	case KindRestart:
		return s.handleRestartRequest(sig)
	}
	return fmt.Errorf("%w: unknown kind %d", ErrBadSignal, sig.Kind)
}

func (s *Session) handleDescription(sig Signal) error {
	s.mu.Lock()
	started, remoteSet, gen, descGen, pending := s.started, s.remoteSet, s.gen, s.descGen, !s.restartAt.IsZero()
	s.mu.Unlock()
	isOffer := sig.Kind == KindOffer
	restart := false
	switch {
	case isOffer && s.cfg.Offerer:
		return fmt.Errorf("%w: offer to the offerer", ErrUnexpectedSignal)
	case !isOffer && !s.cfg.Offerer:
		return fmt.Errorf("%w: answer to the answerer", ErrUnexpectedSignal)
	case !isOffer && !started:
		return fmt.Errorf("%w: answer before Start", ErrUnexpectedSignal)
	case len(sig.SDP) > MaxSDP:
		return fmt.Errorf("%w: SDP of %d bytes", ErrBadSignal, len(sig.SDP))
	case remoteSet && isOffer && sig.Generation > descGen:
		restart = true // an ICE restart offer
	case remoteSet && !isOffer && pending && sig.Generation == gen:
		restart = true // the answer to our ICE restart
	case remoteSet:
		return fmt.Errorf("%w: second %s (ICE generation %d)", ErrUnexpectedSignal, sig.Kind, sig.Generation)
	case sig.Generation != gen:
		return fmt.Errorf("%w: first %s of ICE generation %d", ErrUnexpectedSignal, sig.Kind, sig.Generation)
	}
	ufrag, fp, err := checkSDP(sig.SDP, s.audio != nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadSignal, sig.Kind, err)
	}
	s.mu.Lock()
	want := s.expectFP
	if remoteSet {
		want = s.remoteFP // a certificate never changes within a session
	}
	s.mu.Unlock()
	if want != "" && fp != want {
		err := fmt.Errorf("%w: the %s's DTLS fingerprint is %s, not %s", ErrSecurity, sig.Kind, fp, want)
		s.end(err)
		return err
	}

	if restart && isOffer {
		s.log.Info("rtc: ICE restart", "generation", sig.Generation)
		s.mu.Lock()
		s.gen = sig.Generation
		s.descQueued, s.sentCands = false, 0
		s.newRemoteGeneration()
		s.mu.Unlock()
	}
	desc := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP}
	if isOffer {
		desc.Type = webrtc.SDPTypeOffer
	}
	if err := s.pc.SetRemoteDescription(desc); err != nil {
		if restart && isOffer {
			s.mu.Lock()
			s.gen = gen
			s.flushPendingOut()
			s.mu.Unlock()
		}
		return fmt.Errorf("%w: %s: %w", ErrBadSignal, sig.Kind, err)
	}
	s.mu.Lock()
	s.remoteSet = true
	s.remoteUfrag, s.descGen = ufrag, sig.Generation
	if s.remoteFP == "" {
		s.remoteFP = fp
	}
	if !isOffer {
		s.restartAt = time.Time{}
	}
	if s.id.IsZero() {
		s.id = sig.Session
	}
	var now []remoteCandidate
	later := s.queued[:0:0]
	for _, c := range s.queued {
		switch {
		case c.sig.Generation == sig.Generation:
			now = append(now, c)
		case c.sig.Generation > sig.Generation:
			later = append(later, c)
		}
	}
	s.queued = later
	s.mu.Unlock()

	if isOffer {
		answer, err := s.pc.CreateAnswer(nil)
		if err != nil {
			return fmt.Errorf("rtc: answer: %w", err)
		}
		if err := s.pc.SetLocalDescription(answer); err != nil {
			return fmt.Errorf("rtc: answer: %w", err)
		}
		s.queueDescription(KindAnswer, answer.SDP)
	}
	for _, c := range now {
		if err := s.addCandidate(c); err != nil {
			s.log.Debug("rtc: early candidate refused", "err", err)
		}
	}
	s.maybeOpenFilter()
	return nil
}

// newRemoteGeneration forgets what the other side said about its
// candidates of earlier ICE generations and closes the filter again until
// all those of gen are in (or restartFilterFallback has passed). Call with
// mu held, after gen was set.
func (s *Session) newRemoteGeneration() {
	if s.eocGen < s.gen {
		s.remoteDone, s.remoteCount = false, 0
	}
	s.added, s.genCands, s.opening = 0, 0, false
	s.filter.open.Store(false)
	g := s.gen
	time.AfterFunc(restartFilterFallback, func() { s.openFilterIf(g) })
}

// restartFilterFallback is how long after an ICE restart the filter lets
// everything through even if the other side's end-of-candidates has not
// come: its checks must not stay dropped because one signal was lost.
const restartFilterFallback = 3 * time.Second

// openFilterIf opens the filter if ICE generation g is still the one in
// force.
func (s *Session) openFilterIf(g uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == g {
		s.filter.open.Store(true)
	}
}

// maybeOpenFilter lets every check through once pion has every candidate
// the other side sent, by its end-of-candidates count (signals may arrive
// out of order), and the last relay among them has had relayLearnDelay to
// settle: then no relay of the other side is left to mistake for a direct
// path.
func (s *Session) maybeOpenFilter() {
	s.mu.Lock()
	ready := s.remoteSet && s.descGen == s.gen && s.remoteDone && s.eocGen == s.gen &&
		s.added >= s.remoteCount && !s.opening
	g := s.gen
	if ready {
		s.opening = true
	}
	s.mu.Unlock()
	if ready {
		time.AfterFunc(relayLearnDelay, func() { s.openFilterIf(g) })
	}
}

func (s *Session) handleCandidate(sig Signal) error {
	if sig.Candidate == "" || len(sig.Candidate) > MaxCandidate {
		return fmt.Errorf("%w: candidate of %d bytes", ErrBadSignal, len(sig.Candidate))
	}
	c, err := ice.UnmarshalCandidate(strings.TrimPrefix(sig.Candidate, "candidate:"))
	if err != nil {
		return fmt.Errorf("%w: candidate: %w", ErrBadSignal, err)
	}
	// Only IP literals: a host name would make pion resolve it (DNS, or
	// mDNS for .local) on the other side's say-so.
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		return fmt.Errorf("%w: candidate address %q", ErrBadSignal, c.Address())
	}
	rc := remoteCandidate{
		sig: sig,
		ap:  netip.AddrPortFrom(addr.Unmap(), uint16(c.Port())),
		typ: CandidateType(c.Type().String()),
	}

	s.mu.Lock()
	gen := sig.Generation
	switch {
	case gen < s.gen:
		s.mu.Unlock()
		return fmt.Errorf("%w: candidate of ICE generation %d, now %d", ErrBadSignal, gen, s.gen)
	case gen == s.gen && s.genCands >= maxRemoteCandidates, gen > s.gen && len(s.queued) >= maxRemoteCandidates:
		s.mu.Unlock()
		return fmt.Errorf("%w: more than %d candidates", ErrBadSignal, maxRemoteCandidates)
	}
	if gen == s.gen {
		s.genCands++
	}
	if len(s.remoteCands) < maxKnownCandidates {
		s.remoteCands[rc.ap.String()] = rc.typ
	}
	if rc.typ != Relay {
		s.filter.learn(rc.ap, rc.typ)
	}
	if !s.remoteSet || gen > s.descGen {
		s.queued = append(s.queued, rc)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.addCandidate(rc); err != nil {
		return err
	}
	s.maybeOpenFilter()
	return nil
}

// remoteCandidate is a checked candidate from the other side.
type remoteCandidate struct {
	sig Signal
	ap  netip.AddrPort
	typ CandidateType
}

// relayLearnDelay is how long after handing pion a relay candidate the
// filter starts letting checks from it through: pion adds remote
// candidates on a goroutine of its own, and a check it handles before
// that makes the relay a peer-reflexive candidate (see peerFilter).
const relayLearnDelay = 250 * time.Millisecond

// addCandidate gives a checked candidate to pion.
func (s *Session) addCandidate(rc remoteCandidate) error {
	s.mu.Lock()
	ufrag := s.remoteUfrag
	s.mu.Unlock()
	sig := rc.sig
	if sig.UsernameFragment != "" && sig.UsernameFragment != ufrag {
		return fmt.Errorf("%w: candidate for ICE username %q, not %q", ErrBadSignal, sig.UsernameFragment, ufrag)
	}
	mid, index := sig.SDPMid, sig.SDPMLineIndex
	err := s.pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate:        sig.Candidate,
		SDPMid:           &mid,
		SDPMLineIndex:    &index,
		UsernameFragment: &ufrag,
	})
	if err != nil {
		return fmt.Errorf("%w: candidate: %w", ErrBadSignal, err)
	}
	if rc.typ == Relay {
		time.AfterFunc(relayLearnDelay, func() { s.filter.learn(rc.ap, rc.typ) })
	}
	s.mu.Lock()
	s.added++
	s.mu.Unlock()
	return nil
}

// checkSDP parses an offer or answer far enough to know it is one Parley
// can use (with an Opus audio section if audio is set), and returns its ICE
// username fragment and DTLS fingerprint. Every fingerprint line, at
// session or media level, must give the same fingerprint: pion checks the
// certificate against the first it finds, and a second one would be a
// place to hide another.
func checkSDP(text string, audio bool) (ufrag, fingerprint string, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		return "", "", err
	}
	attr := func(key string) string {
		if v, ok := d.Attribute(key); ok {
			return v
		}
		for _, m := range d.MediaDescriptions {
			if v, ok := m.Attribute(key); ok {
				return v
			}
		}
		return ""
	}
	fps := 0
	each := func(attrs []sdp.Attribute) error {
		for _, a := range attrs {
			if a.Key != "fingerprint" {
				continue
			}
			fp := normalizeFingerprint(a.Value)
			switch {
			case fp == "":
				return fmt.Errorf("malformed DTLS fingerprint %q", a.Value)
			case fingerprint == "":
				fingerprint = fp
			case fp != fingerprint:
				return errors.New("more than one DTLS fingerprint")
			}
			fps++
		}
		return nil
	}
	if err := each(d.Attributes); err != nil {
		return "", "", err
	}
	app, opus := false, false
	for _, m := range d.MediaDescriptions {
		if err := each(m.Attributes); err != nil {
			return "", "", err
		}
		switch m.MediaName.Media {
		case "application":
			app = true
		case "audio":
			for _, a := range m.Attributes {
				opus = opus || a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), "opus/48000")
			}
		}
	}
	ufrag = attr("ice-ufrag")
	switch {
	case !app:
		return "", "", errors.New("no application (data channel) section")
	case audio && !opus:
		return "", "", errors.New("no Opus audio section")
	case ufrag == "":
		return "", "", errors.New("no ICE username fragment")
	case fingerprint == "":
		return "", "", errors.New("no DTLS fingerprint")
	}
	return ufrag, fingerprint, nil
}

// normalizeFingerprint returns "<algorithm> <HEX:…>" with the algorithm in
// lower case and the value in upper case, or "" if fp is not of that form.
func normalizeFingerprint(fp string) string {
	f := strings.Fields(fp)
	if len(f) != 2 {
		return ""
	}
	return strings.ToLower(f[0]) + " " + strings.ToUpper(f[1])
}

// queueDescription puts our offer or answer first in the send queue, then
// the candidates gathered meanwhile.
func (s *Session) queueDescription(kind Kind, text string) {
	var d sdp.SessionDescription
	ufrag := ""
	if d.UnmarshalString(text) == nil {
		for _, m := range d.MediaDescriptions {
			if v, ok := m.Attribute("ice-ufrag"); ok {
				ufrag = v
			}
		}
		if v, ok := d.Attribute("ice-ufrag"); ok {
			ufrag = v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.localUfrag = ufrag
	s.pushOut(Signal{Kind: kind, SDP: text})
	s.flushPendingOut()
}

// flushPendingOut queues the candidates gathered while no description was
// queued. Call with mu held.
func (s *Session) flushPendingOut() {
	s.descQueued = true
	for _, p := range s.pendingOut {
		s.pushOut(p)
	}
	s.pendingOut = nil
}

// pushOut queues sig for sendLoop, stamped with the session and (for a
// candidate) our ICE username fragment. Call with mu held.
func (s *Session) pushOut(sig Signal) {
	sig.Session = s.id
	sig.Generation = s.gen
	switch sig.Kind {
	case KindCandidate:
		sig.UsernameFragment = s.localUfrag
		s.sentCands++
	case KindEndOfCandidates:
		sig.Count = uint16(min(s.sentCands, 0xffff))
	}
	s.out = append(s.out, sig)
	select {
	case s.outReady <- struct{}{}:
	default:
	}
}

// onCandidate is pion's OnICECandidate: a gathered candidate, or nil at
// the end of gathering.
func (s *Session) onCandidate(c *webrtc.ICECandidate) {
	sig := Signal{Kind: KindEndOfCandidates}
	if c != nil {
		init := c.ToJSON()
		sig = Signal{Kind: KindCandidate, Candidate: init.Candidate}
		if init.SDPMid != nil {
			sig.SDPMid = *init.SDPMid
		}
		if init.SDPMLineIndex != nil {
			sig.SDPMLineIndex = *init.SDPMLineIndex
		}
		s.log.Debug("rtc: local candidate", "candidate", init.Candidate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.descQueued {
		s.pendingOut = append(s.pendingOut, sig)
		return
	}
	s.pushOut(sig)
}

// sendLoop hands queued signals to Config.Send, in order, until the
// session ends.
func (s *Session) sendLoop() {
	for {
		s.mu.Lock()
		batch := s.out
		s.out = nil
		s.mu.Unlock()
		for _, sig := range batch {
			if s.isEnded() {
				return
			}
			if err := s.cfg.Send(sig); err != nil {
				if (sig.Kind == KindOffer || sig.Kind == KindAnswer) && sig.Generation == 0 {
					s.end(fmt.Errorf("%w: %s: %w", ErrSignaling, sig.Kind, err))
					return
				}
				s.log.Debug("rtc: signal not sent", "kind", sig.Kind.String(), "err", err)
			}
		}
		select {
		case <-s.outReady:
		case <-s.ended:
			return
		}
	}
}

func (s *Session) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		if p, ok := s.Path(); ok {
			s.log.Debug("rtc: connected", "path", p.String())
		}
		s.mu.Lock()
		resumed := s.interrupted
		s.connected, s.interrupted = true, false
		s.checkingAt = time.Time{}
		s.mu.Unlock()
		if resumed {
			s.log.Info("rtc: connection resumed")
			if f := s.cfg.OnInterrupted; f != nil {
				s.emit(func() { f(false) })
			}
		}
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateConnecting:
		s.mu.Lock()
		lost := s.connected && !s.interrupted
		s.interrupted = s.interrupted || lost
		s.mu.Unlock()
		if lost {
			s.log.Info("rtc: connection interrupted", "state", st.String())
			if f := s.cfg.OnInterrupted; f != nil {
				s.emit(func() { f(true) })
			}
		}
	case webrtc.PeerConnectionStateFailed:
		s.end(s.failReason())
	case webrtc.PeerConnectionStateClosed:
		s.end(ErrRemoteClosed) // after a local Close, end has already run
	}
}

// onDataChannel is pion's OnDataChannel: a channel the other side opened.
// An answerer takes the first one labelled Label that is ordered and
// reliable; any other is closed as soon as it opens.
func (s *Session) onDataChannel(dc *webrtc.DataChannel) {
	ok := !s.cfg.Offerer && dc.Label() == Label && dc.Ordered() &&
		dc.MaxRetransmits() == nil && dc.MaxPacketLifeTime() == nil
	s.mu.Lock()
	if ok && s.dc == nil {
		s.dc = dc
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		s.log.Info("rtc: refused a data channel", "label", dc.Label())
		dc.OnOpen(func() { dc.Close() })
		return
	}
	s.attach(dc)
}

// attach wires the session's data channel to the callbacks.
func (s *Session) attach(dc *webrtc.DataChannel) {
	dc.OnOpen(s.markOpen)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !s.awaitVerified() {
			return
		}
		// Pion runs OnOpen on a goroutine of its own, which may come after
		// the first message: open here too, so OnOpen is first.
		s.markOpen()
		if s.cfg.OnMessage != nil {
			data := m.Data
			s.emit(func() { s.cfg.OnMessage(data) })
		}
	})
	dc.OnClose(func() { s.end(ErrRemoteClosed) })
}

func (s *Session) markOpen() {
	if !s.awaitVerified() {
		return
	}
	s.openOnce.Do(func() {
		s.mu.Lock()
		s.opened = true
		s.mu.Unlock()
		s.timer.Stop()
		if p, ok := s.Path(); ok {
			s.log.Info("rtc: open", "path", p.String())
		}
		if s.cfg.OnOpen != nil {
			s.emit(s.cfg.OnOpen)
		}
	})
}

// emit queues a callback for dispatch; after the end it is dropped.
func (s *Session) emit(f func()) {
	select {
	case s.events <- f:
	case <-s.ended:
	}
}

// dispatch runs the callbacks, in order, and OnClose last.
func (s *Session) dispatch() {
run:
	for {
		select {
		case f := <-s.events:
			f()
		case <-s.ended:
			break run
		}
	}
	// Pion's goroutines may still be handing over messages they had
	// received; once the PeerConnection is closed there are no more, and
	// the audio read loops see the end of their tracks.
	<-s.pcClosed
	s.mu.Lock()
	s.readersDone = true
	s.mu.Unlock()
	s.readers.Wait()
drain:
	for {
		select {
		case f := <-s.events:
			f()
		default:
			break drain
		}
	}
	s.mu.Lock()
	reason := s.reason
	s.mu.Unlock()
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(reason)
	}
	close(s.done)
}

func (s *Session) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// end ends the session for reason, once: it stops signaling and callbacks
// other than those already queued, and closes the PeerConnection in the
// background.
func (s *Session) end(reason error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.reason = reason
		s.mu.Unlock()
		s.timer.Stop()
		if errors.Is(reason, ErrClosed) {
			s.log.Debug("rtc: session closed")
		} else {
			s.log.Info("rtc: session ended", "reason", reason)
		}
		close(s.ended)
		go func() {
			if err := s.pc.Close(); err != nil {
				s.log.Debug("rtc: closing the peer connection", "err", err)
			}
			close(s.pcClosed)
		}()
	})
}

// Close ends the session without a word to the other side beyond what
// DTLS and SCTP say on closing, and waits for pion to let go of its
// sockets. OnClose(ErrClosed) follows, unless the session had already
// ended; Done is closed after it. Close may be called from a callback.
func (s *Session) Close() error {
	s.end(ErrClosed)
	<-s.pcClosed
	return nil
}

// Done is closed once the session has ended and OnClose has returned.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it has not.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Send sends one message on the data channel. A message over
// MaxMessageSize (64 KiB less one byte) is refused with ErrTooLarge: the
// session does not split messages, so a caller with more to say splits it
// itself. Send returns ErrNotOpen before the channel is open and
// ErrBufferFull when MaxBuffered bytes already wait to go out.
func (s *Session) Send(msg []byte) error {
	if len(msg) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(msg), MaxMessageSize)
	}
	if s.isEnded() {
		return ErrClosed
	}
	s.mu.Lock()
	dc := s.dc
	s.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrNotOpen
	}
	if dc.BufferedAmount()+uint64(len(msg)) > MaxBuffered {
		return ErrBufferFull
	}
	if err := dc.Send(msg); err != nil {
		if s.isEnded() {
			return ErrClosed
		}
		return fmt.Errorf("rtc: send: %w", err)
	}
	return nil
}

// Path returns the candidate pair ICE selected, and false before there is
// one. A remote candidate pion learnt as peer-reflexive (from a check that
// arrived before the candidate was signalled) is reported with the type
// the other side signalled for that address, so a relay is seen as one
// from both ends.
func (s *Session) Path() (Path, bool) {
	// Pion's ICE transport is started (unsynchronised) as the remote
	// description is applied; asking it before the channel opened races.
	s.mu.Lock()
	opened := s.opened
	s.mu.Unlock()
	if !opened {
		return Path{}, false
	}
	pair, err := s.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return Path{}, false
	}
	p := Path{
		Local:      CandidateType(pair.Local.Typ.String()),
		Remote:     CandidateType(pair.Remote.Typ.String()),
		LocalAddr:  net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))),
		RemoteAddr: net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))),
	}
	if p.Remote == PeerReflexive {
		if a, err := netip.ParseAddr(pair.Remote.Address); err == nil {
			key := netip.AddrPortFrom(a.Unmap(), pair.Remote.Port).String()
			s.mu.Lock()
			if t, ok := s.remoteCands[key]; ok {
				p.Remote = t
			}
			s.mu.Unlock()
		}
	}
	return p, true
}
