package overlay

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/sim"
	"github.com/parleynet/parley/store"
)

// testLogger logs to the test at debug level when PARLEY_TEST_LOG is set.
// testLogger logs through t.Log when PARLEY_TEST_LOG is set.
var testLogger = testutil.Logger

var mustIdentity = testutil.Identity

// testSN is a supernode running on a loopback port.
type testSN struct {
	*Supernode
	done chan struct{}
}

func (s *testSN) seedAddr() SeedAddr { return SeedAddr{Addr: s.Addr()} }

// stop closes the supernode and waits until Serve returned.
func (s *testSN) stop() {
	s.Close()
	<-s.done
}

func startSN(t testing.TB, mod func(*SupernodeConfig)) *testSN {
	t.Helper()
	cfg := SupernodeConfig{
		Identity:        mustIdentity(t),
		Logger:          testLogger(t),
		Listen:          "127.0.0.1:0",
		Heartbeat:       200 * time.Millisecond,
		ClaimDifficulty: testDifficulty,
		SweepInterval:   100 * time.Millisecond,
	}
	if w := worldOf(t); w != nil {
		h, ip := w.host()
		cfg.Network, cfg.Listen = h, ip+":4717"
	}
	if mod != nil {
		mod(&cfg)
	}
	sn, err := NewSupernode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &testSN{Supernode: sn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := sn.Serve(context.Background()); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func openCache(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testLeaf is a leaf running until stopped.
type testLeaf struct {
	*Leaf
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *testLeaf) stop() {
	l.cancel()
	<-l.done
}

func startLeaf(t testing.TB, id *identity.Identity, seeds []SeedAddr, cache HostCache) *testLeaf {
	t.Helper()
	return startLeafWith(t, LeafConfig{Identity: id, Seeds: seeds, Cache: cache})
}

// testDifficulty is the claim proof of work in tests: cheap.
const testDifficulty = testutil.ClaimDifficulty

// startLeafWith starts a leaf from cfg, with test timings where unset.
func startLeafWith(t testing.TB, cfg LeafConfig) *testLeaf {
	t.Helper()
	cfg.Logger = testLogger(t)
	if w := worldOf(t); w != nil && cfg.Network == nil {
		cfg.Network, _ = w.host()
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Retry == (Backoff{}) {
		cfg.Retry = Backoff{Base: 50 * time.Millisecond, Cap: 500 * time.Millisecond}
	}
	if cfg.ClaimDifficulty == 0 {
		cfg.ClaimDifficulty = testDifficulty
	}
	lf, err := NewLeaf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &testLeaf{Leaf: lf, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		lf.Run(ctx)
	}()
	t.Cleanup(l.stop)
	return l
}

// waitFor polls cond until it holds or timeout passes.
var waitFor = testutil.Eventually

// fullyLinked reports whether the leaf has a primary and n standbys.
func fullyLinked(l *Leaf, n int) bool {
	st := l.Status()
	return st.Primary != nil && len(st.Standbys) == n
}

// meshed reports whether each supernode links to all the others.
func meshed(sns ...*testSN) bool {
	for _, s := range sns {
		if s.Stats().Supernodes != len(sns)-1 {
			return false
		}
	}
	return true
}

// countingListener stands at an address and counts the connections made to
// it, answering none: a seed that is "down" but would see any attempt.
type countingListener struct {
	ln    net.Listener
	count atomic.Int64
	wg    sync.WaitGroup
}

func listenCounting(t testing.TB, addr string) *countingListener {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was just released by the stopped seed; retry briefly.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{ln: ln}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); c.wg.Wait() })
	return c
}

// simWorld is an in-memory network for tests that run inside
// synctest.Test: real links, TLS and message handling, virtual time.
type simWorld struct {
	net   *sim.Net
	mu    sync.Mutex
	hosts int // guarded by mu
}

func newSimWorld(t *testing.T) *simWorld {
	n := sim.NewNet(1)
	n.SetLatency(func(a, b string) time.Duration { return 5 * time.Millisecond })
	t.Cleanup(n.Close)
	return &simWorld{net: n}
}

// host returns a new host's network and address.
func (w *simWorld) host() (*sim.Host, string) {
	w.mu.Lock()
	w.hosts++
	n := w.hosts
	w.mu.Unlock()
	ip := fmt.Sprintf("10.0.%d.%d", n/250, n%250+1)
	return w.net.Host(ip), ip
}

// sn starts a supernode on a new host of t's bubble; join, if not nil, is
// the seed it joins (and trusts); if nil, it is a seed.
func (w *simWorld) sn(t *testing.T, join *testSN) *testSN {
	return startSN(t, func(c *SupernodeConfig) {
		if join == nil {
			c.Seed = true
			return
		}
		c.Join = []SeedAddr{join.seedAddr()}
		c.Seeds = []SeedAddr{join.seedAddr()}
	})
}

// worlds holds the in-memory network of each test running in a bubble
// (inSim), by its *testing.T.
var worlds sync.Map

// inSim runs f inside a synctest bubble, in virtual time, over an
// in-memory network: the supernodes, leaves and raw links the harness
// makes in it (startSN, startLeafWith, testNet, testListen) use that
// network. Real links, TLS and message handling; no wall clock, so load
// on the machine cannot change what the test sees.
func inSim(t *testing.T, f func(t *testing.T)) {
	synctest.Test(t, func(t *testing.T) {
		worlds.Store(t, newSimWorld(t))
		t.Cleanup(func() { worlds.Delete(t) })
		f(t)
	})
}

// worldOf returns the in-memory network of t's bubble, or nil.
func worldOf(t testing.TB) *simWorld {
	if w, ok := worlds.Load(t); ok {
		return w.(*simWorld)
	}
	return nil
}

// testNet returns a network for a raw link: a new host in t's bubble, or
// real TCP.
func testNet(t testing.TB) Network {
	if w := worldOf(t); w != nil {
		h, _ := w.host()
		return h
	}
	return TCP{}
}

// testListen listens on a new address: a new host in t's bubble, or a
// loopback port.
func testListen(t testing.TB) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	if w := worldOf(t); w != nil {
		h, ip := w.host()
		ln, err = h.Listen(ip + ":4717")
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// boundedTier starts a seed and n supernodes that join it, each with
// MaxPeers bound; the seed first.
func boundedTier(t *testing.T, n, bound int) []*testSN {
	t.Helper()
	seed := startSN(t, func(c *SupernodeConfig) { c.Seed = true; c.MaxPeers = bound })
	all := []*testSN{seed}
	for range n {
		all = append(all, startSN(t, func(c *SupernodeConfig) {
			c.MaxPeers = bound
			c.Join = []SeedAddr{seed.seedAddr()}
			c.Seeds = []SeedAddr{seed.seedAddr()}
		}))
	}
	return all
}

// viewsAre reports whether every supernode of all has a view of want.
func viewsAre(all []*testSN, want int) bool {
	for _, s := range all {
		if s.Stats().View != want {
			return false
		}
	}
	return true
}
