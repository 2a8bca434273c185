package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/rtc"
	"github.com/parleynet/parley/store"
)

// Letters carries call letters; *letters.Service is one. A letter is
// signed by this peer and sealed to the contact, so what it says, the
// fingerprint above all, is authentic at the other end. New registers the
// call kinds with it.
type Letters interface {
	Register(kinds ...letters.Kind) error
	Send(ctx context.Context, contactID int64, kind uint8, payload []byte) (overlay.Delivery, error)
}

// Defaults and fixed timings.
const (
	DefaultRingTimeout       = 45 * time.Second
	DefaultConnectTimeout    = 20 * time.Second
	DefaultMediaTimeout      = 15 * time.Second
	DefaultRestartAfter      = 3 * time.Second
	DefaultKeepaliveInterval = time.Second

	// ringGrace is how much longer than RingTimeout the callee rings, so
	// that the caller's cancel, when it comes, decides.
	ringGrace = 2 * time.Second
	// closeGrace is how long a call whose connection the other end closed
	// waits for its hangup message or letter to say why (a hangup, or a
	// security or device failure) before it ends without one.
	closeGrace = time.Second
	// sendTimeout bounds the sending of one letter.
	sendTimeout = 10 * time.Second
	// watchTick is how often the watchdog looks at a call.
	watchTick = 250 * time.Millisecond
)

// Bounds on what contacts can make a Manager hold.
const (
	maxPending = 128 // signals of a call not accepted yet
	maxEarly   = 16  // unknown calls whose letters came before their invite
	earlyTTL   = time.Minute
	maxDead    = 256 // ended calls remembered, to drop their late letters
)

// Config configures a Manager.
type Config struct {
	// Letters carries call letters; required. New registers the call
	// kinds with it, whose letters come in through HandleLetter.
	Letters Letters
	// DB holds the contacts and the call log; required.
	DB *store.DB
	// Identity is this peer's; it only names it in the log.
	Identity *identity.Identity
	// ICEServers returns the STUN and TURN servers for a call (the leaf's
	// supernodes, with fresh credentials); nil: host candidates only.
	ICEServers func(ctx context.Context) ([]overlay.ICEServer, error)
	// Media makes the audio of established calls; required.
	Media Media

	// RingTimeout is how long a call rings unanswered before it ends as
	// missed; default DefaultRingTimeout.
	RingTimeout time.Duration
	// ConnectTimeout bounds the time from the answer to the media path
	// being up; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MediaTimeout is how long a call in progress may hear nothing from
	// the other end, no audio and no keepalive, before it ends as vanished
	// (ErrVanished); default DefaultMediaTimeout.
	MediaTimeout time.Duration
	// RestartAfter is how long a call in progress hears nothing before it
	// restarts ICE (the network may have changed), and then again at most
	// this often; default DefaultRestartAfter.
	RestartAfter time.Duration
	// KeepaliveInterval is how often a call in progress says it is there
	// on its data channel; default DefaultKeepaliveInterval.
	KeepaliveInterval time.Duration

	// Clock is the clock of the call log and the ring and connect timers;
	// default the system's.
	Clock Clock
	// Logger receives the log; default discards. Call lifecycle (dialled,
	// ringing, connected, ended) is logged at Info, letters at Debug.
	Logger *slog.Logger
	// OnEvent, if set, is told of every change of every call, in order,
	// from a goroutine of the Manager's; it may call the Manager (Accept
	// on EventIncoming, to auto-answer).
	OnEvent func(Event)
	// Tune adjusts each call's rtc.Config (tests: a vnet, ICE timeouts).
	Tune func(*rtc.Config)
}

// State is where a call stands.
type State uint8

// The call states.
const (
	// StateDialing: outgoing, the invite is on its way, no word back yet.
	StateDialing State = iota + 1
	// StateRinging: outgoing, the contact's device rings; incoming, ours
	// does.
	StateRinging
	// StateConnecting: answered; the media path is being set up.
	StateConnecting
	// StateActive: the media path is up, the certificates checked; talking.
	StateActive
	// StateEnded: over; see Info.Outcome.
	StateEnded
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateDialing:
		return "dialing"
	case StateRinging:
		return "ringing"
	case StateConnecting:
		return "connecting"
	case StateActive:
		return "active"
	case StateEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", s)
}

// Info describes a call.
type Info struct {
	ID        ID
	ContactID int64
	Username  string
	Direction store.Direction
	State     State
	// Started is when it began ringing, Answered when it was answered
	// (zero if it was not), Ended when it ended (zero while it goes on).
	Started, Answered, Ended time.Time
	// Outcome, Reason and Err say how it ended: Outcome as logged, Reason
	// in words, Err the cause when the call did not simply end by a hang-up
	// or the user's own choice (ErrSecurity, ErrVanished, ErrDeclined, …).
	Outcome store.CallOutcome
	Reason  string
	Err     error
	// Path is the media path, once connected.
	Path rtc.Path
	// Sent and Received count the audio packets of the call.
	Sent, Received uint64
}

// Duration is how long the call was answered for (so far).
func (i Info) Duration() time.Duration {
	if i.Answered.IsZero() {
		return 0
	}
	end := i.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(i.Answered)
}

// EventType says what happened to a call.
type EventType uint8

// The event types.
const (
	EventDialing     EventType = iota + 1 // we called (StateDialing)
	EventIncoming                         // a contact calls; ring (StateRinging, incoming)
	EventRinging                          // the contact's device rings (StateRinging, outgoing)
	EventConnecting                       // answered; setting up the media path
	EventConnected                        // talking (StateActive)
	EventInterrupted                      // the media path was lost; reconnecting (ICE restart)
	EventResumed                          // the media path is back
	EventEnded                            // over (StateEnded): see Info.Outcome, Reason, Err
)

// String returns the event type's name.
func (t EventType) String() string {
	switch t {
	case EventDialing:
		return "dialing"
	case EventIncoming:
		return "incoming"
	case EventRinging:
		return "ringing"
	case EventConnecting:
		return "connecting"
	case EventConnected:
		return "connected"
	case EventInterrupted:
		return "interrupted"
	case EventResumed:
		return "resumed"
	case EventEnded:
		return "ended"
	}
	return fmt.Sprintf("event(%d)", t)
}

// Event is a change of a call.
type Event struct {
	Type EventType
	Call Info
}

// Manager runs the user's calls: it dials, rings, answers, sets up the
// WebRTC audio session, moves the audio, watches the call and logs it.
// One call at a time: a call that comes in during another is answered
// busy.
//
// All call state is owned by one goroutine (loop), fed through inbox by
// the API, by letters, by the sessions' callbacks and by timers. It never
// waits on the network: letters go out through a queue per call, sessions
// close in the background, and events go to OnEvent from a goroutine of
// their own.
type Manager struct {
	cfg Config
	log *slog.Logger

	inbox    chan func()
	quit     chan struct{} // closed by Close
	loopDone chan struct{} // closed when loop has returned
	closed   atomic.Bool
	wg       sync.WaitGroup // outboxes, media loops, closing sessions

	// Owned by loop.
	calls     map[ID]*call
	early     map[ID]*early   // letters of calls whose invite has not come
	dead      map[ID]struct{} // calls over or refused: their letters are dropped
	deadOrder []ID            // dead, oldest first

	evMu     sync.Mutex    // guards evQueue, evClosed
	evQueue  []Event       // events for OnEvent, in order
	evClosed bool          // no more events
	evKick   chan struct{} // poked when evQueue grows
	evDone   chan struct{} // closed when the event goroutine returned
	iceCache atomic.Pointer[[]webrtc.ICEServer]
}

// early is what came for a call before its invite did (letters may
// overtake each other on the way).
type early struct {
	contactID int64
	at        time.Time
	signals   []rtc.Signal
	cancelled bool  // a cancel or hangup came: the call is over already
	reason    uint8 // of the cancel
}

// New returns a Manager; Close stops it.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Letters == nil:
		return nil, errors.New("call: no letters")
	case cfg.DB == nil:
		return nil, errors.New("call: no database")
	case cfg.Media == nil:
		return nil, errors.New("call: no media")
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = DefaultRingTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MediaTimeout <= 0 {
		cfg.MediaTimeout = DefaultMediaTimeout
	}
	if cfg.RestartAfter <= 0 {
		cfg.RestartAfter = DefaultRestartAfter
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("part", "call")
	if cfg.Identity != nil {
		log = log.With("me", cfg.Identity.NodeID().Short())
	}
	m := &Manager{
		cfg:      cfg,
		log:      log,
		inbox:    make(chan func(), 256),
		quit:     make(chan struct{}),
		loopDone: make(chan struct{}),
		calls:    make(map[ID]*call),
		early:    make(map[ID]*early),
		dead:     make(map[ID]struct{}),
		evKick:   make(chan struct{}, 1),
		evDone:   make(chan struct{}),
	}
	if err := cfg.Letters.Register(m.kinds()...); err != nil {
		return nil, err
	}
	go m.loop()
	go m.emitLoop()
	return m, nil
}

// kinds are the letter kinds the Manager owns.
func (m *Manager) kinds() []letters.Kind {
	var ks []letters.Kind
	for k := KindFirst; k <= kindLast; k++ {
		ks = append(ks, letters.Kind{Kind: k, Name: "call " + kindName(k), Gate: letters.FromCallable,
			Handle: func(_ context.Context, l letters.Letter) error {
				m.HandleLetter(l.Contact, l.Kind, l.Payload, l.Time)
				return nil
			}})
	}
	return ks
}

// loop runs what is posted, in order, until Close.
func (m *Manager) loop() {
	defer close(m.loopDone)
	for {
		select {
		case f := <-m.inbox:
			f()
		case <-m.quit:
			return
		}
	}
}

// post queues f for loop; it reports false after Close.
func (m *Manager) post(f func()) bool {
	select {
	case <-m.quit:
		return false
	default:
	}
	select {
	case m.inbox <- f:
		return true
	case <-m.quit:
		return false
	}
}

// do runs f on loop and waits for it; ErrClosed after Close.
func (m *Manager) do(f func()) error {
	done := make(chan struct{})
	if !m.post(func() { defer close(done); f() }) {
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-m.loopDone:
		return ErrClosed
	}
}

// Close hangs up every call, waits for the last letters to go (each
// within 10 s) and the sessions to close, and stops the Manager.
func (m *Manager) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.do(func() {
		for _, c := range m.calls {
			m.hangupLocal(c)
		}
	})
	close(m.quit)
	<-m.loopDone
	m.wg.Wait()
	m.evMu.Lock()
	m.evClosed = true
	m.evMu.Unlock()
	m.kickEvents()
	<-m.evDone
	return nil
}

// emit queues an event for OnEvent.
func (m *Manager) emit(t EventType, c *call) {
	if m.cfg.OnEvent == nil {
		return
	}
	ev := Event{Type: t, Call: c.info()}
	m.evMu.Lock()
	if !m.evClosed {
		m.evQueue = append(m.evQueue, ev)
	}
	m.evMu.Unlock()
	m.kickEvents()
}

func (m *Manager) kickEvents() {
	select {
	case m.evKick <- struct{}{}:
	default:
	}
}

// emitLoop hands events to OnEvent, in order.
func (m *Manager) emitLoop() {
	defer close(m.evDone)
	for {
		m.evMu.Lock()
		batch, closed := m.evQueue, m.evClosed
		m.evQueue = nil
		m.evMu.Unlock()
		for _, ev := range batch {
			m.cfg.OnEvent(ev)
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-m.evKick
		}
	}
}

// now is the Clock's time.
func (m *Manager) now() time.Time { return m.cfg.Clock.Now() }

// dbCtx is the context of a database write.
func dbCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// iceServers returns the ICE servers for a new call. Without a working
// Config.ICEServers the call still gets host candidates (and the last
// servers that worked).
func (m *Manager) iceServers(ctx context.Context) []webrtc.ICEServer {
	if m.cfg.ICEServers == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	servers, err := m.cfg.ICEServers(ctx)
	if err != nil {
		m.log.Info("call without fresh STUN/TURN servers", "err", err)
		if p := m.iceCache.Load(); p != nil {
			return *p
		}
		return nil
	}
	var out []webrtc.ICEServer
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential,
			CredentialType: webrtc.ICECredentialTypePassword})
	}
	m.iceCache.Store(&out)
	return out
}

// Dial calls accepted contact contactID and returns the call's ID; the
// call goes on in the background (events). It returns ErrNotContact for
// anyone else and ErrInCall during another call.
func (m *Manager) Dial(ctx context.Context, contactID int64, opts ...DialOption) (ID, error) {
	if m.closed.Load() {
		return ID{}, ErrClosed
	}
	contact, err := m.cfg.DB.Contact(ctx, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return ID{}, ErrNotContact
	}
	if err != nil {
		return ID{}, fmt.Errorf("call: %w", err)
	}
	if !callable(contact) {
		return ID{}, ErrNotContact
	}
	servers := m.iceServers(ctx)
	var id ID
	var derr error
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := m.do(func() { id, derr = m.dial(contact, servers, o) }); err != nil {
		return ID{}, err
	}
	return id, derr
}

// DialOption sets something of one outgoing call.
type DialOption func(*dialOptions)

type dialOptions struct {
	media Media
}

// WithMedia makes the call's audio with media instead of Config.Media: a
// call whose sound comes from files ('parley call --play'), say.
func WithMedia(media Media) DialOption {
	return func(o *dialOptions) { o.media = media }
}

// callable reports whether c may call and be called: an accepted contact
// whose key has not changed under it.
func callable(c store.Contact) bool {
	return c.State == store.ContactAccepted && c.PendingKey == nil
}

// Accept answers incoming call id, which must be ringing.
func (m *Manager) Accept(id ID) error {
	if m.closed.Load() {
		return ErrClosed
	}
	servers := m.iceServers(context.Background())
	var aerr error
	if err := m.do(func() {
		c := m.calls[id]
		if c == nil || c.dir != store.Incoming || c.state != StateRinging {
			aerr = ErrNoCall
			return
		}
		m.answer(c, servers)
	}); err != nil {
		return err
	}
	return aerr
}

// Decline declines incoming call id, which must be ringing.
func (m *Manager) Decline(id ID) error {
	var derr error
	if err := m.do(func() {
		c := m.calls[id]
		if c == nil || c.dir != store.Incoming || c.state != StateRinging {
			derr = ErrNoCall
			return
		}
		m.decline(c)
	}); err != nil {
		return err
	}
	return derr
}

// Hangup ends call id, whatever its state: it cancels an outgoing call
// that was not answered yet, declines an incoming one that rings, and
// hangs up one that was answered.
func (m *Manager) Hangup(id ID) error {
	var herr error
	if err := m.do(func() {
		c := m.calls[id]
		if c == nil {
			herr = ErrNoCall
			return
		}
		m.hangupLocal(c)
	}); err != nil {
		return err
	}
	return herr
}

// Call describes call id, while it goes on.
func (m *Manager) Call(id ID) (Info, bool) {
	var info Info
	var ok bool
	m.do(func() {
		if c := m.calls[id]; c != nil {
			info, ok = c.info(), true
		}
	})
	return info, ok
}

// Calls describes the calls going on (at most one, and one more ringing
// for a moment).
func (m *Manager) Calls() []Info {
	var out []Info
	m.do(func() {
		for _, c := range m.calls {
			out = append(out, c.info())
		}
	})
	return out
}

// HandleLetter takes a call letter from contact c, sent at sent (the
// letter's signed time), as the letters service hands it over. Letters of anyone but
// an accepted contact, malformed letters and letters about another
// contact's call are dropped. It does not block on the network.
func (m *Manager) HandleLetter(c store.Contact, kind uint8, payload []byte, sent time.Time) {
	if kind < KindFirst || kind > kindLast {
		m.log.Debug("unknown call letter", "kind", kind, "from", c.Username)
		return
	}
	if !callable(c) {
		m.log.Info("call letter from someone who is not an accepted contact", "from", c.Username, "kind", kindName(kind))
		return
	}
	l, err := decodeLetter(kind, payload)
	if err != nil {
		m.log.Info("dropping call letter", "from", c.Username, "err", err)
		return
	}
	m.log.Debug("call letter", "from", c.Username, "kind", kindName(kind), "call", l.Call.short())
	m.post(func() { m.take(c, kind, l, sent) })
}

// SetMuted mutes or unmutes the microphone of call id (its Source must be
// a Muter).
func (m *Manager) SetMuted(id ID, muted bool) error {
	var src *Source
	m.do(func() {
		if c := m.calls[id]; c != nil {
			src = c.src.Load()
		}
	})
	if src == nil {
		return ErrNoCall
	}
	mu, ok := (*src).(Muter)
	if !ok {
		return errors.New("call: this call's audio cannot be muted")
	}
	mu.SetMuted(muted)
	return nil
}

// Levels returns the input (microphone) and output levels of call id in
// dBFS, for meters; ok is false while the call has no audio.
func (m *Manager) Levels(id ID) (in, out float64, ok bool) {
	var src *Source
	var sink *Sink
	m.do(func() {
		if c := m.calls[id]; c != nil {
			src, sink = c.src.Load(), c.sink.Load()
		}
	})
	if src == nil || sink == nil {
		return 0, 0, false
	}
	l1, ok1 := (*src).(Leveler)
	l2, ok2 := (*sink).(Leveler)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return l1.Level(), l2.Level(), true
}
