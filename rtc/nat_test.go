package rtc

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/internal/vnetworld"
)

// expectRelay says which pairs of NATs need the relay. Direct UDP between
// two NATed peers works when each side's packets reach the other's mapping
// once both have sent towards each other:
//
//   - An endpoint-independent mapping (none, cone, restricted) shows every
//     remote the srflx address the STUN server saw, so the other side's
//     checks to it open any filter, up to address-and-port-dependent.
//   - A symmetric NAT maps each remote to a fresh port nobody was told of.
//     Its checks still get through a filter that is endpoint-independent
//     (none, full cone) or address-dependent (address-restricted, once
//     that side has sent to the symmetric side's IP), and the answers,
//     sent back to the port they came from (peer-reflexive), pass the
//     symmetric filter. A port-restricted filter drops them, since the
//     port-restricted side only ever sent to ports the symmetric NAT does
//     not use for it; so does another symmetric NAT.
//
// So exactly symmetric↔symmetric and symmetric↔port-restricted need the
// relay.
func expectRelay(a, b natKind) bool {
	hard := func(x, y natKind) bool {
		return x == natSymmetric && (y == natSymmetric || y == natPortRestricted)
	}
	return hard(a, b) || hard(b, a)
}

// wanDelay is the matrix's one-way delay across the internet.
const wanDelay = 25 * time.Millisecond

type matrixResult struct {
	a, b        natKind
	pathA       Path // seen by the offerer
	pathB       Path // seen by the answerer
	took        time.Duration
	established bool
}

// TestNATMatrix connects every ordered pair of NAT kinds (offerer behind
// the first, answerer behind the second) through a STUN/TURN server from
// overlay/relay on a vnet internet, exchanges a message each way, and
// checks that every pair connects, directly or through the relay as NAT
// theory says.
func TestNATMatrix(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var results []matrixResult
	start := time.Now()
	// All 25 pairs at once, each in its own subtest: t.Run from several
	// goroutines runs them side by side whatever -parallel says. Each pair
	// runs in a synctest bubble of its own (see newWorld), so pion's
	// acceptance waits are virtual: on the wall clock, 25 pairs under the
	// race detector on two cores confirmed a direct pair after pion's 2 s
	// wait for a relay, and the relay won.
	var wg sync.WaitGroup
	for _, a := range natKinds {
		for _, b := range natKinds {
			wg.Go(func() {
				t.Run(a.String()+"→"+b.String(), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						r := runMatrixPair(t, a, b)
						mu.Lock()
						results = append(results, r)
						mu.Unlock()
					})
				})
			})
		}
	}
	wg.Wait()
	t.Logf("NAT matrix: %d pairs in %v (wall clock; the times below are virtual)", len(results), time.Since(start).Round(time.Millisecond))

	byPair := make(map[[2]natKind]matrixResult)
	for _, r := range results {
		byPair[[2]natKind{r.a, r.b}] = r
	}
	var table strings.Builder
	fmt.Fprintf(&table, "offerer \\ answerer")
	for _, b := range natKinds {
		fmt.Fprintf(&table, " | %-15s", b)
	}
	table.WriteString("\n")
	for _, a := range natKinds {
		fmt.Fprintf(&table, "%-18s", a)
		for _, b := range natKinds {
			r, ok := byPair[[2]natKind{a, b}]
			cell := "-"
			switch {
			case !ok || !r.established:
				cell = "FAILED"
			case r.pathA.Relayed():
				cell = fmt.Sprintf("relay %.1fs", r.took.Seconds())
			default:
				cell = fmt.Sprintf("direct %.1fs", r.took.Seconds())
			}
			fmt.Fprintf(&table, " | %-15s", cell)
		}
		table.WriteString("\n")
	}
	t.Logf("selected paths (offerer's view: local → remote):\n%s", table.String())
	var direct, relayed []time.Duration
	for _, r := range results {
		if r.established && r.pathA.Relayed() {
			relayed = append(relayed, r.took)
		} else if r.established {
			direct = append(direct, r.took)
		}
	}
	t.Logf("session open, both ends, %v RTT (virtual time): direct p95 %v of %d pairs, relayed p95 %v of %d",
		2*wanDelay, p95(direct), len(direct), p95(relayed), len(relayed))
	for _, a := range natKinds {
		for _, b := range natKinds {
			r := byPair[[2]natKind{a, b}]
			if r.established {
				t.Logf("%-15s → %-15s  offerer %-40s answerer %s", a, b, r.pathA, r.pathB)
			}
		}
	}

	for _, a := range natKinds {
		for _, b := range natKinds {
			r, ok := byPair[[2]natKind{a, b}]
			if !ok || !r.established {
				t.Errorf("%s → %s did not connect", a, b)
				continue
			}
			if want := expectRelay(a, b); r.pathA.Relayed() != want || r.pathB.Relayed() != want {
				t.Errorf("%s → %s: relayed %v (offerer) / %v (answerer), want %v",
					a, b, r.pathA.Relayed(), r.pathB.Relayed(), want)
			}
		}
	}
}

func runMatrixPair(t *testing.T, a, b natKind) matrixResult {
	r := matrixResult{a: a, b: b}
	// 25 ms each way across the internet: 50 ms between the peers, and
	// between each peer and the STUN/TURN server.
	w := vnetworld.NewWAN(t, testLogger(t), wanDelay, a, b)
	start := time.Now()
	p := newPair(t, w, nil)
	waitOpen(t, p.a, 20*time.Second)
	waitOpen(t, p.b, 20*time.Second)
	r.took = time.Since(start)

	msgA, msgB := []byte("hello from the offerer"), []byte("hello from the answerer")
	if err := p.a.Send(msgA); err != nil {
		t.Fatalf("offerer sends: %v", err)
	}
	if err := p.b.Send(msgB); err != nil {
		t.Fatalf("answerer sends: %v", err)
	}
	if got := recv(t, p.b, 5*time.Second); !bytes.Equal(got, msgA) {
		t.Fatalf("answerer got %q, want %q", got, msgA)
	}
	if got := recv(t, p.a, 5*time.Second); !bytes.Equal(got, msgB) {
		t.Fatalf("offerer got %q, want %q", got, msgB)
	}
	var ok bool
	if r.pathA, ok = p.a.Path(); !ok {
		t.Fatal("offerer has no selected pair")
	}
	if r.pathB, ok = p.b.Path(); !ok {
		t.Fatal("answerer has no selected pair")
	}
	for _, e := range append(p.ab.errors(), p.ba.errors()...) {
		t.Errorf("signal refused: %v", e)
	}
	r.established = true
	return r
}

// p95 returns the 95th percentile of ds (the largest of fewer than 20).
func p95(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)*95+99)/100-1]
}
