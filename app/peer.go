package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay"
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
	Seeds []overlay.SeedAddr
	// Supernode makes this peer serve as a supernode on Listen.
	Supernode bool
	// Seed marks the supernode as a seed (implies Supernode).
	Seed bool
	// Listen is the supernode's overlay address. Default ":4717".
	Listen string
	// Advertise is the address others dial, if not derivable from Listen.
	Advertise string
	// MaxLeaves and LoginRate are the supernode's admission limits
	// (overlay defaults when zero).
	MaxLeaves int
	LoginRate float64
	// Heartbeat is the supernode's heartbeat interval (overlay default when zero).
	Heartbeat time.Duration
	// Control serves the local control socket that 'parley status' and
	// later commands talk to. The desktop app and daemon turn it on.
	Control bool
	Logger  *slog.Logger
}

// Role is a peer's role in the network.
type Role string

// Roles.
const (
	RoleLeaf      Role = "leaf"
	RoleSupernode Role = "supernode"
	RoleSeed      Role = "seed"
)

// Status is a snapshot of a running peer, as 'parley status' prints it.
type Status struct {
	NodeID      string                  `json:"node_id"`
	Fingerprint string                  `json:"fingerprint"`
	Username    string                  `json:"username,omitempty"`
	Role        Role                    `json:"role"`
	State       overlay.LeafState       `json:"state"`
	Primary     *overlay.LinkInfo       `json:"primary,omitempty"`
	Standbys    []overlay.LinkInfo      `json:"standbys,omitempty"`
	Listen      string                  `json:"listen,omitempty"`
	Supernode   *overlay.SupernodeStats `json:"supernode,omitempty"`
	Supernodes  []string                `json:"supernodes,omitempty"` // mesh peers of a supernode
	Version     string                  `json:"version"`
}

// Peer is one running Parley: identity, store and overlay role wired
// together. It is the API the UI, the CLI and the seed use.
type Peer struct {
	prof *Profile
	opts Options
	log  *slog.Logger

	leaf *overlay.Leaf
	sn   *overlay.Supernode

	mu      sync.Mutex
	watches []chan struct{} // guarded by mu: Watch subscribers
}

// NewPeer prepares a peer on an open profile. For a supernode it opens the
// listener at once, so that Addr is known before Run.
func NewPeer(prof *Profile, opts Options) (*Peer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Seeds == nil {
		opts.Seeds = overlay.MustParseSeeds(overlay.DefaultSeeds)
	}
	if opts.Seed {
		opts.Supernode = true
	}
	if opts.Listen == "" {
		opts.Listen = fmt.Sprintf(":%d", overlay.DefaultPort)
	}
	p := &Peer{prof: prof, opts: opts, log: opts.Logger}
	software := "parley/" + Version
	if opts.Supernode {
		join := append([]overlay.SeedAddr(nil), opts.Seeds...)
		if hosts, err := prof.DB.Hosts(context.Background()); err == nil {
			for _, h := range hosts {
				join = append(join, overlay.SeedAddr{Addr: h.Addr, ID: h.NodeID})
			}
		}
		sn, err := overlay.NewSupernode(overlay.SupernodeConfig{
			Identity:  prof.Identity,
			Logger:    opts.Logger,
			Listen:    opts.Listen,
			Advertise: opts.Advertise,
			Seed:      opts.Seed,
			Join:      join,
			MaxLeaves: opts.MaxLeaves,
			LoginRate: opts.LoginRate,
			Heartbeat: opts.Heartbeat,
			Software:  software,
		})
		if err != nil {
			return nil, err
		}
		p.sn = sn
		return p, nil
	}
	leaf, err := overlay.NewLeaf(overlay.LeafConfig{
		Identity: prof.Identity,
		Logger:   opts.Logger,
		Seeds:    opts.Seeds,
		Cache:    prof.DB,
		Software: software,
		OnChange: p.changed,
	})
	if err != nil {
		return nil, err
	}
	p.leaf = leaf
	return p, nil
}

// Profile returns the peer's profile.
func (p *Peer) Profile() *Profile { return p.prof }

// Addr returns the supernode's listen address, or "" for a leaf.
func (p *Peer) Addr() string {
	if p.sn == nil {
		return ""
	}
	return p.sn.Addr()
}

// Supernode returns the peer's supernode, or nil for a leaf.
func (p *Peer) Supernode() *overlay.Supernode { return p.sn }

// Run runs the peer until ctx is done, then shuts it down cleanly and
// returns nil. It returns an error only if the peer could not run.
func (p *Peer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if p.opts.Control {
		ctl, err := listenControl(p.prof.Dir, p)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); ctl.serve(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if p.sn != nil {
			err = p.sn.Serve(ctx)
		} else {
			err = p.leaf.Run(ctx)
		}
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		errc <- err
		cancel()
	}()
	wg.Wait()
	return <-errc
}

// Status returns a snapshot of the peer.
func (p *Peer) Status() Status {
	st := Status{
		NodeID:      p.prof.Identity.NodeID().String(),
		Fingerprint: p.prof.Fingerprint(),
		Username:    p.prof.Username,
		Version:     VersionString(),
	}
	if p.sn != nil {
		st.Role, st.State, st.Listen = RoleSupernode, overlay.StateOnline, p.sn.Addr()
		if p.opts.Seed {
			st.Role = RoleSeed
		}
		stats := p.sn.Stats()
		st.Supernode = &stats
		self := p.prof.Identity.NodeID()
		for _, sn := range p.sn.Supernodes() {
			if string(sn.ID) != string(self[:]) {
				st.Supernodes = append(st.Supernodes, sn.Addr)
			}
		}
		return st
	}
	ls := p.leaf.Status()
	st.Role, st.State, st.Primary, st.Standbys = RoleLeaf, ls.State, ls.Primary, ls.Standbys
	return st
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
