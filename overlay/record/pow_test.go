package record

import (
	"testing"
	"time"
)

func TestClaimPoWSolvesAndBinds(t *testing.T) {
	id, other := mustIdentity(t), mustIdentity(t)
	for _, d := range []int{0, 1, 8, 12} {
		n := SolveClaimPoW("alice", id.PublicKey(), d)
		if !CheckClaimPoW("alice", id.PublicKey(), n, d) {
			t.Fatalf("difficulty %d: own solution refused", d)
		}
		if d >= 12 && (CheckClaimPoW("alicf", id.PublicKey(), n, d) || CheckClaimPoW("alice", other.PublicKey(), n, d)) {
			t.Fatalf("difficulty %d: solution not bound to name and key", d)
		}
	}
	if CheckClaimPoW("alice", id.PublicKey(), 0, 257) {
		t.Fatal("difficulty above 256 met")
	}
	// A name longer than any valid one takes the slow path, still correctly.
	long := string(make([]byte, 100))
	if n := SolveClaimPoW(long, id.PublicKey(), 8); !CheckClaimPoW(long, id.PublicKey(), n, 8) {
		t.Fatal("long name: own solution refused")
	}
}

// BenchmarkClaimPoWHashRate measures the solver's hash rate (difficulty 12:
// 4,096 hashes expected per solve) and from it the expected cost of a claim
// at DefaultClaimDifficulty on this machine.
func BenchmarkClaimPoWHashRate(b *testing.B) {
	id := mustIdentity(b)
	const d = 12
	start := time.Now()
	for range b.N {
		SolveClaimPoW("benchmark.name", id.PublicKey(), d)
	}
	rate := float64(b.N) * float64(uint64(1)<<d) / time.Since(start).Seconds()
	b.ReportMetric(rate/1e6, "Mhash/s")
	b.ReportMetric(float64(uint64(1)<<DefaultClaimDifficulty)/rate, "s/default-claim")
}

// BenchmarkNewClaimDefault makes real claims at DefaultClaimDifficulty:
// run with -benchtime 20x (each takes about a second; the time to solve is
// geometrically distributed, so few runs vary widely).
func BenchmarkNewClaimDefault(b *testing.B) {
	id := mustIdentity(b)
	for i := range b.N {
		if _, err := NewClaim(id, "benchmark.name", uint64(i+1), time.Now(), ClaimTTL, DefaultClaimDifficulty); err != nil {
			b.Fatal(err)
		}
	}
}
