package simulation

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/sim"
	"github.com/parleynet/parley/overlay/wire"
)

// Tier runs the supernode tier alone: p.Nodes supernodes (besides 3 seeds)
// started on purpose, each endorsed by the seeds' dial-backs, with the
// production link bound (64) and announcement timings. It measures what
// issue 15 asks of the tier: links per supernode, membership traffic per
// supernode in steady state (every byte a supernode writes, TLS included,
// over a quiet window with no leaves), how long the tier takes to hold
// every supernode in every view, how far one supernode's crash and
// another's stop have spread 30 s later, and strict lookups: presence published through one random
// supernode and looked up through another must return the record.
func Tier(p Params) Report {
	r := Report{Scenario: "tier"}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x7133))
	n := sim.NewNet(p.Seed)
	defer n.Close()
	n.SetLatency(func(a, b string) time.Duration {
		return 20*time.Millisecond + time.Duration(len(a)+len(b))%20*time.Millisecond
	})
	t0 := time.Now()
	all, startOne := startTier(p, n, rng)
	total := len(all)
	whole := func(xs []*tierSN, want int) int {
		c := 0
		for _, x := range xs {
			if x.sn.Stats().View == want {
				c++
			}
		}
		return c
	}
	converged := false
	for time.Since(t0) < 30*time.Minute {
		if whole(all, total) == total {
			converged = true
			break
		}
		time.Sleep(time.Second)
	}
	r.add("tier_supernodes", float64(total), "")
	r.add("tier_join_converged", b2f(converged), "")
	r.add("tier_join_all_views_whole_s", time.Since(t0).Seconds(), "s (virtual, from the first start; arrivals over "+fmt.Sprint(time.Duration(p.Nodes)*20*time.Millisecond)+")")
	r.add("tier_views_whole_pct", pct(whole(all, total), total), "% of supernodes")
	if !converged {
		for i, x := range all {
			if st := x.sn.Stats(); st.View != total {
				p.Logger.Warn("tier: view not whole", "supernode", i, "view", st.View, "links", st.Supernodes)
			}
		}
	}

	// Steady state: a quiet window of an hour and a half. Supernodes
	// re-announce every 8 hours (renewing their day-long endorsements at
	// every other one), the first time at a random point between 1 and 8
	// hours after they start, so the window holds about a fifth of them:
	// the steady rate of refreshes, slightly over (3/16 of them).
	time.Sleep(time.Minute)
	before := make([]int64, total)
	for i, x := range all {
		before[i] = x.sent.Load()
	}
	window := 90 * time.Minute
	time.Sleep(window)
	var rates []float64
	var links []int
	for i, x := range all {
		rates = append(rates, float64(x.sent.Load()-before[i])*8/window.Seconds()/1000)
		links = append(links, x.sn.Stats().Supernodes)
	}
	slices.Sort(rates)
	slices.Sort(links)
	r.add("tier_links_max", float64(links[len(links)-1]), fmt.Sprintf("supernode links (bound %d)", cmp.Or(p.MaxPeers, 64)))
	r.add("tier_links_mean", mean(links), "")
	r.add("tier_traffic_kbit_s_median", rates[len(rates)/2], "kbit/s written per supernode, steady state (target 20)")
	r.add("tier_traffic_kbit_s_max", rates[len(rates)-1], "kbit/s (the seeds and the busiest)")

	// Strict lookups: presence published through one supernode, looked up
	// through another; only the record itself counts.
	found, asked := tierLookups(n, all[3:], rng)
	r.add("tier_lookups", float64(asked), "")
	r.add("tier_lookup_success_pct", pct(found, asked), "%")

	// One supernode crashes (cut off from the network, no goodbye), then
	// another stops: how many of the rest have it out of their view 30 s
	// later (by the notices its ring neighbours sign, and by the stopping
	// one's farewell).
	crashed := all[total-1]
	var others []string
	for _, x := range all[:total-1] {
		others = append(others, x.ip)
	}
	n.Partition([]string{crashed.ip}, others)
	time.Sleep(30 * time.Second)
	rest := all[:total-1]
	r.add("tier_crash_spread_30s_pct", pct(whole(rest, total-1), len(rest)), "% of supernodes without the crashed one in their view (target 99)")
	gone := rest[len(rest)-1]
	gone.sn.Close()
	time.Sleep(30 * time.Second)
	rest = rest[:len(rest)-1]
	r.add("tier_stop_spread_30s_pct", pct(whole(rest, total-2), len(rest)), "% of supernodes without the stopped one in their view (target 99)")

	// One supernode joins (started on purpose: the seeds dial it back and
	// endorse it, then it announces): how long until 99% of the others
	// hold it in their view.
	joined := startOne(total)
	all = append(all, joined)
	t1 := time.Now()
	for time.Since(t1) < 5*time.Minute && whole(rest, total-1) < (len(rest)*99+99)/100 {
		time.Sleep(time.Second)
	}
	r.add("tier_join_spread_99_s", time.Since(t1).Seconds(), "s until 99% of supernodes hold a new one in their view, its endorsement included (target 30; 300 = never)")

	all = tierChurn(&r, n, append(rest, joined), all, startOne, rng)
	for _, x := range all {
		x.sn.Close()
		<-x.done
	}
	return r
}

// tierChurn runs the tier through 10 minutes in which, every minute, 1%
// of the supernodes crash (their hosts go down: the links reset, dials
// black-hole) and as many new ones start, and measures what the
// supernodes there all along wrote, and how many views hold exactly the
// live tier 30 s after the last change. It returns all, with the new
// supernodes.
func tierChurn(r *Report, n *sim.Net, live, all []*tierSN, startOne func(int) *tierSN, rng *rand.Rand) []*tierSN {
	const minutes = 10
	stayed := make(map[*tierSN]int64)
	for _, x := range live {
		stayed[x] = x.sent.Load()
	}
	next, crashes := len(all), 0
	for range minutes {
		k := max(1, len(live)/100)
		for range k {
			i := 3 + rng.IntN(len(live)-3) // never a seed (live[:3])
			x := live[i]
			live = slices.Delete(live, i, i+1)
			delete(stayed, x)
			n.Host(x.ip).Down()
			crashes++
		}
		for range k {
			x := startOne(next)
			next++
			all = append(all, x)
			live = append(live, x)
		}
		time.Sleep(time.Minute)
	}
	var rates []float64
	for x, before := range stayed {
		rates = append(rates, float64(x.sent.Load()-before)*8/(minutes*time.Minute).Seconds()/1000)
	}
	slices.Sort(rates)
	time.Sleep(30 * time.Second)
	right := 0
	for _, x := range live {
		if x.sn.Stats().View == len(live) {
			right++
		}
	}
	r.add("tier_churn_crashes", float64(crashes), "supernodes crashed (1% a minute for 10 minutes) and as many started")
	r.add("tier_churn_traffic_kbit_s_median", rates[len(rates)/2], "kbit/s written per supernode through the churn")
	r.add("tier_churn_traffic_kbit_s_max", rates[len(rates)-1], "kbit/s")
	r.add("tier_churn_views_exact_pct", pct(right, len(live)), "% of supernodes whose view holds exactly the live tier 30 s after the last change")
	return all
}

// tierSN is one supernode of the tier scenario and the bytes it wrote.
type tierSN struct {
	sn   *overlay.Supernode
	sent *atomic.Int64
	ip   string
	done chan struct{}
}

// startTier starts 3 seeds, then p.Nodes supernodes at 50 a second. It
// returns them, and a function that starts one more (the ith).
func startTier(p Params, n *sim.Net, rng *rand.Rand) ([]*tierSN, func(i int) *tierSN) {
	keys := rand.NewChaCha8([32]byte{byte(p.Seed), 't', 'i', 'e', 'r'})
	var seeds []overlay.SeedAddr
	var all []*tierSN
	// The seeds' identities first: every supernode, the seeds included,
	// is configured with all three (as parley-seed's --seeds lists them).
	seedIDs := make([]*identity.Identity, 3)
	for i := range seedIDs {
		seedIDs[i], _ = identity.New(keys)
		seeds = append(seeds, overlay.SeedAddr{Addr: fmt.Sprintf("127.200.0.%d:%s", i+1, port), ID: seedIDs[i].NodeID()})
	}
	start := func(i int, seed bool) *tierSN {
		ip := fmt.Sprintf("127.%d.%d.%d", 50+i>>16, (i>>8)&0xff, i&0xff)
		var id *identity.Identity
		if seed {
			ip, id = fmt.Sprintf("127.200.0.%d", i+1), seedIDs[i]
		} else {
			id, _ = identity.New(keys)
		}
		sent := new(atomic.Int64)
		cfg := overlay.SupernodeConfig{
			Identity: id, Network: countingNet{n.Host(ip), sent}, Listen: ip + ":" + port, Logger: p.Logger,
			Rand: rand.New(rand.NewPCG(rng.Uint64(), 3)), Seed: seed, Seeds: seeds, Join: seeds,
			Heartbeat: heartbeat, ClaimDifficulty: simDifficulty, NoRelay: true, MaxPeers: p.MaxPeers, Pinned: true,
		}
		s, err := overlay.NewSupernode(cfg)
		if err != nil {
			panic(fmt.Sprintf("simulation: tier supernode %d: %v", i, err))
		}
		done := make(chan struct{})
		go func() { defer close(done); s.Serve(context.Background()) }()
		x := &tierSN{sn: s, sent: sent, ip: ip, done: done}
		all = append(all, x)
		return x
	}
	for i := range 3 {
		start(i, true)
	}
	for i := range p.Nodes {
		start(3+i, false)
		time.Sleep(20 * time.Millisecond) // 50 a second
	}
	return all, func(i int) *tierSN { return start(i, false) }
}

// tierLookups publishes presence through 20 random supernodes and looks
// each record up through 20 others, with leaves logged in to them.
func tierLookups(n *sim.Net, sns []*tierSN, rng *rand.Rand) (found, asked int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var leaves []chan struct{}
	defer func() {
		cancel()
		for _, done := range leaves {
			<-done
		}
	}()
	type pub struct {
		key [32]byte
		seq uint64
	}
	var pubs []pub
	leafAt := func(i int, at *tierSN) (*overlay.Leaf, *identity.Identity) {
		id, _ := identity.New(nil)
		ip := fmt.Sprintf("127.250.%d.%d", i>>8, i&0xff)
		lf, err := overlay.NewLeaf(overlay.LeafConfig{Identity: id, Network: n.Host(ip), Seeds: []overlay.SeedAddr{{Addr: at.ip + ":" + port}},
			Cache: overlay.NewMemHostCache(), ClaimDifficulty: simDifficulty})
		if err != nil {
			panic(err)
		}
		done := make(chan struct{})
		leaves = append(leaves, done)
		go func() { defer close(done); lf.Run(ctx) }()
		for range 100 {
			if lf.Status().Primary != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return lf, id
	}
	for i := range 20 {
		lf, id := leafAt(i, sns[rng.IntN(len(sns))])
		rec, err := record.NewPresence(id, wire.PresenceBody{Status: wire.StatusOnline}, 7, time.Now(), time.Hour)
		if err != nil {
			panic(err)
		}
		if err := lf.Publish(ctx, rec); err == nil {
			pubs = append(pubs, pub{record.PresenceKey(id.NodeID()), 7})
		} else {
			pubs = append(pubs, pub{record.PresenceKey(id.NodeID()), 0}) // counted as not found below
		}
	}
	for i := range 20 {
		lf, _ := leafAt(100+i, sns[rng.IntN(len(sns))])
		for _, p := range pubs {
			asked++
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			rec, _, err := lf.Lookup(lctx, p.key)
			cancel()
			if err == nil && rec.Seq == p.seq {
				found++
			}
		}
	}
	return found, asked
}

func mean(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

// countingNet is a Network that counts the bytes written on its streams.
type countingNet struct {
	overlay.Network
	sent *atomic.Int64
}

func (c countingNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := c.Network.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, c.sent}, nil
}

func (c countingNet) Listen(addr string) (net.Listener, error) {
	ln, err := c.Network.Listen(addr)
	if err != nil {
		return nil, err
	}
	return countingListener{ln, c.sent}, nil
}

type countingListener struct {
	net.Listener
	sent *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{conn, l.sent}, nil
}

type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}
