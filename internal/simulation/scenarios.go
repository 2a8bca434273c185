package simulation

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
)

// Figure is one measured value of a scenario.
type Figure struct {
	Name  string
	Value float64
	Unit  string
}

// Report is a scenario's figures, in order.
type Report struct {
	Scenario string
	Figures  []Figure
}

func (r *Report) add(name string, v float64, unit string) {
	r.Figures = append(r.Figures, Figure{Name: r.Scenario + "_" + name, Value: v, Unit: unit})
}

// Get returns the named figure (without the scenario prefix).
func (r *Report) Get(name string) float64 {
	for _, f := range r.Figures {
		if f.Name == r.Scenario+"_"+name {
			return f.Value
		}
	}
	return math.NaN()
}

// ready reports whether at least 99% of running peers are logged in and findable.
func (s sample) ready() bool {
	return s.online > 0 && float64(s.findable) >= 0.99*float64(s.online)
}

// loginRates tracks the busiest supernode's logins per second.
type loginRates struct {
	last map[*overlay.Supernode]uint64
	max  uint64
}

func (lr *loginRates) tick(live []*overlay.Supernode) {
	if lr.last == nil {
		lr.last = make(map[*overlay.Supernode]uint64)
	}
	next := make(map[*overlay.Supernode]uint64, len(live))
	for _, sn := range live {
		st := sn.Stats()
		n := st.LoginsAccepted + st.LoginsRedirected
		if prev, ok := lr.last[sn]; ok {
			lr.max = max(lr.max, n-prev)
		}
		next[sn] = n
	}
	lr.last = next
}

// joinAll starts the seeds and then the peers at rate per second, and
// waits until 99% are logged in and findable or limit passes. It returns
// the virtual time that took.
func (w *World) joinAll(rate float64, limit time.Duration) (time.Duration, bool) {
	w.start = time.Now()
	for _, s := range w.seeds {
		w.startPeer(s)
	}
	gap := time.Duration(float64(time.Second) / rate)
	go func() {
		for _, pr := range w.peers {
			w.startPeer(pr)
			time.Sleep(gap)
		}
	}()
	allStarted := time.Duration(len(w.peers)) * gap
	for time.Since(w.start) < limit {
		time.Sleep(time.Second)
		if time.Since(w.start) > allStarted && w.observe().ready() {
			return time.Since(w.start), true
		}
	}
	return time.Since(w.start), false
}

// Join runs the join scenario: the seeds, then every peer joining at 100
// per second, until 99% are logged in and findable.
func Join(p Params) Report {
	w := NewWorld(p)
	defer w.Close()
	r := Report{Scenario: "join"}
	took, ok := w.joinAll(100, 30*time.Minute)
	s := w.observe()
	r.add("nodes", float64(p.Nodes), "")
	r.add("time_to_99pct_s", took.Seconds(), "s (virtual)")
	r.add("reached_99pct", b2f(ok), "")
	r.add("logged_in_pct", pct(s.loggedIn, s.online), "%")
	r.add("findable_pct", pct(s.findable, s.online), "%")
	r.add("supernodes", float64(s.supernodes), "")
	r.add("seed_login_share_pct", pct64(s.seedLogins, s.allLogins), "%")
	r.add("supernodes_failed", float64(s.failed), "")
	return r
}

// settle joins every peer and lets the network run until its supernode set
// has grown for the load and been stable for a while.
func (w *World) settle() bool {
	if _, ok := w.joinAll(100, 30*time.Minute); !ok {
		return false
	}
	stable, last := 0, -1
	for i := 0; i < 60 && stable < 6; i++ {
		time.Sleep(30 * time.Second)
		s := w.observe()
		if s.supernodes == last {
			stable++
		} else {
			stable = 0
		}
		last = s.supernodes
	}
	return true
}

// Bootstorm runs the bootstorm scenario: from steady state, 60% of the
// peers and 80% of the (non-seed) supernodes crash at random moments within
// two minutes and come back 5 to 30 s later, with their host caches (or
// without, with NoHostCache).
func Bootstorm(p Params) Report {
	w := NewWorld(p)
	defer w.Close()
	r := Report{Scenario: "bootstorm"}
	if p.NoHostCache {
		r.Scenario = "bootstorm_nocache"
	}
	// The world starts with caches; NoHostCache applies to the restarts.
	noCache := w.p.NoHostCache
	w.p.NoHostCache = false
	settled := w.settle()
	w.p.NoHostCache = noCache
	before := w.observe()
	r.add("nodes", float64(p.Nodes), "")
	r.add("settled", b2f(settled), "")
	r.add("supernodes_before", float64(before.supernodes), "")

	var sns, leaves []*peer
	for _, pr := range w.peers {
		if node, _ := pr.running(); node.Supernode() != nil {
			sns = append(sns, pr)
		} else {
			leaves = append(leaves, pr)
		}
	}
	pick := func(from []*peer, share float64) []*peer {
		idx := w.rng.Perm(len(from))
		out := make([]*peer, 0, int(share*float64(len(from))))
		for _, i := range idx[:int(share*float64(len(from)))] {
			out = append(out, from[i])
		}
		return out
	}
	victims := append(pick(sns, 0.8), pick(leaves, 0.6)...)
	type event struct {
		at, down time.Duration
		pr       *peer
	}
	var events []event
	for _, pr := range victims {
		events = append(events, event{
			at:   time.Duration(w.rng.Int64N(int64(2 * time.Minute))),
			down: 5*time.Second + time.Duration(w.rng.Int64N(int64(25*time.Second))),
			pr:   pr,
		})
	}
	t0 := time.Now()
	base := before
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ev := range events {
		go func() {
			time.Sleep(ev.at)
			w.crash(ev.pr)
			time.Sleep(ev.down)
			if ctx.Err() == nil {
				w.restart(ev.pr)
			}
		}()
	}
	var lr loginRates
	lastBad := time.Duration(0)
	worst := 1.0
	stormEnd := 2*time.Minute + 30*time.Second
	for el := time.Duration(0); el < stormEnd+5*time.Minute; el = time.Since(t0) {
		time.Sleep(time.Second)
		s := w.observe()
		lr.tick(w.liveSupernodes())
		if s.online > 0 {
			worst = min(worst, float64(s.findable)/float64(s.online))
		}
		if !s.ready() {
			lastBad = time.Since(t0)
		}
		if time.Since(t0) > stormEnd && time.Since(t0)-lastBad > time.Minute {
			break
		}
	}
	end := w.observe()
	r.add("restarted_peers", float64(len(victims)), "")
	r.add("supernodes_restarted", float64(int(0.8*float64(len(sns)))), "")
	r.add("recovery_99pct_s", (lastBad + time.Second).Seconds(), "s (virtual, from storm start)")
	r.add("worst_findable_pct", 100*worst, "% of running peers")
	r.add("seed_login_share_pct", pct64(end.seedLogins-base.seedLogins, end.allLogins-base.allLogins), "%")
	r.add("logins_during_storm", float64(end.allLogins-base.allLogins), "")
	r.add("max_supernode_login_rate", float64(lr.max), fmt.Sprintf("/s (admission limit %d/s, seeds %d/s)", loginRate, seedLoginRate))
	r.add("supernodes_failed", float64(end.failed), "")
	r.add("supernodes_after", float64(end.supernodes), "")
	return r
}

// Churn runs the churn scenario: from steady state, for dur, 20% of the
// peers per hour crash and come back 1 to 10 minutes later, while five
// lookups a second ask a random peer for a random claimed name.
func Churn(p Params, dur time.Duration) Report {
	w := NewWorld(p)
	defer w.Close()
	r := Report{Scenario: "churn"}
	settled := w.settle()
	r.add("nodes", float64(p.Nodes), "")
	r.add("settled", b2f(settled), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Churn: Poisson arrivals of crashes at 20% of peers per hour.
	rate := 0.2 * float64(len(w.peers)) / time.Hour.Seconds()
	var crashes atomic.Int64
	// wait sleeps for d unless the scenario ends first: no goroutine may
	// outlive it (the synctest bubble requires that).
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var wg sync.WaitGroup
	// The crashes draw from a source of their own: the lookups below draw
	// from w.rng at the same time.
	crng := rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))
	wg.Go(func() {
		for wait(time.Duration(crng.ExpFloat64() / rate * float64(time.Second))) {
			pr := w.peers[crng.IntN(len(w.peers))]
			if _, up := pr.running(); !up {
				continue
			}
			crashes.Add(1)
			down := time.Minute + time.Duration(crng.Int64N(int64(9*time.Minute)))
			wg.Go(func() {
				w.crash(pr)
				if wait(down) {
					w.restart(pr)
				}
			})
		}
	})
	var ok, fail int
	var hops []int
	t0 := time.Now()
	for time.Since(t0) < dur {
		time.Sleep(200 * time.Millisecond)
		asker := w.peers[w.rng.IntN(len(w.peers))]
		target := w.peers[w.rng.IntN(len(w.peers))]
		node, up := asker.running()
		if !up || asker == target || node.Leaf().Status().Primary == nil {
			continue
		}
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		rec, h, err := node.Leaf().Lookup(lctx, record.ClaimKey(target.name))
		lcancel()
		if err == nil && identity.NodeIDOf(rec.Owner) == target.id.NodeID() {
			ok++
			hops = append(hops, h)
		} else {
			fail++
		}
	}
	cancel()
	wg.Wait()
	s := w.observe()
	r.add("virtual_hours", dur.Hours(), "h")
	r.add("crashes", float64(crashes.Load()), "")
	r.add("lookups", float64(ok+fail), "")
	r.add("lookup_success_pct", pct(ok, ok+fail), "%")
	if len(hops) > 0 {
		r.add("lookup_hops_max", float64(slices.Max(hops)), "")
		sum := 0
		for _, h := range hops {
			sum += h
		}
		r.add("lookup_hops_mean", float64(sum)/float64(len(hops)), "")
	}
	r.add("supernodes_end", float64(s.supernodes), "")
	r.add("supernodes_failed", float64(s.failed), "")
	return r
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func pct64(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
