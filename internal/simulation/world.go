// Package simulation runs the real overlay code — Node, Leaf, Supernode,
// TLS links, the directory, the election — for thousands of peers over the
// in-memory network of overlay/sim, in virtual time. It must run inside a
// testing/synctest bubble (the tests do; cmd/parley-sim makes one).
//
// A world has a few seeds and Nodes peers. A share of the peers sits behind
// NAT (never eligible as supernodes). Every peer claims a username and
// publishes its presence once online, as the desktop app does. Scenarios
// (join, churn, bootstorm) script arrivals, departures and restarts and
// measure what the issue asks: how fast peers are logged in and findable,
// how many logins reach the seeds, lookup success and hops, the busiest
// supernode's login rate, and supernodes that failed.
//
// All random choices (identities, which peers are behind NAT, latencies,
// churn and restart schedules, every node's jitter) come from one seed.
// Goroutine scheduling is the Go runtime's, so figures can differ slightly
// between runs of the same seed; the inputs never do.
package simulation

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/sim"
	"github.com/parleynet/parley/overlay/wire"
)

// Params describes a world.
type Params struct {
	Seed        uint64
	Nodes       int     // peers besides the seeds
	Seeds       int     // default 3
	NATShare    float64 // share of peers behind NAT; default 0.6
	NoHostCache bool    // peers forget their host cache on restart
	// TargetLeaves is the primary leaves a supernode aims for; default 150.
	// Elections start when a supernode holds 1.5× it.
	TargetLeaves int
	// MaxPeers is the supernodes' link bound (the tier scenario); default
	// the production 64.
	MaxPeers int
	Logger   *slog.Logger
}

// Timings of the simulated network: the production defaults, except where
// noted, so that a virtual hour covers promotions and demotions.
const (
	heartbeat   = 15 * time.Second
	presenceTTL = 3 * time.Minute
	loginRate   = 200  // per elected supernode per second (admission limit)
	maxLeaves   = 2000 // primary (and standby) leaves per elected supernode
	// Seeds run parley-seed on servers, with its defaults.
	seedLoginRate = 500
	seedMaxLeaves = 10000
	minUptime     = 3 * time.Minute
	simDifficulty = 4 // claim proof of work: its cost is not what is simulated
	port          = "4717"
)

// World is a simulated network of Parley peers.
type World struct {
	p     Params
	net   *sim.Net
	rng   *rand.Rand
	seeds []*peer
	peers []*peer
	start time.Time

	mu      sync.Mutex
	retired stats // guarded by mu: counters of supernodes that stopped
}

// peer is one simulated Parley.
type peer struct {
	idx   int
	name  string
	ip    string
	host  *sim.Host
	id    *identity.Identity
	cache *overlay.MemHostCache
	nat   bool
	seed  bool
	rng   *rand.Rand
	// mu guards node, cancel, done, up and lastSN: crashes and restarts
	// run on goroutines of their own while the world is observed.
	mu     sync.Mutex
	node   *overlay.Node
	cancel context.CancelFunc
	done   chan struct{}
	up     bool // being run (not crashed)
	lastSN *overlay.Supernode
}

// stats are login counters summed over supernodes.
type stats struct {
	accepted, redirected uint64
}

// NewWorld builds the network and the peers' identities; nothing runs yet.
func NewWorld(p Params) *World {
	if p.Seeds == 0 {
		p.Seeds = 3
	}
	if p.NATShare == 0 {
		p.NATShare = 0.6
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.TargetLeaves == 0 {
		p.TargetLeaves = 150
	}
	w := &World{p: p, net: sim.NewNet(p.Seed), rng: rand.New(rand.NewPCG(p.Seed, 0x5eed))}
	keys := rand.NewChaCha8([32]byte{byte(p.Seed), byte(p.Seed >> 8), byte(p.Seed >> 16), byte(p.Seed >> 24), 'p', 'a', 'r', 'l', 'e', 'y'})
	mk := func(i int, seed bool) *peer {
		id, err := identity.New(keys)
		if err != nil {
			panic(err)
		}
		pr := &peer{idx: i, id: id, seed: seed, cache: overlay.NewMemHostCache(),
			rng: rand.New(rand.NewPCG(p.Seed, uint64(i)+1))}
		if seed {
			pr.ip = fmt.Sprintf("127.0.100.%d", i+1)
		} else {
			pr.ip = fmt.Sprintf("127.%d.%d.%d", 1+i>>16, (i>>8)&0xff, i&0xff)
			pr.name = fmt.Sprintf("user%d", i)
			pr.nat = w.rng.Float64() < p.NATShare
		}
		pr.host = w.net.Host(pr.ip)
		pr.host.SetNAT(pr.nat)
		return pr
	}
	for i := range p.Seeds {
		w.seeds = append(w.seeds, mk(i, true))
	}
	for i := range p.Nodes {
		w.peers = append(w.peers, mk(i, false))
	}
	return w
}

func (w *World) seedAddrs() []overlay.SeedAddr {
	out := make([]overlay.SeedAddr, len(w.seeds))
	for i, s := range w.seeds {
		out[i] = overlay.SeedAddr{Addr: s.ip + ":" + port}
	}
	return out
}

// running returns the peer's node and whether it runs (not crashed).
func (pr *peer) running() (*overlay.Node, bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.node, pr.up
}

// stop marks the peer down and returns how to stop its node and the
// supernode it was last seen serving as; ok is false if it was down.
func (pr *peer) stop() (cancel context.CancelFunc, done chan struct{}, last *overlay.Supernode, ok bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.up {
		return nil, nil, nil, false
	}
	pr.up = false
	last, pr.lastSN = pr.lastSN, nil
	return pr.cancel, pr.done, last, true
}

// startPeer runs a peer (again, after a restart).
func (w *World) startPeer(pr *peer) {
	if _, up := pr.running(); up {
		return
	}
	if w.p.NoHostCache && !pr.seed {
		pr.cache = overlay.NewMemHostCache()
	}
	cfg := overlay.NodeConfig{
		Identity: pr.id,
		Network:  pr.host,
		Logger:   w.p.Logger,
		Seeds:    w.seedAddrs(),
		Cache:    pr.cache,
		Listen:   pr.ip + ":" + port,
		Seed:     pr.seed,
		Spare:    func() bool { return true },
		Supernode: overlay.SupernodeConfig{
			Rand:             rand.New(rand.NewPCG(pr.rng.Uint64(), 1)),
			Heartbeat:        heartbeat,
			MaxLeaves:        maxLeaves,
			MaxStandbys:      maxLeaves,
			LoginRate:        loginRate,
			TargetLeaves:     w.p.TargetLeaves,
			MinUptime:        minUptime,
			ElectionInterval: 30 * time.Second,
			MinTenure:        15 * time.Minute,
			DemoteAfter:      5 * time.Minute,
			Cooldown:         30 * time.Minute,
			ClaimDifficulty:  simDifficulty,
		},
		Leaf: overlay.LeafConfig{
			Rand:            rand.New(rand.NewPCG(pr.rng.Uint64(), 2)),
			ClaimDifficulty: simDifficulty,
			Presence:        wire.StatusOnline,
			PresenceTTL:     presenceTTL,
			CandidacyEvery:  2 * time.Minute,
		},
	}
	if pr.seed {
		cfg.Supernode.MaxLeaves, cfg.Supernode.MaxStandbys, cfg.Supernode.LoginRate = seedMaxLeaves, seedMaxLeaves, seedLoginRate
	}
	node, err := overlay.NewNode(cfg)
	if err != nil {
		panic(fmt.Sprintf("simulation: peer %d: %v", pr.idx, err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	pr.mu.Lock()
	pr.node, pr.cancel, pr.done, pr.up = node, cancel, done, true
	pr.mu.Unlock()
	go func() {
		defer close(done)
		node.Run(ctx)
	}()
	if !pr.seed {
		go w.claim(ctx, pr, node)
	}
}

// claim publishes the peer's username once it is online, as the app does.
func (w *World) claim(ctx context.Context, pr *peer, node *overlay.Node) {
	for ctx.Err() == nil {
		if node.Leaf().Status().Primary != nil {
			rec, err := record.NewClaim(pr.id, pr.name, uint64(time.Now().UnixMilli()), time.Now(), record.ClaimTTL, simDifficulty)
			if err != nil {
				return
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = node.Leaf().Publish(pctx, rec)
			cancel()
			if err == nil {
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// crash kills a peer's machine: its links reset, nothing is said.
func (w *World) crash(pr *peer) {
	cancel, done, last, ok := pr.stop()
	if !ok {
		return
	}
	w.retire(last)
	pr.host.Down()
	cancel()
	<-done
}

// restart brings a crashed peer's machine back and runs it again.
func (w *World) restart(pr *peer) {
	pr.host.Up()
	w.startPeer(pr)
}

// retire adds the counters of a supernode a peer no longer serves as to
// the retired totals.
func (w *World) retire(sn *overlay.Supernode) {
	if sn == nil {
		return
	}
	st := sn.Stats()
	w.mu.Lock()
	w.retired.accepted += st.LoginsAccepted
	w.retired.redirected += st.LoginsRedirected
	w.mu.Unlock()
}

// Close stops every peer and the network.
func (w *World) Close() {
	for _, pr := range append(append([]*peer(nil), w.seeds...), w.peers...) {
		if cancel, done, _, ok := pr.stop(); ok {
			cancel()
			<-done
		}
	}
	w.net.Close()
}

// sample is what the world looks like at one moment.
type sample struct {
	online, loggedIn, findable int
	supernodes                 int // serving, seeds included
	seedLogins, allLogins      uint64
	failed                     int // supernodes that stopped without demoting or crashing
	demoted                    int
}

// observe takes a sample, and tracks supernodes coming and going.
func (w *World) observe() sample {
	var s sample
	live, ring := w.liveRing()
	for _, pr := range w.seeds {
		if node, up := pr.running(); up && node.Supernode() != nil {
			sn := node.Supernode()
			st := sn.Stats()
			s.seedLogins += st.LoginsAccepted + st.LoginsRedirected
		}
	}
	s.supernodes = len(live)
	for _, pr := range w.peers {
		node, up := pr.running()
		if !up {
			continue
		}
		s.online++
		sn := node.Supernode()
		pr.mu.Lock()
		last := pr.lastSN
		if sn != nil || last != nil && sn != last {
			pr.lastSN = sn
		}
		pr.mu.Unlock()
		if last != nil && sn != last {
			if last.Stats().Demotions > 0 {
				s.demoted++
			} else {
				s.failed++
			}
			w.retire(last)
		}
		if node.Leaf().Status().Primary == nil {
			continue
		}
		s.loggedIn++
		if findable(live, ring, pr) {
			s.findable++
		}
	}
	w.mu.Lock()
	s.allLogins = w.retired.accepted + w.retired.redirected
	w.mu.Unlock()
	for _, sn := range live {
		st := sn.Stats()
		s.allLogins += st.LoginsAccepted + st.LoginsRedirected
	}
	return s
}

// liveRing returns the serving supernodes by NodeID, and their ring.
func (w *World) liveRing() (map[identity.NodeID]*overlay.Supernode, *record.Ring) {
	m := make(map[identity.NodeID]*overlay.Supernode)
	var ids []identity.NodeID
	for _, pr := range append(append([]*peer(nil), w.seeds...), w.peers...) {
		if node, up := pr.running(); up {
			if sn := node.Supernode(); sn != nil {
				m[sn.ID()] = sn
				ids = append(ids, sn.ID())
			}
		}
	}
	return m, record.NewRing(ids)
}

// findable reports whether a serving holder of pr's presence key has it.
func findable(live map[identity.NodeID]*overlay.Supernode, ring *record.Ring, pr *peer) bool {
	key := record.PresenceKey(pr.id.NodeID())
	for _, h := range ring.Holders(key, overlay.Replicas) {
		if live[h].HasRecord(key) {
			return true
		}
	}
	// A holder that just joined may not have been handed the record yet;
	// any serving supernode that has it will answer a lookup through it.
	for _, sn := range live {
		if sn.HasRecord(key) {
			return true
		}
	}
	return false
}

// liveSupernodes returns the serving supernodes, seeds included.
func (w *World) liveSupernodes() []*overlay.Supernode {
	live, _ := w.liveRing()
	out := make([]*overlay.Supernode, 0, len(live))
	for _, sn := range live {
		out = append(out, sn)
	}
	return out
}
