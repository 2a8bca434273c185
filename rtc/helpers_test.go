package rtc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/internal/vnetworld"
)

// testLogger logs through t.Log when PARLEY_TEST_LOG is set.
var testLogger = testutil.Logger

// The NAT kinds and the virtual internet of internal/vnetworld.
type (
	natKind = vnetworld.NAT
	world   = vnetworld.World
)

const (
	natNone           = vnetworld.None
	natFullCone       = vnetworld.FullCone
	natAddrRestricted = vnetworld.AddrRestricted
	natPortRestricted = vnetworld.PortRestricted
	natSymmetric      = vnetworld.Symmetric
	serverIP          = vnetworld.ServerIP
)

var natKinds = vnetworld.Kinds

// newWorld is a world with two peers behind NATs of kinds.
//
// Tests that connect sessions on a world run in a synctest bubble
// (synctest.Test, after t.Parallel): everything pion starts on a vnet (the
// routers, the TURN server, ICE, DTLS, SCTP) runs on goroutines of the
// bubble that block on its channels, timers and sync.Conds, so time moves
// only when all of them wait. Pion's timing (candidate acceptance waits,
// check intervals, retransmissions, ICE timeouts) then holds whatever the
// load on the machine: on the wall clock a direct pair confirmed late
// under load lost to the relay. The bubble also checks that every
// goroutine a test started has ended when it returns.
func newWorld(t testing.TB, kinds [2]natKind) *world {
	t.Helper()
	return vnetworld.New(t, testLogger(t), kinds[:]...)
}

// iceServers is what the supernode would hand the leaf named user.
func iceServers(w *world, user string) []webrtc.ICEServer {
	urls, u, p := w.ICE(user)
	return []webrtc.ICEServer{{URLs: urls, Username: u, Credential: p}}
}

// udp4Only is a SettingEngine hook for vnet, which has no IPv6.
func udp4Only(se *webrtc.SettingEngine) {
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
}

// peer is a Session with its callbacks turned into channels.
type peer struct {
	*Session
	opened   chan struct{}
	msgs     chan []byte
	closedAt chan time.Time
	reasons  chan error // OnClose's reason; one only
	order    []string   // callbacks in the order they ran; read after Done
}

// peerConfig makes a Config whose callbacks feed p.
func (p *peer) config(cfg Config) Config {
	p.opened = make(chan struct{})
	p.msgs = make(chan []byte, 16)
	p.closedAt = make(chan time.Time, 1)
	p.reasons = make(chan error, 1)
	cfg.OnOpen = func() {
		p.order = append(p.order, "open")
		close(p.opened)
	}
	cfg.OnMessage = func(b []byte) {
		p.order = append(p.order, "message")
		p.msgs <- b
	}
	cfg.OnClose = func(reason error) {
		p.order = append(p.order, "close")
		p.closedAt <- time.Now()
		p.reasons <- reason
	}
	return cfg
}

// link carries signals from one session to another through a function,
// as envelopes would, and keeps the errors HandleSignal returned.
type link struct {
	mu         sync.Mutex
	to         *Session
	cut        bool
	delayRelay time.Duration       // relay candidates arrive this late
	rewrite    func(Signal) Signal // a hostile relay on the way
	errs       []error
}

func (l *link) send(sig Signal) error {
	l.mu.Lock()
	to, cut, delay, rewrite := l.to, l.cut, l.delayRelay, l.rewrite
	l.mu.Unlock()
	if cut || to == nil {
		return nil // lost on the way
	}
	if rewrite != nil {
		sig = rewrite(sig)
	}
	if delay > 0 && sig.Kind == KindCandidate && strings.Contains(sig.Candidate, " typ relay") {
		time.AfterFunc(delay, func() { l.deliver(to, sig) })
		return nil
	}
	l.deliver(to, sig)
	return nil
}

func (l *link) deliver(to *Session, sig Signal) {
	if err := to.HandleSignal(sig); err != nil && !errors.Is(err, ErrClosed) {
		l.mu.Lock()
		l.errs = append(l.errs, fmt.Errorf("%s: %w", sig.Kind, err))
		l.mu.Unlock()
	}
}

func (l *link) errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// pair is two connected sessions: a offers, b answers.
type pair struct {
	a, b   *peer
	ab, ba *link // signaling a→b and b→a
}

// newPair makes the two sessions of a pair on w and starts the offerer.
// tweak, if set, adjusts both Configs.
func newPair(t testing.TB, w *world, tweak func(*Config)) *pair {
	t.Helper()
	return newPairWith(t, w, tweak, nil)
}

// newPairWith is newPair with prepare, if set, called with the pair
// before the offerer starts.
func newPairWith(t testing.TB, w *world, tweak func(*Config), prepare func(*pair)) *pair {
	t.Helper()
	p := &pair{a: &peer{}, b: &peer{}, ab: &link{}, ba: &link{}}
	mk := func(pe *peer, i int, offerer bool, out *link) *Session {
		cfg := pe.config(Config{
			Offerer:       offerer,
			ICEServers:    iceServers(w, fmt.Sprintf("peer%d", i)),
			Send:          out.send,
			Net:           w.Nets[i],
			SettingEngine: udp4Only,
			Logger:        testLogger(t).With("peer", i),
		})
		if tweak != nil {
			tweak(&cfg)
		}
		s, err := NewSession(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pe.Session = s
		t.Cleanup(func() {
			s.Close()
			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Errorf("peer %d: Done not closed 10 s after Close", i)
			}
		})
		return s
	}
	sa := mk(p.a, 0, true, p.ab)
	sb := mk(p.b, 1, false, p.ba)
	p.ab.to, p.ba.to = sb, sa
	if prepare != nil {
		prepare(p)
	}
	if err := sa.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitOpen(t testing.TB, p *peer, d time.Duration) {
	t.Helper()
	select {
	case <-p.opened:
	case r := <-p.reasons:
		t.Fatalf("closed before opening: %v", r)
	case <-time.After(d):
		t.Fatalf("data channel not open after %v", d)
	}
}

func recv(t testing.TB, p *peer, d time.Duration) []byte {
	t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
		return nil
	}
}

func waitClosed(t testing.TB, p *peer, d time.Duration) (error, time.Time) {
	t.Helper()
	select {
	case at := <-p.closedAt:
		return <-p.reasons, at
	case <-time.After(d):
		t.Fatalf("OnClose not called within %v", d)
		return nil, time.Time{}
	}
}

// publicIP reports whether c comes from or goes to ip.
func touches(c vnet.Chunk, ip string) bool {
	return addrIP(c.SourceAddr()) == ip || addrIP(c.DestinationAddr()) == ip
}

func addrIP(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	return ""
}
