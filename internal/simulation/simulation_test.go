package simulation

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// Small versions of the parley-sim scenarios: the same code, a few hundred
// peers, so that they run in the test suite. The full-size figures are in
// docs/BENCHMARKS.md.

// skipShort skips a scenario with -short: each runs hundreds of peers for
// tens of seconds.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulator scenario: not run with -short")
	}
}

func logReport(t *testing.T, r Report) {
	for _, f := range r.Figures {
		t.Logf("%s %g %s", f.Name, f.Value, f.Unit)
	}
}

func TestJoinSmall(t *testing.T) {
	skipShort(t)
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := Join(Params{Seed: 1, Nodes: 300, TargetLeaves: 20})
		logReport(t, r)
		if r.Get("reached_99pct") != 1 {
			t.Fatal("99% of peers never logged in and findable")
		}
		if r.Get("time_to_99pct_s") > 120 {
			t.Errorf("join took %v virtual seconds", r.Get("time_to_99pct_s"))
		}
		if r.Get("supernodes_failed") != 0 {
			t.Errorf("%v supernodes failed", r.Get("supernodes_failed"))
		}
	})
}

func TestElectionGrowsSupernodesInSimulation(t *testing.T) {
	skipShort(t)
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := NewWorld(Params{Seed: 2, Nodes: 300, TargetLeaves: 20})
		defer w.Close()
		if !w.settle() {
			t.Fatal("did not settle")
		}
		s := w.observe()
		if s.supernodes <= 3 {
			t.Fatalf("%d supernodes for 300 peers with a target of 20 leaves each: none elected", s.supernodes)
		}
		for _, pr := range w.peers {
			if node, _ := pr.running(); pr.nat && node.Supernode() != nil {
				t.Fatalf("peer %d is behind NAT and was promoted", pr.idx)
			}
		}
	})
}

func TestBootstormSmall(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, noCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("no host cache %v", noCache), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) { bootstormSmall(t, noCache) })
		})
	}
}

// bootstormSmall is a bootstorm of 300 peers, with or without host caches.
func bootstormSmall(t *testing.T, noCache bool) {
	r := Bootstorm(Params{Seed: 3, Nodes: 300, TargetLeaves: 20, NoHostCache: noCache})
	logReport(t, r)
	if r.Get("supernodes_failed") != 0 {
		t.Errorf("%v supernodes failed", r.Get("supernodes_failed"))
	}
	if got := r.Get("recovery_99pct_s"); got > 300 {
		t.Errorf("recovery took %v virtual seconds", got)
	}
	if !noCache && r.Get("seed_login_share_pct") > 5 {
		t.Errorf("with host caches, %v%% of logins reached a seed", r.Get("seed_login_share_pct"))
	}
}

func TestChurnSmall(t *testing.T) {
	skipShort(t)
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := Churn(Params{Seed: 4, Nodes: 200, TargetLeaves: 20}, 20*time.Minute)
		logReport(t, r)
		if got := r.Get("lookup_success_pct"); got < 99.9 {
			t.Errorf("lookup success %v%%, want ≥ 99.9%%", got)
		}
		if got := r.Get("lookup_hops_max"); got > 2 {
			t.Errorf("a lookup took %v hops", got)
		}
	})
}

// TestTierSmall runs the tier-only scenario at 50 supernodes with a link
// bound of 16, so that no supernode is linked to every other and records
// are found over links made on demand. parley-sim --scenario tier runs it
// larger, with the production bound (docs/BENCHMARKS.md).
func TestTierSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	t.Parallel()
	var r Report
	synctest.Test(t, func(t *testing.T) { r = Tier(Params{Seed: 1, Nodes: 47, MaxPeers: 16}) })
	logReport(t, r)
	if r.Get("tier_join_converged") != 1 {
		t.Error("not every view held the whole tier")
	}
	if got := r.Get("tier_links_max"); got > 16 {
		t.Errorf("a supernode held %v links, over the bound of 16", got)
	}
	if got := r.Get("tier_join_all_views_whole_s"); got > 60 {
		t.Errorf("every view whole %v s after the first start, want within a minute", got)
	}
	if got := r.Get("tier_lookup_success_pct"); got < 99 {
		t.Errorf("strict lookups: %v%% found", got)
	}
	// A crash and a stop reach every view within 30 s (down notices).
	for _, k := range []string{"tier_crash_spread_30s_pct", "tier_stop_spread_30s_pct"} {
		if got := r.Get(k); got < 99 {
			t.Errorf("%s: %v%%, want at least 99%%", k, got)
		}
	}
	if got := r.Get("tier_churn_views_exact_pct"); got < 99 {
		t.Errorf("after 10 minutes of churn, %v%% of the views hold exactly the live tier", got)
	}
	if got := r.Get("tier_join_spread_99_s"); got > 30 {
		t.Errorf("a new supernode reached 99%% of the views in %v s, want within 30", got)
	}
	// Each announcement is received whole about once (the tree): at 50
	// supernodes the flood it replaced wrote 3 kbit/s each, the tree 1.5.
	if got := r.Get("tier_traffic_kbit_s_median"); got > 2.5 {
		t.Errorf("membership traffic %v kbit/s per supernode (median), want at most 2.5", got)
	}
}
