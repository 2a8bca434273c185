package overlay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// inView reports whether every supernode's view holds all of them.
func inViewAll(sns ...*testSN) bool {
	for _, s := range sns {
		if s.Stats().View != len(sns) {
			return false
		}
	}
	return true
}

// dirNetwork is a seed and three supernodes, all in every view.
func dirNetwork(t *testing.T) (seed *testSN, sns []*testSN) {
	seed = startSN(t, func(c *SupernodeConfig) { c.Seed = true })
	for range 3 {
		sns = append(sns, startSN(t, func(c *SupernodeConfig) {
			c.Join = []SeedAddr{seed.seedAddr()}
			c.Seeds = []SeedAddr{seed.seedAddr()}
		}))
	}
	all := append([]*testSN{seed}, sns...)
	// Generous: under the race detector, beside other packages' tests on
	// 2 cores, the views have taken over 10 s to fill.
	waitFor(t, 30*time.Second, "every supernode in every view", func() bool { return inViewAll(all...) })
	return seed, sns
}

func onlineLeaf(t *testing.T, seed *testSN, mod func(*LeafConfig)) (*testLeaf, *identity.Identity) {
	t.Helper()
	return onlineLeafAt(t, []SeedAddr{seed.seedAddr()}, mod)
}

func onlineLeafAt(t *testing.T, seeds []SeedAddr, mod func(*LeafConfig)) (*testLeaf, *identity.Identity) {
	t.Helper()
	id := mustIdentity(t)
	cfg := LeafConfig{Identity: id, Seeds: seeds, Cache: NewMemHostCache()}
	if mod != nil {
		mod(&cfg)
	}
	l := startLeafWith(t, cfg)
	waitFor(t, 5*time.Second, "leaf online", func() bool { return l.Status().Primary != nil })
	return l, id
}

func TestUsernameFirstClaimWinsAndLapses(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, _ := dirNetwork(t)
		alice, aliceID := onlineLeaf(t, seed, nil)
		mallory, malloryID := onlineLeaf(t, seed, nil)
		ctx := context.Background()
		now := time.Now()

		claim, err := record.NewClaim(aliceID, "Alice", 1, now, 3*time.Second, testDifficulty)
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.Publish(ctx, claim); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		steal, _ := record.NewClaim(malloryID, "alice", 1, now, record.ClaimTTL, testDifficulty)
		if err := mallory.Publish(ctx, steal); !errors.Is(err, record.ErrNameTaken) {
			t.Fatalf("claim of a taken name by another key: %v, want ErrNameTaken", err)
		}
		renew, _ := record.NewClaim(aliceID, "alice", 2, time.Now(), 3*time.Second, testDifficulty)
		if err := alice.Publish(ctx, renew); err != nil {
			t.Fatalf("renewal: %v", err)
		}
		rec, hops, err := mallory.Lookup(ctx, record.ClaimKey("alice"))
		if err != nil || identity.NodeIDOf(rec.Owner) != aliceID.NodeID() || rec.Seq != 2 {
			t.Fatalf("lookup: %v %v", rec, err)
		}
		if hops < 1 || hops > 2 {
			t.Fatalf("lookup took %d hops, want 1 or 2", hops)
		}
		// Unrenewed, the claim lapses and the name is free.
		time.Sleep(time.Until(time.UnixMilli(renew.Expires)) + 50*time.Millisecond)
		steal, _ = record.NewClaim(malloryID, "alice", 1, time.Now(), record.ClaimTTL, testDifficulty)
		if err := mallory.Publish(ctx, steal); err != nil {
			t.Fatalf("claim of a lapsed name: %v", err)
		}
		rec, _, err = alice.Lookup(ctx, record.ClaimKey("alice"))
		if err != nil || identity.NodeIDOf(rec.Owner) != malloryID.NodeID() {
			t.Fatalf("after lapse, lookup: %v %v", rec, err)
		}
	})
}

func TestBadRecordsRefusedBySupernodes(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, _ := dirNetwork(t)
		leaf, id := onlineLeaf(t, seed, nil)
		ctx := context.Background()
		now := time.Now()
		body := wire.PresenceBody{Status: wire.StatusOnline}

		good, _ := record.NewPresence(id, body, 10, now, time.Minute)
		if err := leaf.Publish(ctx, good); err != nil {
			t.Fatal(err)
		}
		// Publish checks locally first; send straight to the supernode to see
		// what it says of each bad record.
		raw := func(rec *wire.Record) uint8 {
			link := leaf.currentLinks()[0]
			m, err := link.Call(ctx, func(r uint64) wire.Message { return &wire.Store{ReqID: r, Record: *rec} })
			if err != nil {
				t.Fatal(err)
			}
			return m.(*wire.StoreResult).Code
		}
		forged := *good
		forged.Body = append([]byte(nil), good.Body...)
		forged.Seq = 11 // changed after signing
		stale, _ := record.NewPresence(id, body, 9, now, time.Minute)
		replay, _ := record.NewPresence(id, wire.PresenceBody{Status: wire.StatusAway}, 10, now, time.Minute)
		expired, _ := record.NewPresence(id, body, 12, now.Add(-2*time.Minute), time.Minute)
		other := mustIdentity(t)
		aboutOther := *good
		aboutOther.Owner = other.PublicKey() // signature no longer matches
		for _, tc := range []struct {
			name string
			rec  *wire.Record
			want uint8
		}{
			{"forged", &forged, wire.StoreBadRecord},
			{"stale sequence", stale, wire.StoreStale},
			{"replayed sequence, other content", replay, wire.StoreStale},
			{"expired", expired, wire.StoreBadRecord},
			{"another key's record", &aboutOther, wire.StoreBadRecord},
		} {
			if got := raw(tc.rec); got != tc.want {
				t.Errorf("%s: supernode answered %d, want %d", tc.name, got, tc.want)
			}
		}
		rec, _, err := leaf.Lookup(ctx, record.PresenceKey(id.NodeID()))
		if err != nil || rec.Seq != 10 {
			t.Fatalf("after the refusals the stored record is %v, %v; want seq 10", rec, err)
		}
	})
}

// forgingSupernode answers every lookup with the records it is given.
func forgingSupernode(t *testing.T, records ...wire.Record) string {
	t.Helper()
	id := mustIdentity(t)
	cert, _ := id.Certificate()
	ln := testListen(t)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				l, err := acceptLink(context.Background(), conn, tlsConfig(cert, true, identity.NodeID{}))
				if err != nil {
					return
				}
				defer l.Close("")
				l.Recv(time.Second)
				l.Send(&wire.Welcome{HeartbeatMS: 1000})
				for {
					m, err := l.Recv(5 * time.Second)
					if err != nil {
						return
					}
					switch m := m.(type) {
					case *wire.Ping:
						l.Send(&wire.Pong{Seq: m.Seq})
					case *wire.Lookup:
						l.Send(&wire.LookupResult{ReqID: m.ReqID, Records: records, Hops: 1})
					case *wire.Store:
						l.Send(&wire.StoreResult{ReqID: m.ReqID})
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestReaderRefusesForgedRecords(t *testing.T) {
	victim := mustIdentity(t)
	mallory := mustIdentity(t)
	now := time.Now()
	genuine, _ := record.NewClaim(victim, "victim", 1, now, time.Hour, testDifficulty)
	// Mallory's claim to the name, re-labelled as the victim's key.
	forged, _ := record.NewClaim(mallory, "victim", 1, now, time.Hour, testDifficulty)
	forged.Owner = victim.PublicKey()
	// A record about another name served under the victim's name key.
	wrongKey, _ := record.NewClaim(mallory, "mallory", 1, now, time.Hour, testDifficulty)
	expired, _ := record.NewClaim(victim, "victim", 2, now.Add(-2*time.Hour), time.Hour, testDifficulty)

	for _, tc := range []struct {
		name string
		recs []wire.Record
		want error
	}{
		{"forged signature", []wire.Record{*forged}, ErrNotFound},
		{"record under the wrong key", []wire.Record{*wrongKey}, ErrNotFound},
		{"expired", []wire.Record{*expired}, ErrNotFound},
		{"forged beside genuine", []wire.Record{*forged, *genuine}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := forgingSupernode(t, tc.recs...)
			leaf, _ := onlineLeafAt(t, []SeedAddr{{Addr: addr}}, nil)
			rec, _, err := leaf.Lookup(context.Background(), record.ClaimKey("victim"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Lookup = %v, %v; want %v", rec, err, tc.want)
			}
			if tc.want == nil && !record.Same(rec, genuine) {
				t.Fatal("the genuine record was not the one accepted")
			}
		})
	}
}

// holdersOf returns the supernodes (of sns) that hold key.
func holdersOf(sns []*testSN, key [32]byte) []*testSN {
	var out []*testSN
	for _, s := range sns {
		if len(s.dir.localRecords(key)) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func TestLookupSurvivesHolderDeathAndReReplicates(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		all := append([]*testSN{seed}, sns...)
		writer, id := onlineLeaf(t, seed, nil)
		reader, _ := onlineLeaf(t, seed, nil)
		ctx := context.Background()
		rec, _ := record.NewPresence(id, wire.PresenceBody{Status: wire.StatusOnline}, 1, time.Now(), time.Minute)
		if err := writer.Publish(ctx, rec); err != nil {
			t.Fatal(err)
		}
		key := record.PresenceKey(id.NodeID())
		waitFor(t, 2*time.Second, "three replicas", func() bool { return len(holdersOf(all, key)) == Replicas })

		// Kill a holder that is neither leaf's primary.
		var victim *testSN
		for _, h := range holdersOf(all, key) {
			if h.ID() != writer.Status().Primary.ID && h.ID() != reader.Status().Primary.ID && h != seed {
				victim = h
			}
		}
		if victim == nil {
			t.Skip("every holder is a primary in this draw")
		}
		victim.stop()
		got, hops, err := reader.Lookup(ctx, key)
		if err != nil || !record.Same(got, rec) {
			t.Fatalf("lookup after a holder died: %v, %v", got, err)
		}
		if hops > 2 {
			t.Fatalf("lookup took %d hops", hops)
		}
		var alive []*testSN
		for _, s := range all {
			if s != victim {
				alive = append(alive, s)
			}
		}
		waitFor(t, 5*time.Second, "re-replicated to three live holders", func() bool {
			return len(holdersOf(alive, key)) == Replicas
		})
	})
}

func TestPresenceReachesSubscriberAndSilentDeathShowsOffline(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, _ := dirNetwork(t)
		var mu sync.Mutex
		var seen []uint8 // statuses seen by the watcher; 0 = gone
		watcher, _ := onlineLeaf(t, seed, func(c *LeafConfig) {
			c.OnNotify = func(key [32]byte, rec *wire.Record) {
				mu.Lock()
				defer mu.Unlock()
				if rec == nil {
					seen = append(seen, 0)
					return
				}
				b, _ := record.DecodePresence(rec)
				seen = append(seen, b.Status)
			}
		})
		last := func() (uint8, int) {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 {
				return 255, 0
			}
			return seen[len(seen)-1], len(seen)
		}
		ttl := 800 * time.Millisecond
		contact, cid := onlineLeaf(t, seed, func(c *LeafConfig) { c.PresenceTTL = ttl })
		watcher.Subscribe(record.PresenceKey(cid.NodeID()))
		time.Sleep(100 * time.Millisecond) // the subscription reaches the holders

		ctx := context.Background()
		if err := contact.SetPresence(ctx, wire.StatusOnline); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "online notified", func() bool { s, _ := last(); return s == wire.StatusOnline })
		contact.SetPresence(ctx, wire.StatusAway)
		waitFor(t, 2*time.Second, "away notified", func() bool { s, _ := last(); return s == wire.StatusAway })

		// Silent death: no offline record, the links just drop.
		contact.mu.Lock()
		contact.presence = 0
		contact.mu.Unlock()
		died := time.Now()
		contact.stop()
		// Bound: the record's TTL plus one sweep of the holders.
		waitFor(t, ttl+2*time.Second, "offline after a silent death", func() bool { s, _ := last(); return s == 0 })
		if took := time.Since(died); took > ttl+500*time.Millisecond {
			t.Fatalf("offline shown %v after death; bound is TTL %v + sweep", took, ttl)
		}
	})
}
