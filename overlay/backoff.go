package overlay

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: before retry n (from 0)
// wait a uniformly random time in [0, min(Cap, Base·2ⁿ)). Full jitter spreads
// a crowd of peers that failed together, so they do not retry together.
type Backoff struct {
	Base, Cap time.Duration
}

// Delay returns the wait before retry n, drawn from r.
func (b Backoff) Delay(n int, r *rand.Rand) time.Duration {
	ceil := b.Cap
	if n < 62 && b.Base<<n > 0 && b.Base<<n < b.Cap {
		ceil = b.Base << n
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(ceil)))
}
