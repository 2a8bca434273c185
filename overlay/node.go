package overlay

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// NodeConfig configures a Node. The same Node runs in the desktop app, the
// daemon, the seed and the simulator.
type NodeConfig struct {
	Identity *identity.Identity
	Network  Network // default TCP{}
	Clock    Clock   // default SystemClock{}
	Logger   *slog.Logger
	Seeds    []SeedAddr
	Cache    HostCache // the leaf's host cache (nil: in memory)

	// Listen is the overlay address (TCP and UDP) on which the node serves
	// as a supernode or offers to; Advertise, if set, the address others
	// dial a seed or pinned supernode at.
	Listen    string
	Advertise string
	// Seed makes the node a seed: a supernode only, with no leaf.
	Seed bool
	// Pinned makes the node a supernode from the start that never demotes.
	Pinned bool
	// NoSupernode switches the supernode role off.
	NoSupernode bool
	// Spare reports whether the machine has resources to spare; default
	// SpareResources.
	Spare func() bool

	// Supernode and Leaf are the base configurations of the roles; the
	// fields above override theirs.
	Supernode SupernodeConfig
	Leaf      LeafConfig
	// OnChange is called when the node's roles or links change.
	OnChange func()
}

// Node is one peer of the network in all its roles: a leaf logged in to
// supernodes (unless it is a seed), a candidate offering to serve, and a
// supernode once elected (or from the start, for seeds and pinned ones).
// Promotion and demotion switch between candidate and supernode on the same
// port; the leaf, and so the user's session, goes on throughout.
type Node struct {
	cfg     NodeConfig
	log     *slog.Logger
	started time.Time
	leaf    *Leaf

	mu        sync.Mutex
	ctx       context.Context // guarded by mu: Run's, nil before
	wg        sync.WaitGroup  // supernode goroutines
	sn        *Supernode      // guarded by mu: while serving as a supernode
	cand      *Candidate      // guarded by mu: while offering to serve
	demotedAt time.Time       // guarded by mu
}

// NewNode prepares a node. A seed or pinned supernode opens its listener
// at once, so that Addr is known before Run.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Identity == nil {
		return nil, errors.New("overlay: node needs an identity")
	}
	if cfg.Network == nil {
		cfg.Network = TCP{}
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Spare == nil {
		cfg.Spare = SpareResources
	}
	n := &Node{cfg: cfg, log: cfg.Logger, started: cfg.Clock.Now()}
	if cfg.Seed || cfg.Pinned {
		sn, err := n.newSupernode(cfg.Listen, cfg.Advertise, nil)
		if err != nil {
			return nil, err
		}
		n.sn = sn
	}
	if cfg.Seed {
		return n, nil
	}
	lc := cfg.Leaf
	lc.Identity, lc.Network, lc.Clock, lc.Logger = cfg.Identity, cfg.Network, cfg.Clock, cfg.Logger
	lc.Seeds, lc.Cache = cfg.Seeds, cfg.Cache
	lc.Candidacy, lc.OnPromote = n.candidacy, n.promoted
	onChange := lc.OnChange
	lc.OnChange = func() {
		if onChange != nil {
			onChange()
		}
		n.changed()
	}
	leaf, err := NewLeaf(lc)
	if err != nil {
		return nil, err
	}
	n.leaf = leaf
	return n, nil
}

func (n *Node) changed() {
	if n.cfg.OnChange != nil {
		n.cfg.OnChange()
	}
}

// newSupernode makes the node's supernode on listen.
func (n *Node) newSupernode(listen, advertise string, ends []wire.Endorsement) (*Supernode, error) {
	join := append([]SeedAddr(nil), n.cfg.Seeds...)
	if n.cfg.Cache != nil {
		if hosts, err := n.cfg.Cache.Hosts(context.Background()); err == nil {
			for _, h := range hosts {
				join = append(join, SeedAddr{Addr: h.Addr, ID: h.NodeID})
			}
		}
	}
	if n.leaf != nil {
		st := n.leaf.Status()
		if st.Primary != nil {
			join = append(join, SeedAddr{Addr: st.Primary.Addr, ID: st.Primary.ID})
		}
		for _, l := range st.Standbys {
			join = append(join, SeedAddr{Addr: l.Addr, ID: l.ID})
		}
	}
	sc := n.cfg.Supernode
	sc.Identity, sc.Network, sc.Clock, sc.Logger = n.cfg.Identity, n.cfg.Network, n.cfg.Clock, n.cfg.Logger
	sc.Listen, sc.Advertise = listen, advertise
	sc.Seed, sc.Pinned, sc.Seeds, sc.Join = n.cfg.Seed, n.cfg.Pinned, n.cfg.Seeds, join
	sc.Endorsements, sc.OnDemote = ends, n.demoted
	return NewSupernode(sc)
}

// Leaf returns the node's leaf, or nil for a seed.
func (n *Node) Leaf() *Leaf { return n.leaf }

// Supernode returns the node's supernode, or nil while it is not one.
func (n *Node) Supernode() *Supernode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sn
}

// CandidateAddr returns where the node offers to serve, or "" if it does not.
func (n *Node) CandidateAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cand == nil {
		return ""
	}
	return n.cand.Addr()
}

// Run runs the node until ctx is done, then stops every role and returns.
// It returns an error only if the node could not run.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.mu.Lock()
	n.ctx = ctx
	if n.sn != nil {
		n.serveSupernode(n.sn)
	} else if !n.cfg.NoSupernode {
		n.offerOn(n.cfg.Listen)
	}
	n.mu.Unlock()
	var err error
	if n.leaf != nil {
		err = n.leaf.Run(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	} else {
		<-ctx.Done() // a seed: its supernode serves until the end
	}
	cancel()
	n.mu.Lock()
	if n.cand != nil {
		n.cand.Close()
		n.cand = nil
	}
	n.mu.Unlock()
	n.wg.Wait()
	return err
}

// serveSupernode runs sn until it stops; a demoted one is replaced by a
// candidacy on the same port. n.mu must be held.
func (n *Node) serveSupernode(sn *Supernode) {
	ctx := n.ctx
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := sn.Serve(ctx); err != nil {
			n.log.Error("supernode stopped", "err", err)
		}
		n.mu.Lock()
		if n.sn == sn {
			n.sn = nil
		}
		if ctx.Err() == nil && !n.cfg.NoSupernode && n.leaf != nil {
			n.offerOn(sn.Addr())
		}
		n.mu.Unlock()
		n.changed()
	}()
}

// offerOn starts listening as a candidate. n.mu must be held.
func (n *Node) offerOn(addr string) {
	c, err := ListenCandidate(CandidateConfig{Identity: n.cfg.Identity, Network: n.cfg.Network, Logger: n.log, Listen: addr})
	if err != nil {
		n.log.Warn("not offering to serve as a supernode", "listen", addr, "err", err)
		return
	}
	n.cand = c
}

// candidacy is the leaf's current offer to serve as a supernode.
func (n *Node) candidacy() *wire.Candidacy {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cand == nil || n.sn != nil {
		return nil
	}
	now := n.cfg.Clock.Now()
	c := &wire.Candidacy{
		Addr:    n.cand.Addr(),
		UptimeS: uint32(now.Sub(n.started) / time.Second),
		Spare:   n.cfg.Spare(),
	}
	if !n.demotedAt.IsZero() {
		c.DemotedS = uint32(max(1, now.Sub(n.demotedAt)/time.Second))
	}
	return c
}

// promoted starts serving as a supernode on the candidate's port, with the
// endorsements that elected it.
func (n *Node) promoted(ends []wire.Endorsement) {
	n.mu.Lock()
	if n.sn != nil || n.cand == nil || n.ctx == nil || n.ctx.Err() != nil || len(ends) == 0 {
		n.mu.Unlock()
		return
	}
	addr := n.cand.Addr()
	n.cand.Close()
	n.cand = nil
	sn, err := n.newSupernode(addr, ends[0].Addr, ends)
	if err != nil {
		n.log.Warn("elected, but cannot serve as a supernode", "err", err)
		n.offerOn(addr)
		n.mu.Unlock()
		return
	}
	n.log.Info("elected supernode", "listen", sn.Addr(), "advertise", ends[0].Addr)
	n.sn = sn
	n.serveSupernode(sn)
	n.mu.Unlock()
	n.changed()
}

// demoted is called by the supernode as it demotes itself.
func (n *Node) demoted() {
	n.mu.Lock()
	n.demotedAt = n.cfg.Clock.Now()
	n.mu.Unlock()
	n.log.Info("demoted to leaf")
}
