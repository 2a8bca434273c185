package overlay

import (
	"context"
	"time"

	"github.com/parleynet/parley/store"
)

// HostCache is the leaf's memory of supernodes it has met, ranked by recent
// success. *store.DB implements it on disk; the simulator keeps it in memory.
type HostCache interface {
	// Hosts returns the cached supernodes, best first.
	Hosts(ctx context.Context) ([]store.Host, error)
	// AddHosts adds supernodes learned from a supernode, keeping the cache bounded.
	AddHosts(ctx context.Context, hosts []store.Host, now time.Time) error
	// HostSucceeded records a login or link to id at addr.
	HostSucceeded(ctx context.Context, id [32]byte, addr string, at time.Time) error
	// HostFailed records a failed attempt to reach id.
	HostFailed(ctx context.Context, id [32]byte, at time.Time) error
}
