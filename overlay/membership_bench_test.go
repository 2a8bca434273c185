package overlay

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// tier is a supernode tier of n announcements as one supernode hears it:
// two seeds, then supernodes each endorsed by two that came before it
// (the supernodes of the leaves that got them elected), in a random
// order of election.
type tier struct {
	sn   *Supernode
	ids  []*identity.Identity
	recs []*wire.Record
}

func newTier(b *testing.B, n int) *tier {
	b.Helper()
	now := time.Now()
	ids := make([]*identity.Identity, n)
	for i := range ids {
		ids[i] = mustIdentity(b)
	}
	seeds := []SeedAddr{{Addr: "127.0.0.1:1", ID: ids[0].NodeID()}, {Addr: "127.0.0.1:1", ID: ids[1].NodeID()}}
	sn, err := NewSupernode(SupernodeConfig{Identity: mustIdentity(b), Network: testNet(b), Listen: "127.0.0.1:0", Seeds: seeds})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sn.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	t := &tier{sn: sn, ids: ids}
	for i, id := range ids {
		addr := "127.0.0.1:1" // refused at once: the mesh dials it makes end there
		body := wire.AnnounceBody{Addr: addr, Seed: i < 2}
		if i >= 2 {
			j1 := rng.IntN(i)
			j2 := (j1 + 1 + rng.IntN(i-1)) % i // another one
			for _, j := range []int{j1, j2} {
				body.Endorsements = append(body.Endorsements, record.NewEndorsement(ids[j], id.NodeID(), addr, now, time.Hour))
			}
		}
		rec, err := record.NewAnnounce(id, body, 1, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		t.recs = append(t.recs, rec)
	}
	return t
}

// BenchmarkTrustView measures what a supernode does each time its view
// may have changed (an announcement came, a link opened or closed):
// compute whom it trusts over the whole tier.
func BenchmarkTrustView(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("supernodes=%d", n), func(b *testing.B) {
			t := newTier(b, n)
			for i, rec := range t.recs {
				t.sn.mem.receiveAnnounce(t.ids[(i+1)%n].NodeID(), rec, false)
			}
			now := time.Now()
			b.ResetTimer()
			for range b.N {
				got := t.sn.mem.trusted(now)
				if len(got) != n+1 {
					b.Fatalf("trusts %d of %d", len(got), n+1)
				}
			}
		})
	}
}

// BenchmarkReceiveDuplicateAnnounce measures an announcement heard again
// (flooded gossip brings each one from every peer): it must be dropped by
// its sequence number, before any signature is checked.
func BenchmarkReceiveDuplicateAnnounce(b *testing.B) {
	t := newTier(b, 100)
	for i, rec := range t.recs {
		t.sn.mem.receiveAnnounce(t.ids[(i+1)%100].NodeID(), rec, false)
	}
	b.ResetTimer()
	for i := range b.N {
		t.sn.mem.receiveAnnounce(t.ids[0].NodeID(), t.recs[i%100], false)
	}
}
