package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/letters"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/relay"
	"github.com/parleynet/parley/overlay/wire"
)

// Version is Parley's version, stamped at build time with
// -ldflags "-X github.com/parleynet/parley/app.Version=...".
var Version = "0.1.0-dev"

// Commit is the source commit, stamped at build time like Version.
var Commit = "unknown"

// VersionString is what --version prints.
func VersionString() string { return Version + " (" + Commit + ")" }

// Options configures a Peer. Zero fields take the defaults noted.
type Options struct {
	// Seeds are the bootstrap supernodes; nil means overlay.DefaultSeeds.
	Seeds Seeds
	// Supernode makes this peer serve as a supernode from the start and
	// never demote itself (an operator's choice).
	Supernode bool
	// Seed marks the peer as a seed: a supernode only, with no user.
	Seed bool
	// NoSupernode switches the supernode role off: the peer never offers
	// itself for election. The profile's setting (SetSupernodeRole) can
	// switch it off too.
	NoSupernode bool
	// Listen is the overlay address (TCP and UDP) on which the peer serves
	// as a supernode or, as a leaf, offers to. Default ":4717".
	Listen string
	// Advertise is the address others dial, if not derivable from Listen.
	Advertise string
	// MaxLeaves and LoginRate are the supernode's admission limits
	// (overlay defaults when zero).
	MaxLeaves int
	LoginRate float64
	// RelayPorts, if set, are the lowest and highest UDP ports of the
	// supernode's TURN relays (a seed behind a firewall rule).
	RelayPorts [2]uint16
	// Heartbeat is the supernode's heartbeat interval (overlay default when zero).
	Heartbeat time.Duration
	// ClaimRenew is how often the username claim is renewed. Default 24 h.
	ClaimRenew time.Duration
	Logger     *slog.Logger
	// Spare reports whether the machine has resources to spare for serving
	// as a supernode; nil means overlay.SpareResources.
	Spare func() bool
	// LetterRetry, if set, is the outbox's first wait before it sends a
	// letter again; the wait doubles up to ten times that. Zero: 2 s,
	// doubling up to 5 minutes.
	LetterRetry time.Duration
	// Media is the audio of calls (call/audio.Media with devices or
	// files); nil: the peer cannot call, and says calls need an audio
	// device.
	Media call.Media
	// AutoAnswer accepts every incoming call from a contact.
	AutoAnswer bool
	// AudioReady, if set, says whether Media can make audio now (a
	// microphone is there); Call refuses with its error wrapped in
	// ErrNoAudio.
	AudioReady func() error
	// FileMedia, if set, makes the media of a call whose sound comes from
	// files instead (CallOptions' Play and Record: a WAV file or "tone:HZ" to
	// send, a WAV file to record into); it checks they can be opened.
	FileMedia func(play, record string) (call.Media, error)
	// OnUpdate, if set, is told of every change the UI shows (contacts,
	// messages, presence, typing, calls), by username, in order, from a
	// goroutine of its own: it may block, which holds back later updates
	// but never the peer.
	OnUpdate func(Update)

	// network is how the peer reaches the network; nil means real
	// sockets. tuneSupernode, tuneLeaf, tuneLetters and tuneCall adjust
	// the configuration of the parts (app's tests).
	network       overlay.Network
	tuneSupernode func(*overlay.SupernodeConfig)
	tuneLeaf      func(*overlay.LeafConfig)
	tuneLetters   func(*letters.Config)
	tuneCall      func(*call.Config)

	// onChatEvent and onCallEvent, if set, are told of chat's and call's
	// own events (the echo account, app's tests); everything else takes
	// Updates.
	onChatEvent func(chat.Event)
	onCallEvent func(call.Event)
}

// Peer is one running Parley: a profile and its overlay Node, with the
// username claim and the control socket. It is the API the UI, the CLI and
// the seed use.
type Peer struct {
	prof    *profile.Profile
	opts    Options
	log     *slog.Logger
	node    *overlay.Node
	leaf    *overlay.Leaf    // nil for a seed
	letters *letters.Service // nil for a seed
	chat    *chat.Service    // nil for a seed
	calls   *call.Manager    // nil for a seed

	mu          sync.Mutex
	claim       string                      // guarded by mu: claim state for Status
	watches     []chan struct{}             // guarded by mu: Watch subscribers
	lastCalls   map[call.ID]call.Info       // guarded by mu: calls as their last event told
	callWaiters map[call.ID][]chan struct{} // guarded by mu: waitCall's, told of each event

	updates *updates // to Options.OnUpdate
}

// DefaultListen is where a peer serves as a supernode, or offers to, on
// TCP and UDP, when Options.Listen is empty.
var DefaultListen = fmt.Sprintf(":%d", overlay.DefaultPort)

// NewPeer prepares a peer on an open profile. A seed or pinned supernode
// opens its listener at once, so that Addr is known before Run.
func NewPeer(prof *profile.Profile, opts Options) (*Peer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Seeds == nil {
		opts.Seeds = overlay.MustParseSeeds(overlay.DefaultSeeds)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.ClaimRenew == 0 {
		opts.ClaimRenew = 24 * time.Hour
	}
	if !opts.Seed && !opts.Supernode && !opts.NoSupernode {
		off, err := prof.SupernodeRoleOff(context.Background())
		if err != nil {
			return nil, err
		}
		opts.NoSupernode = off
	}
	p := &Peer{prof: prof, opts: opts, log: opts.Logger, updates: newUpdates()}
	presence := wire.StatusOnline
	if !opts.Seed {
		set, err := LoadSettings(context.Background(), prof)
		if err != nil {
			return nil, err
		}
		presence, _ = presenceStatus(set.Presence) // Settings checked it
	}
	cfg := overlay.NodeConfig{
		Identity:    prof.Identity,
		Network:     opts.network,
		Logger:      opts.Logger,
		Seeds:       opts.Seeds,
		Cache:       prof.DB,
		Listen:      opts.Listen,
		Advertise:   opts.Advertise,
		Seed:        opts.Seed,
		Pinned:      opts.Supernode,
		NoSupernode: opts.NoSupernode,
		Spare:       opts.Spare,
		Supernode: overlay.SupernodeConfig{
			MaxLeaves: opts.MaxLeaves,
			LoginRate: opts.LoginRate,
			Heartbeat: opts.Heartbeat,
			Software:  "parley/" + Version,
		},
		Leaf: overlay.LeafConfig{
			Software: "parley/" + Version,
			Presence: presence,
		},
		OnChange: p.changed,
	}
	if lo, hi := opts.RelayPorts[0], opts.RelayPorts[1]; lo != 0 {
		cfg.Supernode.TuneRelay = func(rc *relay.Config) { rc.RelayPortMin, rc.RelayPortMax = lo, hi }
	}
	if opts.tuneSupernode != nil {
		opts.tuneSupernode(&cfg.Supernode)
	}
	if !opts.Seed {
		// The letters and chat services and the leaf need each other:
		// envelopes go from the leaf to letters, presence to chat, and
		// letters from both to the leaf.
		cfg.Leaf.OnEnvelope = func(from identity.NodeID, data []byte) error { return p.letters.HandleEnvelope(from, data) }
		cfg.Leaf.OnNotify = func(key [32]byte, rec *wire.Record) { p.chat.OnPresence(key, rec) }
	}
	if opts.tuneLeaf != nil {
		opts.tuneLeaf(&cfg.Leaf)
	}
	node, err := overlay.NewNode(cfg)
	if err != nil {
		return nil, err
	}
	p.node, p.leaf = node, node.Leaf()
	if !opts.Seed {
		lcfg := letters.Config{Identity: prof.Identity, DB: prof.DB, Net: p.leaf, Logger: opts.Logger}
		if opts.LetterRetry > 0 {
			lcfg.Retry = overlay.Backoff{Base: opts.LetterRetry, Cap: 10 * opts.LetterRetry}
		}
		if opts.tuneLetters != nil {
			opts.tuneLetters(&lcfg)
		}
		if p.letters, err = letters.New(lcfg); err != nil {
			return nil, err
		}
		ccfg := chat.Config{
			Letters:  p.letters,
			Username: func() string { return prof.Username },
			DB:       prof.DB,
			Net:      p.leaf,
			Logger:   opts.Logger,
			OnEvent:  p.onChatEvent,
			RTC:      &chat.RTC{ICEServers: p.leaf.ICEServers},
		}
		if p.chat, err = chat.New(ccfg); err != nil {
			return nil, err
		}
		media := opts.Media
		if media == nil {
			media = noAudio{}
		}
		kcfg := call.Config{
			Letters:    p.letters,
			DB:         prof.DB,
			Identity:   prof.Identity,
			ICEServers: p.leaf.ICEServers,
			Media:      media,
			Logger:     opts.Logger,
			OnEvent:    p.onCallEvent,
		}
		if opts.tuneCall != nil {
			opts.tuneCall(&kcfg)
		}
		if p.calls, err = call.New(kcfg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Profile returns the peer's profile.
func (p *Peer) Profile() *profile.Profile { return p.prof }

// Addr returns the supernode's listen address, or "" when not one.
func (p *Peer) Addr() string {
	if sn := p.node.Supernode(); sn != nil {
		return sn.Addr()
	}
	return ""
}

// AsSeed returns this peer as the one seed of another peer on the same
// machine (the seed's echo account); nil while it is not a supernode.
func (p *Peer) AsSeed() Seeds {
	sn := p.node.Supernode()
	if sn == nil {
		return nil
	}
	return Seeds{{Addr: sn.Addr(), ID: p.prof.Identity.NodeID()}}
}

// Run runs the peer until ctx is done, then shuts it down cleanly and
// returns nil. It returns an error only if the peer could not run.
func (p *Peer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if p.opts.OnUpdate != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.updates.run(ctx, p.opts.OnUpdate) }()
	}
	if p.leaf != nil {
		wg.Add(3)
		go func() { defer wg.Done(); p.claimLoop(ctx) }()
		go func() { defer wg.Done(); p.chat.Run(ctx) }()
		go func() { defer wg.Done(); p.letters.Run(ctx) }()
	}
	err := p.node.Run(ctx)
	cancel()
	wg.Wait()
	if p.calls != nil {
		p.calls.Close()
	}
	return err
}

// Watch returns a channel that receives (without blocking the peer, so
// changes may coalesce) whenever the peer's status changes, and a function
// that stops the watch.
func (p *Peer) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.watches = append(p.watches, ch)
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, c := range p.watches {
			if c == ch {
				p.watches = append(p.watches[:i], p.watches[i+1:]...)
				return
			}
		}
	}
}

func (p *Peer) changed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.watches {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
