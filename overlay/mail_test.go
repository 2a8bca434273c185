package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// inbox records the envelopes a leaf took.
type inbox struct {
	mu     sync.Mutex
	got    [][]byte
	refuse bool
}

func (b *inbox) take(_ identity.NodeID, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse {
		return errors.New("refused by test")
	}
	b.got = append(b.got, bytes.Clone(data))
	return nil
}

func (b *inbox) count(data []byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, g := range b.got {
		if bytes.Equal(g, data) {
			n++
		}
	}
	return n
}

// leafOn starts a leaf whose primary is sn: its host cache holds only sn
// and it dials one supernode at a time. It publishes presence and takes
// envelopes into box. opts change its configuration.
func leafOn(t *testing.T, sn *testSN, seed *testSN, id *identity.Identity, box *inbox, opts ...func(*LeafConfig)) *testLeaf {
	t.Helper()
	if id == nil {
		id = mustIdentity(t)
	}
	cache := NewMemHostCache()
	cache.AddHosts(context.Background(), []store.Host{{NodeID: sn.ID(), Addr: sn.Addr()}}, time.Now())
	cfg := LeafConfig{
		Identity: id, Seeds: []SeedAddr{seed.seedAddr()}, Cache: cache, Parallel: 1,
		Presence: wire.StatusOnline, OnEnvelope: box.take,
	}
	for _, o := range opts {
		o(&cfg)
	}
	l := startLeafWith(t, cfg)
	waitFor(t, 5*time.Second, "leaf online at its supernode", func() bool {
		st := l.Status()
		return st.Primary != nil && st.Primary.ID == sn.ID()
	})
	waitFor(t, 5*time.Second, "presence published", func() bool {
		_, _, err := l.Lookup(context.Background(), record.PresenceKey(id.NodeID()))
		return err == nil
	})
	return l
}

func mailHeld(sns []*testSN) (envelopes int) {
	for _, s := range sns {
		envelopes += s.MailStats().Envelopes
	}
	return envelopes
}

func TestEnvelopeDeliveredAcrossSupernodes(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		var aliceBox, bobBox inbox
		alice := leafOn(t, sns[0], seed, nil, &aliceBox)
		bobID := mustIdentity(t)
		leafOn(t, sns[1], seed, bobID, &bobBox)

		data := []byte("sealed bytes for bob")
		d, err := alice.Deliver(context.Background(), bobID.NodeID(), data)
		if err != nil || !d.Delivered {
			t.Fatalf("Deliver to an online peer: %+v, %v; want delivered", d, err)
		}
		if n := bobBox.count(data); n != 1 {
			t.Fatalf("bob took the envelope %d times, want 1", n)
		}
		if n := mailHeld(append(sns, seed)); n != 0 {
			t.Fatalf("%d envelopes left in mailboxes after a direct delivery", n)
		}
		if sns[0].MailStats().Delivered != 1 {
			t.Fatalf("alice's supernode counted %d delivered", sns[0].MailStats().Delivered)
		}
	})
}

func TestOfflineMailStoredThreeTimesFetchedAtLoginAndDeleted(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		all := append([]*testSN{seed}, sns...)
		var aliceBox inbox
		alice := leafOn(t, sns[0], seed, nil, &aliceBox)
		bobID := mustIdentity(t)

		var msgs [][]byte
		for i := range 5 {
			msgs = append(msgs, fmt.Appendf(nil, "envelope %d for offline bob", i))
			d, err := alice.Deliver(context.Background(), bobID.NodeID(), msgs[i])
			if err != nil || d.Delivered || d.Stored != Replicas {
				t.Fatalf("Deliver to an offline peer: %+v, %v; want stored %d times", d, err, Replicas)
			}
		}
		if n := mailHeld(all); n != 5*Replicas {
			t.Fatalf("mailboxes hold %d envelopes, want %d", n, 5*Replicas)
		}
		// The sender goes offline too; the mail waits on the supernodes.
		alice.stop()

		var bobBox inbox
		leafOn(t, sns[2], seed, bobID, &bobBox)
		waitFor(t, 5*time.Second, "bob fetched his mail", func() bool {
			for _, m := range msgs {
				if bobBox.count(m) == 0 {
					return false
				}
			}
			return true
		})
		waitFor(t, 3*time.Second, "mailboxes emptied by bob's acknowledgement", func() bool { return mailHeld(all) == 0 })
	})
}

// TestHiddenLeafFetchesMailSoon: a logged-in leaf that shows offline (the
// user appears invisible) gets what is sent to it within HiddenMailEvery,
// not only at its next presence refresh (PresenceTTL/3, a minute).
func TestHiddenLeafFetchesMailSoon(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		bobID := mustIdentity(t)
		var bobBox inbox
		bob := leafOn(t, sns[0], seed, bobID, &bobBox, func(c *LeafConfig) {
			c.HiddenMailEvery = 300 * time.Millisecond
			c.Standbys = 1
		})
		// Alice's supernode must not be one of bob's: a supernode hands an
		// envelope to a leaf linked to it whatever its presence says.
		waitFor(t, 5*time.Second, "bob's standby", func() bool { return len(bob.Status().Standbys) == 1 })
		st := bob.Status()
		var home *testSN
		for _, s := range sns[1:] {
			if s.ID() != st.Standbys[0].ID {
				home = s
			}
		}
		alice := leafOn(t, home, seed, nil, &inbox{})
		ctx := context.Background()
		if err := bob.SetPresence(ctx, wire.StatusOffline); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "bob shows offline", func() bool {
			rec, _, err := alice.Lookup(ctx, record.PresenceKey(bobID.NodeID()))
			if err != nil {
				return false
			}
			body, err := record.DecodePresence(rec)
			return err == nil && body.Status == wire.StatusOffline
		})
		for i := range 2 {
			data := fmt.Appendf(nil, "for invisible bob %d", i)
			d, err := alice.Deliver(ctx, bobID.NodeID(), data)
			if err != nil || d.Delivered || d.Stored == 0 {
				t.Fatalf("Deliver to a peer that shows offline: %+v, %v; want stored", d, err)
			}
			waitFor(t, 3*time.Second, "hidden bob fetched the mail", func() bool { return bobBox.count(data) == 1 })
		}
		// Visible again: envelopes are routed to it at once.
		if err := bob.SetPresence(ctx, wire.StatusOnline); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "envelopes routed to visible bob", func() bool {
			d, err := alice.Deliver(ctx, bobID.NodeID(), []byte("visible"))
			return err == nil && d.Delivered
		})
	})
}

func TestRefusedMailStaysUntilTaken(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		all := append([]*testSN{seed}, sns...)
		alice := leafOn(t, sns[0], seed, nil, &inbox{})
		bobID := mustIdentity(t)
		data := []byte("kept until bob can take it")
		if _, err := alice.Deliver(context.Background(), bobID.NodeID(), data); err != nil {
			t.Fatal(err)
		}
		bobBox := &inbox{refuse: true}
		bob := leafOn(t, sns[1], seed, bobID, bobBox)
		if n, err := bob.FetchMail(context.Background()); err != nil || n != 0 {
			t.Fatalf("FetchMail while refusing: %d, %v", n, err)
		}
		if n := mailHeld(all); n != Replicas {
			t.Fatalf("a refused envelope left %d copies, want %d", n, Replicas)
		}
		bobBox.mu.Lock()
		bobBox.refuse = false
		bobBox.mu.Unlock()
		// Taken by this fetch, or by the one bob's leaf runs itself after
		// a login: the two may overlap, and delivery is at least once (an
		// ack reaches the other holders after a moment; the letters layer
		// drops a replay).
		waitFor(t, 3*time.Second, "bob takes the envelope", func() bool {
			if _, err := bob.FetchMail(context.Background()); err != nil {
				t.Fatalf("FetchMail: %v", err)
			}
			return bobBox.count(data) > 0
		})
		waitFor(t, 3*time.Second, "mailboxes emptied", func() bool { return mailHeld(all) == 0 })
	})
}

func TestMailSurvivesHolderDeathAndIsReReplicated(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		all := append([]*testSN{seed}, sns...)
		alice := leafOn(t, sns[0], seed, nil, &inbox{})
		bobID := mustIdentity(t)
		data := []byte("survives a holder")
		if d, err := alice.Deliver(context.Background(), bobID.NodeID(), data); err != nil || d.Stored != Replicas {
			t.Fatalf("Deliver: %+v %v", d, err)
		}
		var victim *testSN
		for _, s := range sns {
			if s != sns[0] && s.MailStats().Envelopes > 0 {
				victim = s
				break
			}
		}
		if victim == nil {
			t.Fatal("no non-primary supernode holds the mail")
		}
		victim.stop()
		var alive []*testSN
		for _, s := range all {
			if s != victim {
				alive = append(alive, s)
			}
		}
		waitFor(t, 10*time.Second, "re-replicated to three live holders", func() bool { return mailHeld(alive) == Replicas })
		var bobBox inbox
		var home *testSN
		for _, s := range sns {
			if s != victim {
				home = s
			}
		}
		leafOn(t, home, seed, bobID, &bobBox)
		waitFor(t, 5*time.Second, "bob fetched the mail", func() bool { return bobBox.count(data) == 1 })
	})
}

func TestMailQuotaPerSender(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed := startSN(t, func(c *SupernodeConfig) { c.Seed = true; c.Mail.PerSender = 2 })
		var sns []*testSN
		for range 3 {
			sns = append(sns, startSN(t, func(c *SupernodeConfig) {
				c.Join = []SeedAddr{seed.seedAddr()}
				c.Seeds = []SeedAddr{seed.seedAddr()}
				c.Mail.PerSender = 2
			}))
		}
		all := append([]*testSN{seed}, sns...)
		waitFor(t, 10*time.Second, "every supernode in every view", func() bool { return inViewAll(all...) })
		alice := leafOn(t, sns[0], seed, nil, &inbox{})
		carol := leafOn(t, sns[1], seed, nil, &inbox{})
		bob := mustIdentity(t).NodeID()
		ctx := context.Background()
		for i := range 2 {
			if _, err := alice.Deliver(ctx, bob, fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatalf("envelope %d within quota: %v", i, err)
			}
		}
		if _, err := alice.Deliver(ctx, bob, []byte("one too many")); !errors.Is(err, ErrDeliveryRefused) {
			t.Fatalf("envelope over the sender's quota: %v, want ErrDeliveryRefused", err)
		}
		// Another sender's quota is its own.
		if _, err := carol.Deliver(ctx, bob, []byte("from carol")); err != nil {
			t.Fatalf("another sender: %v", err)
		}
		// The same envelope twice is stored once, not counted twice.
		if _, err := carol.Deliver(ctx, bob, []byte("from carol")); err != nil {
			t.Fatalf("a repeated envelope: %v", err)
		}
	})
}

func TestHostileDeliveries(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, sns := dirNetwork(t)
		alice := leafOn(t, sns[0], seed, nil, &inbox{})
		ctx := context.Background()
		if _, err := alice.Deliver(ctx, identity.NodeID{1}, make([]byte, MaxEnvelope+1)); !errors.Is(err, ErrDeliveryRefused) {
			t.Fatalf("oversized envelope: %v", err)
		}
		link := alice.currentLinks()[0]
		call := func(m func(uint64) wire.Message) *wire.DeliverResult {
			t.Helper()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			r, err := link.Call(cctx, m)
			if err != nil {
				t.Fatal(err)
			}
			return r.(*wire.DeliverResult)
		}
		if r := call(func(id uint64) wire.Message { return &wire.Deliver{ReqID: id, To: []byte{1, 2}, Data: []byte("x")} }); r.Code != wire.DeliverRefused {
			t.Fatalf("bad recipient: code %d", r.Code)
		}
		victim := mustIdentity(t).NodeID()
		if r := call(func(id uint64) wire.Message {
			return &wire.Deliver{ReqID: id, Mode: wire.DeliverStore, To: victim[:], From: victim[:], Data: []byte("x")}
		}); r.Code != wire.DeliverRefused {
			t.Fatalf("a leaf storing mail directly: code %d", r.Code)
		}
		// A leaf cannot acknowledge (delete) another peer's mail: its MailAck
		// names no one but itself.
		if _, err := alice.Deliver(ctx, victim, []byte("not yours to delete")); err != nil {
			t.Fatal(err)
		}
		link.Send(&wire.MailAck{IDs: [][]byte{func() []byte { id := MailID([]byte("not yours to delete")); return id[:] }()}, For: victim[:]})
		time.Sleep(200 * time.Millisecond)
		if n := mailHeld(append(sns, seed)); n != Replicas {
			t.Fatalf("another leaf's ack deleted mail: %d copies left", n)
		}
		// The link survives all of this.
		if _, err := alice.Deliver(ctx, victim, []byte("still works")); err != nil {
			t.Fatalf("after hostile messages: %v", err)
		}
	})
}
