package call

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/internal/vnetworld"
	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
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
)

// newWorld is a world with a peer per NAT kind.
func newWorld(t testing.TB, kinds ...natKind) *world {
	t.Helper()
	return vnetworld.New(t, testLogger(t), kinds...)
}

// iceServers is what a supernode would hand the leaf named user.
func iceServers(w *world, user string) func(context.Context) ([]overlay.ICEServer, error) {
	return func(context.Context) ([]overlay.ICEServer, error) {
		urls, u, p := w.ICE(user)
		return []overlay.ICEServer{{URLs: urls, Username: u, Credential: p}}, nil
	}
}

// switchboard carries call letters between users, as sealed envelopes
// through supernodes would: in order per recipient, asynchronously. It can
// hold letters back (to make calls cross), lose them, or hand them to a
// hostile relay first.
type switchboard struct {
	mu      sync.Mutex
	users   map[identity.NodeID]*user
	held    bool
	pending []func()
	cut     map[identity.NodeID]bool
	// tap, if set, sees every letter and may rewrite it (a hostile relay
	// that can change the SDP but not forge the signed fingerprint field).
	tap func(from, to *user, kind uint8, l Letter) Letter
}

func newSwitchboard() *switchboard {
	return &switchboard{users: make(map[identity.NodeID]*user), cut: make(map[identity.NodeID]bool)}
}

// hold holds letters back until release.
func (sb *switchboard) hold() {
	sb.mu.Lock()
	sb.held = true
	sb.mu.Unlock()
}

func (sb *switchboard) release() {
	sb.mu.Lock()
	pending := sb.pending
	sb.pending, sb.held = nil, false
	sb.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

// cutOff loses every letter to or from u.
func (sb *switchboard) cutOff(u *user) {
	sb.mu.Lock()
	sb.cut[u.id.NodeID()] = true
	sb.mu.Unlock()
}

// port is one user's Letters: it hands letters straight to the
// recipient's Manager.HandleLetter (TestCallOverLetters runs the real
// letters service).
type port struct {
	sb *switchboard
	me *user
}

func (port) Register(...letters.Kind) error { return nil }

func (p port) Send(ctx context.Context, contactID int64, kind uint8, payload []byte) (overlay.Delivery, error) {
	c, err := p.me.db.Contact(ctx, contactID)
	if err != nil {
		return overlay.Delivery{}, err
	}
	sb := p.sb
	sb.mu.Lock()
	to := sb.users[identity.NodeID(c.NodeID)]
	lost := sb.cut[p.me.id.NodeID()] || to == nil || sb.cut[to.id.NodeID()]
	tap := sb.tap
	sb.mu.Unlock()
	if lost {
		return overlay.Delivery{Stored: 3}, nil
	}
	if tap != nil {
		l, err := decodeLetter(kind, payload)
		if err == nil {
			if payload, err = encodeLetter(tap(p.me, to, kind, l)); err != nil {
				panic(err)
			}
		}
	}
	// What the recipient knows of the sender.
	from, err := to.db.ContactByNodeID(ctx, p.me.id.NodeID())
	if err != nil {
		return overlay.Delivery{Delivered: true}, nil // a stranger's letter: the letters gate would drop it
	}
	deliver := func() { to.post(func() { to.m.HandleLetter(from, kind, payload, time.Now()) }) }
	sb.mu.Lock()
	if sb.held {
		sb.pending = append(sb.pending, deliver)
		sb.mu.Unlock()
		return overlay.Delivery{Delivered: true}, nil
	}
	sb.mu.Unlock()
	deliver()
	return overlay.Delivery{Delivered: true}, nil
}

// user is one peer: a Manager with its own database, contacts and media.
type user struct {
	t     testing.TB
	name  string
	id    *identity.Identity
	db    *store.DB
	m     *Manager
	media *fakeMedia
	inbox chan func() // letters for m, in order

	inMu     sync.Mutex // guards inClosed and sending on inbox
	inClosed bool

	mu     sync.Mutex
	events []Event
	evKick chan struct{}
}

// post queues f for u's letter goroutine, unless u is gone.
func (u *user) post(f func()) {
	u.inMu.Lock()
	defer u.inMu.Unlock()
	if !u.inClosed {
		u.inbox <- f
	}
}

// userOpts adjusts a user's Config.
type userOpts func(*Config)

// newUser makes a user on network n of w (nil w: host candidates on the
// loopback... of vnet n), registered with sb.
func newUser(t testing.TB, sb *switchboard, w *world, i int, name string, opts ...userOpts) *user {
	t.Helper()
	net := w.Nets[i]
	return newUserOn(t, sb, net, name, append([]userOpts{func(c *Config) {
		c.ICEServers = iceServers(w, name)
	}}, opts...)...)
}

// newUserOn makes a user on vnet network net (nil: the system's).
func newUserOn(t testing.TB, sb *switchboard, net *vnet.Net, name string, opts ...userOpts) *user {
	t.Helper()
	id, err := identity.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u := &user{t: t, name: name, id: id, db: db, media: newFakeMedia(), inbox: make(chan func(), 1024),
		evKick: make(chan struct{}, 1)}
	cfg := Config{
		Letters:  port{sb, u},
		DB:       db,
		Identity: id,
		Media:    u.media,
		Logger:   testLogger(t).With("user", name),
		OnEvent:  u.onEvent,
		Tune: func(c *rtc.Config) {
			if net != nil {
				c.Net = net
			}
			c.SettingEngine = func(se *webrtc.SettingEngine) {
				se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
			}
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	u.m, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range u.inbox {
			f()
		}
	}()
	t.Cleanup(func() {
		u.m.Close()
		u.inMu.Lock()
		u.inClosed = true
		close(u.inbox)
		u.inMu.Unlock()
		<-done
	})
	sb.mu.Lock()
	sb.users[id.NodeID()] = u
	sb.mu.Unlock()
	return u
}

func (u *user) onEvent(ev Event) {
	u.mu.Lock()
	u.events = append(u.events, ev)
	u.mu.Unlock()
	select {
	case u.evKick <- struct{}{}:
	default:
	}
}

// allEvents returns the events so far.
func (u *user) allEvents() []Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.events)
}

// waitEvent waits for the first event of type typ (of call id, unless
// zero) and returns it.
func (u *user) waitEvent(typ EventType, id ID, d time.Duration) Event {
	u.t.Helper()
	deadline := time.After(d)
	for {
		for _, ev := range u.allEvents() {
			if ev.Type == typ && (id == ID{} || ev.Call.ID == id) {
				return ev
			}
		}
		select {
		case <-u.evKick:
		case <-deadline:
			u.t.Fatalf("%s: no %v event within %v; events: %v", u.name, typ, d, u.eventTypes())
			return Event{}
		}
	}
}

// eventTypes lists the events so far, for messages.
func (u *user) eventTypes() []string {
	var out []string
	for _, ev := range u.allEvents() {
		s := fmt.Sprintf("%v(%s)", ev.Type, ev.Call.ID.short())
		if ev.Type == EventEnded {
			s = fmt.Sprintf("%v(%s: %s)", ev.Type, ev.Call.ID.short(), ev.Call.Reason)
		}
		out = append(out, s)
	}
	return out
}

// contact returns u's contact row for v.
func (u *user) contact(v *user) store.Contact {
	u.t.Helper()
	c, err := u.db.ContactByNodeID(context.Background(), v.id.NodeID())
	if err != nil {
		u.t.Fatalf("%s has no contact %s: %v", u.name, v.name, err)
	}
	return c
}

// dial calls v.
func (u *user) dial(v *user) ID {
	u.t.Helper()
	id, err := u.m.Dial(context.Background(), u.contact(v).ID)
	if err != nil {
		u.t.Fatalf("%s dials %s: %v", u.name, v.name, err)
	}
	return id
}

// logged returns u's call log entry for id.
func (u *user) logged(id ID) store.Call {
	u.t.Helper()
	calls, err := u.db.RecentCalls(context.Background(), 100)
	if err != nil {
		u.t.Fatal(err)
	}
	for _, c := range calls {
		if c.CallID == id {
			return c
		}
	}
	u.t.Fatalf("%s: call %s not logged", u.name, id.short())
	return store.Call{}
}

// befriend makes a and b each other's accepted contacts.
func befriend(t testing.TB, a, b *user) {
	t.Helper()
	addContact(t, a, b, store.ContactAccepted)
	addContact(t, b, a, store.ContactAccepted)
}

// addContact adds v to u's contacts in state.
func addContact(t testing.TB, u, v *user, state store.ContactState) {
	t.Helper()
	if _, err := u.db.AddContact(context.Background(), store.Contact{
		Username: v.name, PublicKey: v.id.PublicKey(), State: state, Created: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
}

// fakeMedia gives each call a source of numbered packets and a sink that
// records what arrives.
type fakeMedia struct {
	mu    sync.Mutex
	sinks map[ID]*recordSink
	srcs  map[ID]*numberSource
	fail  error         // Open fails with it
	pace  time.Duration // if set, sources are Paced and give a packet this often
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{sinks: make(map[ID]*recordSink), srcs: make(map[ID]*numberSource)}
}

func (f *fakeMedia) Open(i Info) (Source, Sink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, nil, f.fail
	}
	src, sink := &numberSource{call: i.ID, pace: f.pace}, &recordSink{}
	f.srcs[i.ID], f.sinks[i.ID] = src, sink
	return src, sink, nil
}

// sink returns the sink of call id, nil if its media was never opened.
func (f *fakeMedia) sink(id ID) *recordSink {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sinks[id]
}

func (f *fakeMedia) opened() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sinks)
}

// numberSource gives packets carrying the call ID and a running number.
type numberSource struct {
	call   ID
	n      atomic.Uint32
	closed atomic.Bool
	pace   time.Duration // if set: Paced, and each packet takes this long
}

// Paced reports whether the source sets the pace, like a microphone.
func (s *numberSource) Paced() bool { return s.pace > 0 }

func (s *numberSource) NextPacket() ([]byte, error) {
	if s.pace > 0 {
		time.Sleep(s.pace)
	}
	b := make([]byte, 4, 4+len(s.call))
	binary.BigEndian.PutUint32(b, s.n.Add(1)-1)
	return append(b, s.call[:]...), nil
}

func (s *numberSource) Close() error { s.closed.Store(true); return nil }

// recordSink records the packets pushed to it.
type recordSink struct {
	mu     sync.Mutex
	pkts   []recorded
	closed bool
	late   int // packets pushed after Close
}

type recorded struct {
	seq     uint16
	ts      uint32
	payload []byte
}

func (s *recordSink) Push(seq uint16, ts uint32, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.late++
	}
	s.pkts = append(s.pkts, recorded{seq, ts, payload})
}

func (s *recordSink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *recordSink) packets() []recorded {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pkts)
}

// waitAudio waits until u's sink of call id has n packets, and checks
// they are the other end's numbered packets of this call, in order.
func waitAudio(t testing.TB, u *user, id ID, n int, d time.Duration) []recorded {
	t.Helper()
	return waitMoreAudio(t, u, id, 0, n, d)
}

// waitMoreAudio is waitAudio for n packets after the first skip ones.
func waitMoreAudio(t testing.TB, u *user, id ID, skip, n int, d time.Duration) []recorded {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := u.media.sink(id).packets()
		if len(got) >= skip+n {
			got = got[skip:]
			for i, p := range got {
				if len(p.payload) != 4+len(id) || ID(p.payload[4:]) != id {
					t.Fatalf("%s: packet %d is not of call %s: % x", u.name, i, id.short(), p.payload)
				}
				if i > 0 && (p.seq != got[i-1].seq+1 || p.ts-got[i-1].ts != 960 ||
					binary.BigEndian.Uint32(p.payload) != binary.BigEndian.Uint32(got[i-1].payload)+1) {
					t.Fatalf("%s: packet %d (seq %d ts %d #%d) does not follow (seq %d ts %d #%d)", u.name, i,
						p.seq, p.ts, binary.BigEndian.Uint32(p.payload),
						got[i-1].seq, got[i-1].ts, binary.BigEndian.Uint32(got[i-1].payload))
				}
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d audio packets of call %s within %v, want %d", u.name, len(got), id.short(), d, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
