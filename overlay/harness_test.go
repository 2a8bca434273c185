package overlay

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleynet/parley/internal/testlog"
	"github.com/parleynet/parley/store"
)

// testLogger logs to the test at debug level when PARLEY_TEST_LOG is set.
// testLogger logs through t.Log when PARLEY_TEST_LOG is set.
var testLogger = testlog.New

func mustIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := NewIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

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

func startLeaf(t testing.TB, id *Identity, seeds []SeedAddr, cache HostCache) *testLeaf {
	t.Helper()
	return startLeafWith(t, LeafConfig{Identity: id, Seeds: seeds, Cache: cache})
}

// testDifficulty is the claim proof of work in tests: cheap.
const testDifficulty = 8

// startLeafWith starts a leaf from cfg, with test timings where unset.
func startLeafWith(t testing.TB, cfg LeafConfig) *testLeaf {
	t.Helper()
	cfg.Logger = testLogger(t)
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
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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
