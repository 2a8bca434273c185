package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// LeafConfig configures a Leaf. Zero fields take the documented defaults.
type LeafConfig struct {
	Identity *identity.Identity // required
	Network  Network            // default TCP{}
	Clock    Clock              // default SystemClock{}
	Rand     *rand.Rand
	Logger   *slog.Logger

	// Seeds are tried only when no cached supernode answers: once every
	// cached one failed, or SeedFallback passed without an answer.
	Seeds []SeedAddr
	// Cache is the host cache; nil keeps supernodes in memory only.
	Cache HostCache

	// Parallel is how many supernodes are dialled at once. Default 4.
	Parallel int
	// Standbys is how many standby links are kept besides the primary. Default 2.
	Standbys int
	// DialTimeout bounds one dial, handshake and login. Default 3 s.
	DialTimeout time.Duration
	// SeedFallback is how long a login round waits for any cached
	// supernode to answer (a welcome or a redirect) before it dials the
	// seeds as well, the cached dials still going on. A cached supernode
	// that is black-holed answers nothing until DialTimeout; without this
	// a leaf whose cache went stale waited that long for a seed. Default
	// 500 ms.
	SeedFallback time.Duration
	// Retry is the full-jitter backoff between login rounds (one round is
	// the host cache, then the seeds). Default 500 ms base, 30 s cap.
	Retry Backoff
	// Software is sent in Hello.
	Software string
	// OnChange, if set, is called (from the leaf's goroutine) after the
	// leaf's links change; Status gives the new state.
	OnChange func()

	// ClaimDifficulty is the proof of work a claim must carry for this
	// leaf to accept it when reading. Default DefaultClaimDifficulty.
	ClaimDifficulty int
	// OnNotify, if set, receives validated changes to subscribed keys (a
	// nil record: expired or gone). Called from a link's goroutine.
	OnNotify func(key [32]byte, rec *wire.Record)
	// Presence, if not 0, makes the leaf publish its presence record with
	// this status while online, refreshed every PresenceTTL/3 and whenever
	// its supernodes change.
	Presence uint8
	// PresenceTTL is the lifetime of a presence record: a peer that
	// vanishes without a word shows offline within about this. Default 3 min.
	PresenceTTL time.Duration
	// HiddenMailEvery is how often a leaf whose presence is offline while
	// it is logged in (the user chose to appear invisible) fetches its
	// mail: what is sent to it waits in its mailboxes, since nothing is
	// routed to a peer that shows offline. Default 10 s.
	HiddenMailEvery time.Duration
	// Candidacy, if set, returns the leaf's current offer to serve as a
	// supernode (nil: no offer); it is sent to the primary supernode every
	// CandidacyEvery and after each change of primary.
	Candidacy      func() *wire.Candidacy
	CandidacyEvery time.Duration
	// OnPromote, if set, is called when the primary supernode elects this
	// peer; the endorsements go into its announcement.
	OnPromote func(endorsements []wire.Endorsement)
	// OnEnvelope, if set, takes the sealed envelopes that reach this peer,
	// pushed by a supernode or fetched from its mailboxes. from is the
	// sender as its supernode saw it: a hint, not proof (the envelope's
	// signature is). An error refuses the envelope (a mailbox keeps it).
	// Called from a link's goroutine; an envelope may come more than once.
	OnEnvelope func(from identity.NodeID, data []byte) error
}

func (c *LeafConfig) setDefaults() {
	if c.Network == nil {
		c.Network = TCP{}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.Standbys == 0 {
		c.Standbys = 2
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 3 * time.Second
	}
	if c.SeedFallback == 0 {
		c.SeedFallback = 500 * time.Millisecond
	}
	if c.Retry == (Backoff{}) {
		c.Retry = Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second}
	}
	if c.ClaimDifficulty == 0 {
		c.ClaimDifficulty = record.DefaultClaimDifficulty
	}
	if c.PresenceTTL == 0 {
		c.PresenceTTL = 3 * time.Minute
	}
	if c.HiddenMailEvery == 0 {
		c.HiddenMailEvery = 10 * time.Second
	}
	if c.CandidacyEvery == 0 {
		c.CandidacyEvery = 5 * time.Minute
	}
}

// LinkInfo describes one of the leaf's supernode links.
type LinkInfo struct {
	ID    identity.NodeID
	Addr  string
	Seed  bool
	Since time.Time
}

// LeafState is where the leaf is in its life.
type LeafState string

// Leaf states.
const (
	StateConnecting LeafState = "connecting"
	StateOnline     LeafState = "online"
	StateStopped    LeafState = "stopped"
)

// LeafStatus is a snapshot of the leaf's links.
type LeafStatus struct {
	State    LeafState
	Primary  *LinkInfo
	Standbys []LinkInfo
	// Logins counts successful logins (not failovers).
	Logins int
	// Failovers counts promotions of a standby to primary.
	Failovers int
	// FailedRounds counts login rounds in which no supernode or seed answered.
	FailedRounds int
	// Endorsements is how many endorsements the last candidacy earned.
	Endorsements int
}

// Leaf keeps a peer logged into the supernode network: one primary and
// cfg.Standbys standby links, failing over to a standby when the primary
// dies, and logging in again (host cache first, seeds last) when all die.
type Leaf struct {
	cfg LeafConfig
	log *slog.Logger

	// Owned by the Run goroutine.
	primary  *leafLink
	standbys []*leafLink
	known    map[identity.NodeID]wire.Supernode // supernodes heard of, in memory
	avoid    map[identity.NodeID]time.Time      // redirected: not before this time
	dialing  bool                               // a standby dial is in flight
	// standbyFails counts standby dials redirected in a row; no standby
	// dial starts before nextStandby (full-jitter backoff), so that a leaf
	// whose candidates are all full does not cycle through them.
	standbyFails int
	nextStandby  time.Time

	events chan leafEvent

	mu       sync.Mutex
	status   LeafStatus        // guarded by mu; a copy of the above for Status
	links    []*Link           // guarded by mu: primary first, then standbys
	subs     map[[32]byte]bool // guarded by mu: subscribed keys
	presence uint8             // guarded by mu: status to publish
	seq      uint64            // guarded by mu: last presence sequence number
	hide     chan struct{}     // SetPresence to offline wakes refreshLoop

	// fetching holds a token while a FetchMail runs: one at a time. A
	// channel, not a mutex, so that a caller waiting for it can give up
	// with its context (and virtual-time tests see it durably blocked).
	fetching chan struct{}
}

// leafLink is one supernode link of the leaf.
type leafLink struct {
	link      *Link
	info      LinkInfo
	heartbeat time.Duration
	learned   []wire.Supernode // from the Welcome; read by the Run goroutine
}

type leafEvent struct {
	move     *wire.Supernode  // a supernode asked us to move to another
	primary  bool             // with standby: make it the primary at once
	dead     *leafLink        // a link ended
	standby  *leafLink        // a standby dial succeeded
	learned  []wire.Supernode // a supernode pushed addresses
	failed   bool             // a standby dial failed
	failedID identity.NodeID  // the supernode it was to, if known
	wait     time.Duration    // how long it asked us to stay away (redirect)
}

// standbyRetry is about how long a supernode that failed a standby dial is
// left alone (randomised between half and one and a half times this).
const standbyRetry = 20 * time.Second

// seedStagger is how long a login waits for a seed to answer before it
// dials the next one as well.
const seedStagger = 750 * time.Millisecond

// standbyBackoff spaces a leaf's standby dials after redirects in a row:
// supernodes that are full or over their login rate. A supernode that is
// down costs nothing to try, and the next one is tried at once.
var standbyBackoff = Backoff{Base: 2 * time.Second, Cap: 30 * time.Second}

// NewLeaf returns a leaf; Run logs it in.
func NewLeaf(cfg LeafConfig) (*Leaf, error) {
	cfg.setDefaults()
	if cfg.Identity == nil {
		return nil, errors.New("overlay: leaf needs an identity")
	}
	return &Leaf{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Identity.NodeID().Short(), "role", "leaf"),
		known:    make(map[identity.NodeID]wire.Supernode),
		avoid:    make(map[identity.NodeID]time.Time),
		events:   make(chan leafEvent, 64),
		status:   LeafStatus{State: StateConnecting},
		subs:     make(map[[32]byte]bool),
		fetching: make(chan struct{}, 1),
		presence: cfg.Presence,
		hide:     make(chan struct{}, 1),
	}, nil
}

// Status returns a snapshot of the leaf's links.
func (l *Leaf) Status() LeafStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.status
	s.Standbys = slices.Clone(s.Standbys)
	if s.Primary != nil {
		p := *s.Primary
		s.Primary = &p
	}
	return s
}

// publish copies the Run goroutine's view into status and tells OnChange.
func (l *Leaf) publish(state LeafState, login, failover bool) {
	l.mu.Lock()
	l.status.State = state
	var oldPrimary *Link
	if len(l.links) > 0 {
		oldPrimary = l.links[0]
	}
	l.links = l.links[:0]
	l.status.Primary = nil
	if l.primary != nil {
		p := l.primary.info
		l.status.Primary = &p
		l.links = append(l.links, l.primary.link)
	}
	for _, s := range l.standbys {
		l.links = append(l.links, s.link)
	}
	newPrimary := l.primary != nil && l.primary.link != oldPrimary
	l.status.Standbys = l.status.Standbys[:0]
	for _, s := range l.standbys {
		l.status.Standbys = append(l.status.Standbys, s.info)
	}
	if login {
		l.status.Logins++
	}
	if failover {
		l.status.Failovers++
	}
	l.mu.Unlock()
	if newPrimary {
		l.onNewPrimary(l.primary.link)
	}
	if l.cfg.OnChange != nil {
		l.cfg.OnChange()
	}
}

// Run keeps the leaf logged in until ctx is done, then closes its links and
// returns ctx's error.
func (l *Leaf) Run(ctx context.Context) error {
	go l.refreshLoop(ctx)
	defer func() {
		// Say goodbye: an offline presence record, so contacts see it now
		// rather than when the last one expires.
		l.mu.Lock()
		announced := l.presence != 0 && l.primary != nil
		if announced {
			l.presence = wire.StatusOffline
		}
		l.mu.Unlock()
		if announced {
			pctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			l.publishPresence(pctx)
			cancel()
		}
		for _, ll := range l.all() {
			ll.link.Close("leaving")
		}
		l.primary, l.standbys = nil, nil
		l.publish(StateStopped, false, false)
	}()
	maintain := time.Duration(0)
	for {
		if l.primary == nil {
			if len(l.standbys) > 0 {
				// Fail over, to a non-seed standby if there is one.
				next := l.standbys[0]
				for _, s := range l.standbys {
					if !s.info.Seed {
						next = s
						break
					}
				}
				l.promote(next, true)
			} else {
				l.publish(StateConnecting, false, false)
				ll, err := l.login(ctx)
				if err != nil {
					return err
				}
				l.primary = ll
				l.learn(ll.learned)
				l.log.Info("logged in", "supernode", ll.info.ID.Short(), "addr", ll.info.Addr, "seed", ll.info.Seed)
				l.publish(StateOnline, true, false)
			}
		}
		l.rebalance()
		l.maintain(ctx)
		maintain = l.primary.heartbeat
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-l.events:
			l.handle(ev)
		case <-l.cfg.Clock.After(maintain):
		}
	}
}

func (l *Leaf) all() []*leafLink {
	out := slices.Clone(l.standbys)
	if l.primary != nil {
		out = append(out, l.primary)
	}
	return out
}

func (l *Leaf) handle(ev leafEvent) {
	switch {
	case ev.dead != nil:
		if ev.dead == l.primary {
			l.log.Info("primary supernode lost", "supernode", ev.dead.info.ID.Short())
			l.primary = nil
		} else if i := slices.Index(l.standbys, ev.dead); i >= 0 {
			l.standbys = slices.Delete(l.standbys, i, i+1)
		} else {
			return
		}
		l.failed(ev.dead.info.ID)
		if l.primary != nil {
			l.publish(StateOnline, false, false)
		}
	case ev.standby != nil:
		l.dialing = l.dialing && ev.primary
		l.standbyFails = 0
		l.learn(ev.standby.learned)
		// A seed is taken only to fill a gap; a non-seed supernode is
		// taken in place of a seed standby (trimStandbys drops seeds
		// first), else maintain would dial it again and again.
		full := len(l.standbys) >= l.cfg.Standbys
		if l.primary == nil || l.linkedTo(ev.standby.info.ID) || (!ev.primary && full && (ev.standby.info.Seed || !l.hasSeedStandby())) {
			ev.standby.link.Close("not needed")
			return
		}
		l.standbys = append(l.standbys, ev.standby)
		if ev.primary {
			l.promote(ev.standby, false)
		}
		l.rebalance()
		l.trimStandbys()
		l.publish(StateOnline, false, false)
	case ev.move != nil:
		l.moveTo(*ev.move)
	case ev.failed:
		l.dialing = false
		if ev.wait == 0 {
			l.failed(ev.failedID)
		}
		// Leave it alone for a while: it may be the only candidate, and
		// redialling a dead supernode at once would be a dial storm. Leave
		// the others alone for a while too: when every supernode is full,
		// trying the next at once only adds to their load.
		now := l.cfg.Clock.Now()
		l.avoid[ev.failedID] = now.Add(max(ev.wait, standbyRetry/2+time.Duration(l.cfg.Rand.Int64N(int64(standbyRetry)))))
		if ev.wait > 0 {
			l.nextStandby = now.Add(standbyBackoff.Delay(l.standbyFails, l.cfg.Rand))
			l.standbyFails++
		}
	}
	l.learn(ev.learned)
}

// hasSeedStandby reports whether a standby link is to a seed.
func (l *Leaf) hasSeedStandby() bool {
	for _, s := range l.standbys {
		if s.info.Seed {
			return true
		}
	}
	return false
}

// promote makes standby s the primary, without a new login. failover
// reports whether the old primary died (rather than being swapped out).
func (l *Leaf) promote(s *leafLink, failover bool) {
	l.standbys = slices.DeleteFunc(l.standbys, func(x *leafLink) bool { return x == s })
	if old := l.primary; old != nil {
		old.link.Send(&wire.LinkRole{Standby: true})
		l.standbys = append(l.standbys, old)
	}
	l.primary = s
	s.link.Send(&wire.LinkRole{Standby: false})
	l.log.Info("primary is now", "supernode", s.info.ID.Short(), "addr", s.info.Addr)
	l.publish(StateOnline, false, failover)
}

// rebalance moves the leaf off seeds: a seed primary is swapped for a
// non-seed standby, and a seed standby is dropped once enough non-seed
// standbys are up. Seeds exist to bootstrap, not to carry leaves.
func (l *Leaf) rebalance() {
	if l.primary != nil && l.primary.info.Seed {
		for _, s := range l.standbys {
			if !s.info.Seed {
				l.promote(s, false)
				break
			}
		}
	}
	nonSeed := 0
	for _, s := range l.standbys {
		if !s.info.Seed {
			nonSeed++
		}
	}
	for i := 0; i < len(l.standbys) && len(l.standbys) > l.cfg.Standbys; i++ {
		if s := l.standbys[i]; s.info.Seed && nonSeed >= l.cfg.Standbys {
			s.link.Close("enough supernodes")
			l.standbys = slices.Delete(l.standbys, i, i+1)
			i--
			l.publish(StateOnline, false, false)
		}
	}
}

func (l *Leaf) linkedTo(id identity.NodeID) bool {
	for _, ll := range l.all() {
		if ll.info.ID == id {
			return true
		}
	}
	return false
}

// maintain starts a dial for a missing standby, or for a non-seed
// supernode to replace a seed standby. It never dials a seed: a leaf that
// logged in through a seed may keep that link as a standby, but one whose
// host cache answered leaves the seeds alone.
func (l *Leaf) maintain(ctx context.Context) {
	if l.dialing || l.primary == nil || l.cfg.Clock.Now().Before(l.nextStandby) {
		return
	}
	nonSeed := 0
	for _, s := range l.standbys {
		if !s.info.Seed {
			nonSeed++
		}
	}
	if nonSeed >= l.cfg.Standbys {
		return
	}
	for _, c := range l.candidates(ctx) {
		if l.linkedTo(c.ID) || c.Seed || l.isSeedAddr(c.Addr) {
			continue
		}
		l.dialing = true
		go func() {
			ll, err := l.dial(ctx, c, true)
			if err != nil {
				l.log.Debug("standby dial failed", "addr", c.Addr, "err", err)
				ev := leafEvent{failed: true, failedID: c.ID}
				if r, ok := errors.AsType[*redirectError](err); ok {
					ev.wait = max(time.Millisecond, time.Duration(r.r.RetryAfterMS)*time.Millisecond)
				}
				l.send(ctx, ev)
				return
			}
			l.send(ctx, leafEvent{standby: ll})
		}()
		return
	}
}

func (l *Leaf) send(ctx context.Context, ev leafEvent) {
	select {
	case l.events <- ev:
	case <-ctx.Done():
		if ev.standby != nil {
			ev.standby.link.Close("leaving")
		}
	}
}

// candidate is a supernode the leaf could dial.
type candidate struct {
	ID   identity.NodeID // zero for a seed of unknown key
	Addr string
	Seed bool
	// fallback: one of the configured seeds, dialled in a round only when
	// no other candidate answered (see LeafConfig.SeedFallback).
	fallback bool
}

// candidates lists supernodes to try, best first: the host cache, then
// supernodes heard of in this run, without seeds or ones that redirected us
// recently.
func (l *Leaf) candidates(ctx context.Context) []candidate {
	now := l.cfg.Clock.Now()
	var out []candidate
	seen := make(map[identity.NodeID]bool)
	add := func(c candidate) {
		if seen[c.ID] || l.avoid[c.ID].After(now) || c.ID == l.cfg.Identity.NodeID() {
			return
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	if l.cfg.Cache != nil {
		hosts, err := l.cfg.Cache.Hosts(ctx)
		if err != nil {
			l.log.Warn("host cache unreadable", "err", err)
		}
		for _, h := range hosts {
			add(candidate{ID: h.NodeID, Addr: h.Addr})
		}
	}
	var rest []candidate
	for id, sn := range l.known {
		rest = append(rest, candidate{ID: id, Addr: sn.Addr, Seed: sn.Seed})
	}
	// Map order is random; make it fair but deterministic per Rand.
	slices.SortFunc(rest, func(a, b candidate) int { return slices.Compare(a.ID[:], b.ID[:]) })
	l.cfg.Rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, c := range rest {
		if !c.Seed {
			add(c)
		}
	}
	for _, c := range rest {
		if c.Seed {
			add(c)
		}
	}
	return out
}

// learn remembers supernodes a supernode told us of and adds the non-seed
// ones to the host cache.
func (l *Leaf) learn(list []wire.Supernode) {
	if len(list) == 0 {
		return
	}
	var hosts []store.Host
	for _, sn := range list {
		var id identity.NodeID
		if len(sn.ID) != len(id) || sn.Addr == "" {
			continue
		}
		copy(id[:], sn.ID)
		if id == l.cfg.Identity.NodeID() {
			continue
		}
		l.known[id] = sn
		if !sn.Seed && !l.isSeedAddr(sn.Addr) {
			hosts = append(hosts, store.Host{NodeID: id, Addr: sn.Addr})
		}
	}
	if l.cfg.Cache != nil && len(hosts) > 0 {
		if err := l.cfg.Cache.AddHosts(context.Background(), hosts, l.cfg.Clock.Now()); err != nil {
			l.log.Warn("host cache: add", "err", err)
		}
	}
}

func (l *Leaf) isSeedAddr(addr string) bool {
	for _, s := range l.cfg.Seeds {
		if s.Addr == addr {
			return true
		}
	}
	return false
}

func (l *Leaf) failed(id identity.NodeID) {
	if l.cfg.Cache == nil || id.IsZero() {
		return
	}
	if err := l.cfg.Cache.HostFailed(context.Background(), id, l.cfg.Clock.Now()); err != nil {
		l.log.Warn("host cache: record failure", "err", err)
	}
}

// login runs login rounds until one succeeds or ctx is done. A round dials
// the host cache, Parallel at a time; the seeds only while no supernode has
// answered (a redirect is an answer), once every cached dial failed or
// SeedFallback passed. Between rounds it backs off with full jitter, and
// never less than a redirect asked.
func (l *Leaf) login(ctx context.Context) (*leafLink, error) {
	for round := 0; ; round++ {
		cands := l.candidates(ctx)
		for _, s := range l.cfg.Seeds {
			cands = append(cands, candidate{ID: s.ID, Addr: s.Addr, Seed: true, fallback: true})
		}
		ll, _, retryAfter := l.tryAll(ctx, cands)
		if ll != nil {
			return ll, nil
		}
		l.mu.Lock()
		l.status.FailedRounds++
		l.mu.Unlock()
		if l.cfg.OnChange != nil {
			l.cfg.OnChange()
		}
		wait := max(l.cfg.Retry.Delay(round, l.cfg.Rand), retryAfter)
		l.log.Info("login failed; retrying", "round", round, "wait", wait)
		if err := sleep(ctx, l.cfg.Clock, wait); err != nil {
			return nil, err
		}
	}
}

// attempt is the outcome of one login dial.
type attempt struct {
	c        candidate
	ll       *leafLink
	redirect *wire.Redirect
	err      error
}

// tryAll dials cands, Parallel at a time, and returns the first link
// welcomed. Redirects put their suggested supernodes at the front of the
// queue. Links welcomed after the first become standbys. answered reports
// whether any supernode answered (welcome or redirect); retryAfter is the
// shortest wait a redirect asked for, when every answer was a redirect.
func (l *Leaf) tryAll(ctx context.Context, cands []candidate) (won *leafLink, answered bool, retryAfter time.Duration) {
	queue := slices.Clone(cands)
	tried := make(map[string]bool)
	results := make(chan attempt)
	inflight := 0
	// Seeds are dialled one at a time, the next one after seedStagger
	// without an answer: every seed link a leaf holds is one that another
	// brand-new peer cannot have.
	seedsInflight, seedLimit := 0, 1
	// The configured seeds (fallback candidates) wait until the others
	// have all failed, or SeedFallback passed, with no answer at all.
	fallbackTimer := l.cfg.Clock.After(l.cfg.SeedFallback)
	fallbackOpen, announced := false, false
	// blocked reports whether c must wait for now, and whether what holds
	// it is a seed's stagger slot. Seeds have their own limit (seedLimit),
	// beside Parallel.
	blocked := func(c candidate) (waiting, seedSlot bool) {
		if c.fallback && !fallbackOpen && inflight-seedsInflight > 0 {
			return true, false
		}
		if c.Seed {
			return seedsInflight >= seedLimit, seedsInflight >= seedLimit
		}
		return inflight-seedsInflight >= l.cfg.Parallel, false
	}
	for {
		// Start, in queue order, every candidate that may go now; one that
		// must wait does not hold back those behind it.
		for i := 0; i < len(queue) && won == nil; {
			c := queue[i]
			if wait, _ := blocked(c); wait {
				i++
				continue
			}
			queue = slices.Delete(queue, i, i+1)
			if c.fallback && !announced {
				announced = true
				l.log.Info("no cached supernode answered; trying seeds", "seeds", len(l.cfg.Seeds), "cached_still_dialling", inflight-seedsInflight)
			}
			if tried[c.Addr] || l.linkedTo(c.ID) && !c.ID.IsZero() {
				continue
			}
			tried[c.Addr] = true
			inflight++
			if c.Seed {
				seedsInflight++
			}
			go func() {
				ll, err := l.dial(ctx, c, false)
				a := attempt{c: c, ll: ll, err: err}
				if r, ok := errors.AsType[*redirectError](err); ok {
					a.redirect, a.err = r.r, nil
				}
				results <- a
			}()
		}
		if inflight == 0 {
			return won, answered, retryAfter
		}
		var stagger, fallback <-chan time.Time
		if slices.ContainsFunc(queue, func(c candidate) bool { _, slot := blocked(c); return slot }) {
			stagger = l.cfg.Clock.After(seedStagger)
		}
		if !fallbackOpen && !answered {
			fallback = fallbackTimer
		}
		var a attempt
		select {
		case a = <-results:
		case <-stagger:
			seedLimit++
			continue
		case <-fallback:
			// The seeds go next, beside the cached dials still going.
			fallbackOpen = true
			fallbackFirst(queue)
			continue
		}
		inflight--
		if a.c.Seed {
			seedsInflight--
		}
		switch {
		case a.ll != nil:
			answered = true
			if won == nil {
				won = a.ll
				l.cacheSuccess(a.ll)
				// Let the dials still in flight finish in the background;
				// their links become standbys.
				go l.drain(ctx, results, inflight)
				return won, answered, 0
			}
		case a.redirect != nil:
			// An answer: the seeds stay out of this round (the rest of the
			// cache and the supernodes the redirect names go on).
			answered = true
			queue = slices.DeleteFunc(queue, func(c candidate) bool { return c.fallback })
			var wait time.Duration
			queue, wait = l.redirected(a, queue)
			if retryAfter == 0 || wait < retryAfter {
				retryAfter = wait
			}
		default:
			l.log.Debug("login dial failed", "addr", a.c.Addr, "err", a.err)
			l.failed(a.c.ID)
		}
	}
}

// fallbackFirst puts the fallback candidates (the seeds) first in queue,
// keeping the order within each group.
func fallbackFirst(queue []candidate) {
	slices.SortStableFunc(queue, func(a, b candidate) int {
		switch {
		case a.fallback == b.fallback:
			return 0
		case a.fallback:
			return -1
		}
		return 1
	})
}

// redirected takes a login redirect: the supernode that sent it is
// avoided for the wait it asks, and the supernodes it names go to the
// front of queue. It returns the new queue and the wait.
func (l *Leaf) redirected(a attempt, queue []candidate) ([]candidate, time.Duration) {
	wait := time.Duration(a.redirect.RetryAfterMS) * time.Millisecond
	l.avoid[a.c.ID] = l.cfg.Clock.Now().Add(wait)
	l.learn(a.redirect.Supernodes)
	for _, sn := range a.redirect.Supernodes {
		var sid identity.NodeID
		if len(sn.ID) == len(sid) {
			copy(sid[:], sn.ID)
			if l.avoid[sid].Before(l.cfg.Clock.Now()) && sid != l.cfg.Identity.NodeID() {
				queue = append([]candidate{{ID: sid, Addr: sn.Addr, Seed: sn.Seed}}, queue...)
			}
		}
	}
	return queue, wait
}

// drain collects the dials still in flight after a login won, and offers
// their links as standbys.
func (l *Leaf) drain(ctx context.Context, results chan attempt, n int) {
	for range n {
		a := <-results
		if a.ll != nil {
			a.ll.link.Send(&wire.LinkRole{Standby: true})
			l.cacheSuccess(a.ll)
			l.send(ctx, leafEvent{standby: a.ll})
		}
	}
}

func (l *Leaf) cacheSuccess(ll *leafLink) {
	if l.cfg.Cache == nil || ll.info.Seed {
		return
	}
	if err := l.cfg.Cache.HostSucceeded(context.Background(), ll.info.ID, ll.info.Addr, l.cfg.Clock.Now()); err != nil {
		l.log.Warn("host cache: record success", "err", err)
	}
}

type redirectError struct{ r *wire.Redirect }

func (e *redirectError) Error() string {
	return fmt.Sprintf("%v: %s (retry after %d ms)", ErrRedirected, e.r.Reason, e.r.RetryAfterMS)
}

func (e *redirectError) Unwrap() error { return ErrRedirected }

// dial logs in to one supernode: TLS, Hello, then Welcome (returned as a
// running leafLink) or Redirect (returned as a *redirectError).
func (l *Leaf) dial(ctx context.Context, c candidate, standby bool) (*leafLink, error) {
	dctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	defer cancel()
	link, err := DialLink(dctx, l.cfg.Network, l.cfg.Identity, c.Addr, c.ID)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*leafLink, error) {
		link.Close("")
		return nil, err
	}
	if err := link.Send(&wire.Hello{Role: wire.RoleLeaf, Standby: standby, Software: l.cfg.Software}); err != nil {
		return fail(err)
	}
	deadline, _ := dctx.Deadline()
	m, err := link.Recv(time.Until(deadline))
	if err != nil {
		return fail(fmt.Errorf("overlay: login to %s: %w", c.Addr, err))
	}
	switch m := m.(type) {
	case *wire.Redirect:
		link.Close("")
		return nil, &redirectError{m}
	case *wire.Welcome:
		hb := time.Duration(m.HeartbeatMS) * time.Millisecond
		if hb < 100*time.Millisecond {
			return fail(fmt.Errorf("%w: heartbeat interval %v", ErrProtocol, hb))
		}
		ll := &leafLink{
			link:      link,
			heartbeat: hb,
			info: LinkInfo{
				ID:    link.Peer(),
				Addr:  c.Addr,
				Seed:  c.Seed || m.SupernodeSeed,
				Since: l.cfg.Clock.Now(),
			},
		}
		ll.learned = m.Supernodes
		go l.serve(ctx, ll)
		return ll, nil
	default:
		return fail(fmt.Errorf("%w: supernode answered login with %T", ErrProtocol, m))
	}
}

// serve runs one link's heartbeats and reads until it dies, then reports it.
func (l *Leaf) serve(ctx context.Context, ll *leafLink) {
	done := make(chan struct{})
	go keepalive(ll.link, l.cfg.Clock, ll.heartbeat, done)
	defer close(done)
	for {
		m, err := ll.link.Recv(3 * ll.heartbeat)
		if ll.link.Refuse(err) {
			l.log.Warn("refused a frame", "supernode", ll.info.ID.Short(), "err", err)
			continue
		}
		if err != nil {
			if isMalformed(err) {
				l.log.Warn("closing link: malformed frame", "supernode", ll.info.ID.Short(), "err", err)
			} else {
				l.log.Debug("supernode link ended", "supernode", ll.info.ID.Short(), "reason", linkErrReason(err))
			}
			ll.link.Close("")
			l.send(ctx, leafEvent{dead: ll})
			return
		}
		switch m := m.(type) {
		case *wire.Ping:
			ll.link.Send(&wire.Pong{Seq: m.Seq})
		case *wire.Pong:
		case *wire.Supernodes:
			l.send(ctx, leafEvent{learned: m.Supernodes})
		case *wire.Notify:
			l.notified(m)
		case *wire.Move:
			mv := m.Supernode
			l.send(ctx, leafEvent{move: &mv})
		case *wire.Promote:
			if l.cfg.OnPromote != nil {
				go l.cfg.OnPromote(m.Endorsements)
			}
		case *wire.Deliver:
			if m.Mode != wire.DeliverToLeaf {
				ll.link.Send(&wire.DeliverResult{ReqID: m.ReqID, Code: wire.DeliverRefused, Reason: "a leaf only takes envelopes for itself"})
				break
			}
			go l.envelopeIn(ll.link, m)
		case *wire.StoreResult, *wire.LookupResult, *wire.Endorsed, *wire.DeliverResult, *wire.MailResult, *wire.TurnResult:
			ll.link.deliver(m)
		case *wire.Bye:
			l.log.Info("supernode said bye", "supernode", ll.info.ID.Short(), "reason", m.Reason)
			ll.link.Close("")
			l.send(ctx, leafEvent{dead: ll})
			return
		default:
			l.log.Warn("closing link: unexpected message", "supernode", ll.info.ID.Short(), "type", fmt.Sprintf("%T", m))
			ll.link.Close("unexpected message")
			l.send(ctx, leafEvent{dead: ll})
			return
		}
	}
}
