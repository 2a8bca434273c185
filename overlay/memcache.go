package overlay

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parleynet/parley/store"
)

// MemHostCache is a HostCache kept in memory, ranked like store's: hosts
// whose last success is newer than their last failure first, then by last
// success, successes, fewer failures. The simulator gives one to each node.
type MemHostCache struct {
	mu    sync.Mutex
	hosts map[[32]byte]*store.Host
}

// NewMemHostCache returns an empty cache.
func NewMemHostCache() *MemHostCache {
	return &MemHostCache{hosts: make(map[[32]byte]*store.Host)}
}

// Hosts implements HostCache.
func (c *MemHostCache) Hosts(context.Context) ([]store.Host, error) {
	c.mu.Lock()
	out := make([]store.Host, 0, len(c.hosts))
	for _, h := range c.hosts {
		out = append(out, *h)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b store.Host) int {
		ag, bg := a.LastSuccess.After(a.LastFailure), b.LastSuccess.After(b.LastFailure)
		switch {
		case ag != bg:
			if ag {
				return -1
			}
			return 1
		case !a.LastSuccess.Equal(b.LastSuccess):
			return b.LastSuccess.Compare(a.LastSuccess)
		case a.Successes != b.Successes:
			return b.Successes - a.Successes
		case a.Failures != b.Failures:
			return a.Failures - b.Failures
		}
		return slices.Compare(a.NodeID[:], b.NodeID[:])
	})
	return out, nil
}

// AddHosts implements HostCache.
func (c *MemHostCache) AddHosts(ctx context.Context, hosts []store.Host, now time.Time) error {
	c.mu.Lock()
	for _, h := range hosts {
		if old := c.hosts[h.NodeID]; old != nil {
			old.Addr = h.Addr
			continue
		}
		h := h
		c.hosts[h.NodeID] = &h
	}
	c.mu.Unlock()
	c.prune(ctx)
	return nil
}

// HostSucceeded implements HostCache.
func (c *MemHostCache) HostSucceeded(ctx context.Context, id [32]byte, addr string, at time.Time) error {
	c.mu.Lock()
	h := c.hosts[id]
	if h == nil {
		h = &store.Host{NodeID: id}
		c.hosts[id] = h
	}
	h.Addr, h.LastSuccess = addr, at
	h.Successes++
	c.mu.Unlock()
	c.prune(ctx)
	return nil
}

// HostFailed implements HostCache.
func (c *MemHostCache) HostFailed(_ context.Context, id [32]byte, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.hosts[id]; h != nil {
		h.LastFailure = at
		h.Failures++
	}
	return nil
}

func (c *MemHostCache) prune(ctx context.Context) {
	c.mu.Lock()
	n := len(c.hosts)
	c.mu.Unlock()
	if n <= store.MaxHostCache {
		return
	}
	ranked, _ := c.Hosts(ctx)
	c.mu.Lock()
	for _, h := range ranked[store.MaxHostCache:] {
		delete(c.hosts, h.NodeID)
	}
	c.mu.Unlock()
}
