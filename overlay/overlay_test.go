package overlay

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

func TestParseSeeds(t *testing.T) {
	id := mustIdentity(t).NodeID()
	got, err := ParseSeeds(" a.example:1, " + id.String() + "@[::1]:4717,,")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr != "a.example:1" || !got[0].ID.IsZero() || got[1].Addr != "[::1]:4717" || got[1].ID != id {
		t.Fatalf("ParseSeeds = %+v", got)
	}
	for _, bad := range []string{"nohost", ":4717", "host:", "zz@host:1"} {
		if _, err := ParseSeeds(bad); !errors.Is(err, ErrBadSeed) {
			t.Errorf("ParseSeeds(%q) = %v, want ErrBadSeed", bad, err)
		}
	}
	if len(MustParseSeeds(DefaultSeeds)) != len(DefaultSeeds) {
		t.Fatal("default seeds do not parse")
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	r := newTestRand()
	for n := range 10 {
		ceil := min(b.Cap, b.Base<<n)
		var maxSeen time.Duration
		for range 2000 {
			d := b.Delay(n, r)
			if d < 0 || d >= ceil {
				t.Fatalf("Delay(%d) = %v, outside [0, %v)", n, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceil*9/10 {
			t.Errorf("Delay(%d) never came near its ceiling %v (max %v): not full jitter", n, ceil, maxSeen)
		}
	}
	if d := b.Delay(200, r); d >= b.Cap {
		t.Fatalf("Delay(200) = %v overflowed the cap", d)
	}
}

func TestLinkRefusesWrongKey(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, nil)
		other := mustIdentity(t).NodeID()
		_, err := DialLink(context.Background(), testNet(t), mustIdentity(t), sn.Addr(), other)
		if !errors.Is(err, ErrNodeIDMismatch) {
			t.Fatalf("dial with wrong expected NodeID: %v, want ErrNodeIDMismatch", err)
		}
		l, err := DialLink(context.Background(), testNet(t), mustIdentity(t), sn.Addr(), sn.ID())
		if err != nil {
			t.Fatalf("dial with right NodeID: %v", err)
		}
		if l.Peer() != sn.ID() {
			t.Fatalf("link peer %s, want %s", l.Peer().Short(), sn.ID().Short())
		}
		l.Close("")

		// A client without a certificate is refused by the supernode.
		raw, err := net.Dial("tcp", sn.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{alpn}})
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if err := c.Handshake(); err == nil {
			// TLS 1.3 reports the server's refusal on the first read.
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("supernode accepted a client without a certificate")
			}
		}
		c.Close()
	})
}

func TestLeafRefusesCachedHostWithWrongKey(t *testing.T) {
	inSim(t, func(t *testing.T) {
		good := startSN(t, nil)
		impostor := startSN(t, nil)
		cache := openCache(t)
		ctx := context.Background()
		// The cache says "good's NodeID is at the impostor's address".
		if err := cache.HostSucceeded(ctx, good.ID(), impostor.Addr(), time.Now()); err != nil {
			t.Fatal(err)
		}
		leaf := startLeaf(t, mustIdentity(t), []SeedAddr{{Addr: good.Addr()}}, cache)
		waitFor(t, 5*time.Second, "login", func() bool { return leaf.Status().Primary != nil })
		if got := leaf.Status().Primary.ID; got != good.ID() {
			t.Fatalf("primary %s, want %s", got.Short(), good.ID().Short())
		}
		if got := impostor.Stats().LoginsAccepted; got != 0 {
			t.Fatalf("impostor accepted %d logins from a leaf that expected another key", got)
		}
		hosts, _ := cache.Hosts(ctx)
		for _, h := range hosts {
			if h.NodeID == good.ID() && h.Failures == 0 {
				t.Fatal("mismatched host not recorded as failed")
			}
		}
	})
}

// network is a seed and two supernodes joined through it.
func network(t *testing.T) (seed, a, b *testSN) {
	seed = startSN(t, func(c *SupernodeConfig) { c.Seed = true })
	join := func(c *SupernodeConfig) {
		c.Join = []SeedAddr{seed.seedAddr()}
		c.Seeds = []SeedAddr{seed.seedAddr()}
	}
	a = startSN(t, join)
	b = startSN(t, join)
	waitFor(t, 5*time.Second, "supernode mesh", func() bool { return meshed(seed, a, b) })
	return seed, a, b
}

func TestSeedAndThreePeersLogIn(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, a, b := network(t)
		var leaves []*testLeaf
		for range 3 {
			leaves = append(leaves, startLeaf(t, mustIdentity(t), []SeedAddr{seed.seedAddr()}, openCache(t)))
		}
		for i, l := range leaves {
			waitFor(t, 5*time.Second, "primary and two standbys", func() bool { return fullyLinked(l.Leaf, 2) })
			st := l.Status()
			if st.State != StateOnline {
				t.Errorf("leaf %d state %s", i, st.State)
			}
			ids := map[identity.NodeID]bool{st.Primary.ID: true}
			for _, s := range st.Standbys {
				ids[s.ID] = true
			}
			if len(ids) != 3 {
				t.Errorf("leaf %d links to %d distinct supernodes, want 3", i, len(ids))
			}
			// Seeds bootstrap; they should not stay anyone's primary when
			// other supernodes exist.
			if st.Primary.Seed {
				t.Errorf("leaf %d kept the seed as its primary", i)
			}
		}
		if got := a.Stats().Leaves + b.Stats().Leaves + seed.Stats().Leaves; got != 9 {
			t.Errorf("supernodes hold %d leaf links, want 9", got)
		}
		// A leaf that has just moved its primary off the seed may not be
		// counted by its new supernode yet.
		waitFor(t, 5*time.Second, "three primaries off the seed", func() bool {
			return a.Stats().PrimaryLeaves+b.Stats().PrimaryLeaves == 3
		})
	})
}

func TestFailoverToStandby(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, a, b := network(t)
		leaf := startLeaf(t, mustIdentity(t), []SeedAddr{seed.seedAddr()}, openCache(t))
		waitFor(t, 5*time.Second, "fully linked", func() bool { return fullyLinked(leaf.Leaf, 2) })
		before := leaf.Status()
		seedLogins := seed.Stats().LoginsAccepted
		primary := a
		if before.Primary.ID == b.ID() {
			primary = b
		}
		killed := time.Now()
		primary.stop()
		waitFor(t, 2*time.Second, "failover to a standby", func() bool {
			st := leaf.Status()
			return st.Primary != nil && st.Primary.ID != primary.ID()
		})
		t.Logf("failover took %v", time.Since(killed))
		after := leaf.Status()
		if after.Logins != before.Logins {
			t.Errorf("failover made a new login (%d → %d); want a standby promoted", before.Logins, after.Logins)
		}
		if after.Failovers != before.Failovers+1 {
			t.Errorf("failovers %d → %d", before.Failovers, after.Failovers)
		}
		wasStandby := false
		for _, s := range before.Standbys {
			wasStandby = wasStandby || s.ID == after.Primary.ID
		}
		if !wasStandby {
			t.Errorf("new primary %s was not a standby", after.Primary.ID.Short())
		}
		if got := seed.Stats().LoginsAccepted - seedLogins; got != 0 {
			t.Errorf("failover went back to the seed: %d new seed logins", got)
		}
	})
}

func TestSeedDownCachedSupernodeUp(t *testing.T) {
	seed, _, _ := network(t)
	id := mustIdentity(t)
	cache := openCache(t)
	leaf := startLeaf(t, id, []SeedAddr{seed.seedAddr()}, cache)
	waitFor(t, 5*time.Second, "fully linked", func() bool { return fullyLinked(leaf.Leaf, 2) })
	leaf.stop()
	hosts, err := cache.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.NodeID == seed.ID() || h.Addr == seed.Addr() {
			t.Fatalf("the seed is in the host cache: %+v", h)
		}
	}
	if len(hosts) < 2 {
		t.Fatalf("host cache has %d supernodes, want the 2 non-seeds", len(hosts))
	}

	addr := seed.Addr()
	seed.stop()
	watch := listenCounting(t, addr)
	restarted := startLeaf(t, id, []SeedAddr{{Addr: addr}}, cache)
	waitFor(t, 5*time.Second, "login from the host cache", func() bool { return restarted.Status().Primary != nil })
	if n := watch.count.Load(); n != 0 {
		t.Fatalf("the seed's address saw %d connection attempts; want 0", n)
	}
}

func TestAllCachedDeadFallsBackToSeed(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, a, b := network(t)
		id := mustIdentity(t)
		cache := openCache(t)
		leaf := startLeaf(t, id, []SeedAddr{seed.seedAddr()}, cache)
		waitFor(t, 5*time.Second, "fully linked", func() bool { return fullyLinked(leaf.Leaf, 2) })
		leaf.stop()
		a.stop()
		b.stop()
		seedLogins := seed.Stats().LoginsAccepted
		restarted := startLeaf(t, id, []SeedAddr{seed.seedAddr()}, cache)
		waitFor(t, 5*time.Second, "login through the seed", func() bool { return restarted.Status().Primary != nil })
		if st := restarted.Status(); st.Primary.ID != seed.ID() {
			t.Fatalf("primary %s, want the seed", st.Primary.ID.Short())
		}
		if seed.Stats().LoginsAccepted != seedLogins+1 {
			t.Fatalf("seed logins %d → %d", seedLogins, seed.Stats().LoginsAccepted)
		}
	})
}

func TestCapacityRedirectKeepsExistingLeaves(t *testing.T) {
	inSim(t, func(t *testing.T) {
		// other is a seed so that full trusts it (supernodes hand out only
		// supernodes in their view) without an election.
		other := startSN(t, func(c *SupernodeConfig) { c.Seed = true })
		full := startSN(t, func(c *SupernodeConfig) {
			c.MaxLeaves = 2
			c.Join = []SeedAddr{other.seedAddr()}
			c.Seeds = []SeedAddr{other.seedAddr()}
		})
		// A redirect hands out the supernodes in the view: linked, and (for
		// the seed) its announcement in, which can come after the link.
		waitFor(t, 5*time.Second, "the seed in full's view, with its address", func() bool {
			return meshed(full, other) && len(full.mem.viewPeers()) == 1
		})
		ctx := context.Background()
		var first []*Link
		for range 2 {
			l := loginRaw(t, full, wire.RoleLeaf)
			if _, ok := l.recv(t).(*wire.Welcome); !ok {
				t.Fatal("login below capacity was not welcomed")
			}
			first = append(first, l.Link)
		}
		l3 := loginRaw(t, full, wire.RoleLeaf)
		red, ok := l3.recv(t).(*wire.Redirect)
		if !ok {
			t.Fatal("login at capacity was not redirected")
		}
		if red.RetryAfterMS == 0 || len(red.Supernodes) == 0 {
			t.Fatalf("redirect without retry-after or alternatives: %+v", red)
		}
		found := false
		for _, sn := range red.Supernodes {
			found = found || sn.Addr == other.Addr()
			if sn.Addr == full.Addr() {
				t.Fatalf("the redirect names the supernode that turned the login away: %+v", red.Supernodes)
			}
		}
		if !found {
			t.Fatalf("redirect does not list the other supernode: %+v", red.Supernodes)
		}
		// The leaves it had are still served: they ping and get pongs.
		for i, l := range first {
			if err := l.Send(&wire.Ping{Seq: 7}); err != nil {
				t.Fatal(err)
			}
			m, err := l.Recv(2 * time.Second)
			if p, ok := m.(*wire.Pong); !ok || p.Seq != 7 {
				t.Fatalf("existing leaf %d after redirect: %v, %v", i, m, err)
			}
		}
		if st := full.Stats(); st.Leaves != 2 || st.LoginsRedirected != 1 {
			t.Fatalf("stats %+v: want 2 leaves, 1 redirect", st)
		}
		// A real leaf that meets the full supernode ends up on the other one.
		cache := openCache(t)
		cache.HostSucceeded(ctx, full.ID(), full.Addr(), time.Now())
		leaf := startLeaf(t, mustIdentity(t), nil, cache)
		waitFor(t, 5*time.Second, "login via redirect", func() bool { return leaf.Status().Primary != nil })
		if got := leaf.Status().Primary.ID; got != other.ID() {
			t.Fatalf("redirected leaf's primary %s, want %s", got.Short(), other.ID().Short())
		}
	})
}

func TestLoginRateRedirects(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, func(c *SupernodeConfig) {
			c.LoginRate = 1
			c.LoginBurst = 2
		})
		var welcomed, redirected int
		for range 6 {
			switch loginRaw(t, sn, wire.RoleLeaf).recv(t).(type) {
			case *wire.Welcome:
				welcomed++
			case *wire.Redirect:
				redirected++
			}
		}
		if welcomed < 2 || welcomed > 3 || redirected != 6-welcomed {
			t.Fatalf("welcomed %d, redirected %d: want the burst of 2 (3 at a tick) welcomed, the rest redirected", welcomed, redirected)
		}
		if got := sn.Stats().LoginsRedirected; got != uint64(redirected) {
			t.Fatalf("redirect counter %d, want %d", got, redirected)
		}
	})
}

// rawLink is a hand-driven link to a supernode.
type rawLink struct{ *Link }

func loginRaw(t *testing.T, sn *testSN, role wire.Role) rawLink {
	t.Helper()
	l, err := DialLink(context.Background(), testNet(t), mustIdentity(t), sn.Addr(), sn.ID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close("") })
	if err := l.Send(&wire.Hello{Role: role}); err != nil {
		t.Fatal(err)
	}
	return rawLink{l}
}

func (l rawLink) recv(t *testing.T) wire.Message {
	t.Helper()
	m, err := l.Recv(2 * time.Second)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return m
}

func TestMalformedFrameClosesOnlyThatLink(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, nil)
		good := loginRaw(t, sn, wire.RoleLeaf)
		good.recv(t)
		bad := loginRaw(t, sn, wire.RoleLeaf)
		bad.recv(t)
		// A frame with version 9: the supernode must close this link.
		bad.conn.Write([]byte{0, 0, 0, 3, 9, 4, 0})
		if _, err := bad.Recv(2 * time.Second); err == nil {
			t.Fatal("link still open after a malformed frame")
		}
		waitFor(t, 2*time.Second, "bad link dropped", func() bool { return sn.Stats().Leaves == 1 })
		good.Send(&wire.Ping{Seq: 1})
		if _, ok := good.recv(t).(*wire.Pong); !ok {
			t.Fatal("good link broken by another's malformed frame")
		}
		// A frame read whole but not understood (an unknown type, a list over
		// the limit, as an older peer's 1,500-key Subscribe) is refused alone:
		// the link goes on, so no storm of logins follows.
		keys := make([][]byte, wire.MaxList+1)
		for i := range keys {
			keys[i] = make([]byte, 32)
		}
		body, _ := wire.Marshal(&wire.Subscribe{Keys: keys})
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)+2))
		frame = append(append(frame, wire.Version, byte(wire.TypeSubscribe)), body...)
		frame = append(frame, 0, 0, 0, 3, wire.Version, 200, 0xa0) // type 200: unknown
		good.conn.Write(frame)
		good.Send(&wire.Ping{Seq: 2})
		if m, ok := good.recv(t).(*wire.Pong); !ok || m.Seq != 2 {
			t.Fatalf("after refused frames got %v, want Pong 2", m)
		}
		// A first message that is not Hello is refused too.
		l, err := DialLink(context.Background(), testNet(t), mustIdentity(t), sn.Addr(), sn.ID())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close("")
		l.Send(&wire.Ping{Seq: 1})
		if m, err := l.Recv(2 * time.Second); err == nil {
			if _, bye := m.(*wire.Bye); !bye {
				t.Fatalf("got %T for a link that skipped Hello", m)
			}
		}
	})
}

func TestSilentLeafDropped(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, func(c *SupernodeConfig) { c.Heartbeat = 100 * time.Millisecond })
		l := loginRaw(t, sn, wire.RoleLeaf)
		l.recv(t)
		waitFor(t, time.Second, "leaf held", func() bool { return sn.Stats().Leaves == 1 })
		// No pings: after three heartbeats the supernode drops the leaf.
		waitFor(t, 2*time.Second, "silent leaf dropped", func() bool { return sn.Stats().Leaves == 0 })
	})
}

func TestLeafLeavesSilentSupernode(t *testing.T) {
	inSim(t, func(t *testing.T) {
		// A supernode that welcomes and then never answers again is dropped
		// by the leaf after three heartbeats, and the leaf logs in elsewhere.
		silentID := mustIdentity(t)
		cert, _ := silentID.Certificate()
		ln := testListen(t)
		silent := make(chan struct{}) // closed when the test is done with it
		defer close(silent)
		go func() {
			// Welcome one login, then fall silent and stop listening.
			conn, err := ln.Accept()
			ln.Close()
			if err != nil {
				return
			}
			l, err := acceptLink(context.Background(), conn, tlsConfig(cert, true, identity.NodeID{}))
			if err != nil {
				return
			}
			l.Recv(time.Second)
			l.Send(&wire.Welcome{HeartbeatMS: 100})
			<-silent
			l.Close("")
		}()
		backup := startSN(t, nil)
		cache := openCache(t)
		ctx := context.Background()
		cache.HostSucceeded(ctx, silentID.NodeID(), ln.Addr().String(), time.Now())
		leaf := startLeaf(t, mustIdentity(t), []SeedAddr{backup.seedAddr()}, cache)
		waitFor(t, 2*time.Second, "login to the silent supernode", func() bool {
			st := leaf.Status()
			return st.Primary != nil && st.Primary.ID == silentID.NodeID()
		})
		waitFor(t, 3*time.Second, "leave the silent supernode", func() bool {
			st := leaf.Status()
			return st.Primary != nil && st.Primary.ID == backup.ID()
		})
	})
}

func TestMeshStaysUpAndDropsTheDead(t *testing.T) {
	inSim(t, func(t *testing.T) {
		seed, a, b := network(t) // heartbeat 200 ms: silent links die in 600 ms
		time.Sleep(1500 * time.Millisecond)
		if !meshed(seed, a, b) {
			t.Fatalf("mesh decayed: seed %d, a %d, b %d peers", seed.Stats().Supernodes, a.Stats().Supernodes, b.Stats().Supernodes)
		}
		// A supernode that stops drops out of the others' views.
		a.stop()
		waitFor(t, 2*time.Second, "a dropped", func() bool { return seed.Stats().Supernodes == 1 && b.Stats().Supernodes == 1 })
	})
}

func TestStandbyDialFailureBacksOff(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, nil)
		cache := openCache(t)
		ctx := context.Background()
		// A dead supernode in the cache, the only standby candidate.
		ln := testListen(t)
		dead := ln.Addr().String()
		ln.Close()
		deadID := mustIdentity(t).NodeID()
		cache.HostSucceeded(ctx, sn.ID(), sn.Addr(), time.Now())
		cache.AddHosts(ctx, []store.Host{{NodeID: deadID, Addr: dead}}, time.Now())
		leaf := startLeaf(t, mustIdentity(t), nil, cache)
		waitFor(t, 2*time.Second, "login", func() bool { return leaf.Status().Primary != nil })
		time.Sleep(time.Second)
		hosts, _ := cache.Hosts(ctx)
		for _, h := range hosts {
			if h.NodeID == deadID && h.Failures > 3 {
				t.Fatalf("dead standby candidate dialled %d times in a second", h.Failures)
			}
		}
	})
}

func TestHandshakeBurstQueuesInsteadOfShedding(t *testing.T) {
	inSim(t, func(t *testing.T) {
		sn := startSN(t, func(c *SupernodeConfig) { c.MaxHandshakes = 2 })
		const n = 20
		errs := make(chan error, n)
		for range n {
			go func() {
				l, err := DialLink(context.Background(), testNet(t), mustIdentity(t), sn.Addr(), sn.ID())
				if err != nil {
					errs <- err
					return
				}
				defer l.Close("")
				l.Send(&wire.Hello{Role: wire.RoleLeaf})
				m, err := l.Recv(5 * time.Second)
				if _, ok := m.(*wire.Welcome); !ok && err == nil {
					err = errors.New("not welcomed")
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("login in a burst of %d with 2 handshake slots: %v", n, err)
			}
		}
		if got := sn.Stats().HandshakeErrors; got != 0 {
			t.Fatalf("%d connections shed", got)
		}
	})
}
