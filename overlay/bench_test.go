package overlay

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
)

// loginOnce starts a leaf and returns how long it took to have a primary.
func loginOnce(b *testing.B, id *identity.Identity, seeds []SeedAddr, cache HostCache) time.Duration {
	b.Helper()
	up := make(chan struct{}, 1)
	var lf *Leaf
	lf, err := NewLeaf(LeafConfig{
		Identity: id,
		Seeds:    seeds,
		Cache:    cache,
		OnChange: func() {
			if lf.Status().Primary != nil {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); lf.Run(ctx) }()
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		b.Fatal("no login within 10 s")
	}
	took := time.Since(start)
	cancel()
	<-done
	return took
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkLoginWarmCache measures a leaf's login on loopback when its host
// cache holds a live supernode: start to primary link up, including the
// TLS 1.3 handshake, Hello/Welcome and the sqlite host-cache updates.
// Target: p95 under 200 ms.
func BenchmarkLoginWarmCache(b *testing.B) {
	seed := startSN(b, func(c *SupernodeConfig) { c.Seed = true })
	sn := startSN(b, func(c *SupernodeConfig) { c.Join = []SeedAddr{seed.seedAddr()} })
	id := mustIdentity(b)
	cache := openCache(b)
	if err := cache.HostSucceeded(context.Background(), sn.ID(), sn.Addr(), time.Now()); err != nil {
		b.Fatal(err)
	}
	seedLogins := seed.Stats().LoginsAccepted
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, loginOnce(b, id, []SeedAddr{seed.seedAddr()}, cache))
	}
	if seed.Stats().LoginsAccepted != seedLogins {
		b.Fatal("a warm-cache login reached the seed")
	}
	reportPercentiles(b, lat)
}

// BenchmarkLoginSeedFallback measures login when every cached supernode is
// dead (three cached addresses whose ports refuse connections) and the leaf
// must fall back to the seed. Target: p95 under 1 s.
func BenchmarkLoginSeedFallback(b *testing.B) {
	seed := startSN(b, func(c *SupernodeConfig) { c.Seed = true })
	cache := openCache(b)
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // now refuses connections
		if err := cache.HostSucceeded(context.Background(), mustIdentity(b).NodeID(), addr, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	id := mustIdentity(b)
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, loginOnce(b, id, []SeedAddr{seed.seedAddr()}, cache))
	}
	reportPercentiles(b, lat)
}
