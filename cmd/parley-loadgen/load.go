package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// A loaded supernode (issue 15, item 3): besides heartbeats, each leaf
// subscribes to its contacts' presence, publishes its own every so often,
// and leaves mail for recipients who are offline, and the supernode also
// holds standby links (of other leaves, whose primaries are on other
// supernodes: as many per primary as each leaf keeps standbys), so that it
// holds what it holds in a real network: links, subscriptions, presence
// records, notifications and mailboxes.

// loadConfig is what each leaf does besides heartbeats.
type loadConfig struct {
	standbys      int
	contacts      int
	presenceEvery time.Duration
	mail          int
	mailBytes     int
}

func (c *loadConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.standbys, "standbys", 0, "standby links the supernode holds per leaf logged in: of other leaves, each its own identity")
	fs.IntVar(&c.contacts, "contacts", 0, "contacts each leaf subscribes to: the presence keys of as many other leaves, at random")
	fs.DurationVar(&c.presenceEvery, "presence-every", 0, "how often each leaf publishes its presence record, the first time at login (0: never)")
	fs.IntVar(&c.mail, "mail", 0, "envelopes each leaf leaves at login for recipients who are offline, which the supernode keeps")
	fs.IntVar(&c.mailBytes, "mail-bytes", 1024, "the size of each envelope")
}

// check refuses a configuration that cannot run.
func (c *loadConfig) check(leaves int) error {
	switch {
	case c.standbys < 0 || c.contacts < 0 || c.mail < 0 || c.presenceEvery < 0:
		return errors.New("--standbys, --contacts, --mail and --presence-every must not be negative")
	case c.contacts >= leaves:
		return fmt.Errorf("--contacts %d needs more than that many --leaves", c.contacts)
	case c.mailBytes < 1 || c.mailBytes > overlay.MaxEnvelope:
		return fmt.Errorf("--mail-bytes must be between 1 and %d", overlay.MaxEnvelope)
	case c.presenceEvery > 0 && c.presenceEvery < time.Second:
		return errors.New("--presence-every must be at least 1s")
	}
	return nil
}

// loadState runs the leaves' load and counts what the supernode answered.
type loadState struct {
	cfg      loadConfig
	reqID    atomic.Uint64
	stop     chan struct{} // closed when the links close: presence stops
	once     sync.Once
	mu       sync.Mutex
	firstWhy string // guarded by mu: the first refusal's reason
	c        struct {
		keys, stores, storeOK, storeFailed, notifies atomic.Int64
		mailSent, mailStored, mailFailed, sendErrors atomic.Int64
	}
}

func newLoadState(cfg loadConfig) *loadState {
	return &loadState{cfg: cfg, stop: make(chan struct{})}
}

// started runs leaf i's load once its primary link is welcomed: its
// subscriptions, its first presence record (then one every presenceEvery,
// from a random point of the first interval) and its mail.
func (s *loadState) started(b *bench, i int, link *overlay.Link) {
	if s.cfg.contacts > 0 {
		n := b.cfg.leaves // contacts among the leaves whose primary is here
		keys := make([][]byte, 0, s.cfg.contacts)
		seen := map[int]bool{i: true}
		for len(keys) < s.cfg.contacts {
			j := mrand.IntN(n)
			if seen[j] {
				continue
			}
			seen[j] = true
			k := record.PresenceKey(b.ids[j].NodeID())
			keys = append(keys, k[:])
		}
		for _, page := range wire.Pages(keys, wire.KeySize) {
			s.send(link, &wire.Subscribe{Keys: page})
		}
		s.c.keys.Add(int64(len(keys)))
	}
	if s.cfg.presenceEvery > 0 {
		// One goroutine publishes, so that the records go out in the
		// order of their sequence numbers.
		go func() {
			// The second at a random point of the interval, but not
			// within a second of the first: the supernode may take two
			// stores of one link in either order, and a real leaf
			// publishes once a minute.
			wait := time.Second + time.Duration(mrand.Int64N(int64(s.cfg.presenceEvery-time.Second)+1))
			for s.publish(b, i, link) {
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
				wait = s.cfg.presenceEvery
			}
		}()
	}
	for range s.cfg.mail {
		to := make([]byte, 32) // nobody's: the recipient is offline
		data := make([]byte, s.cfg.mailBytes)
		rand.Read(to)
		rand.Read(data) // sealed envelopes look random; each is distinct
		if s.send(link, &wire.Deliver{ReqID: s.reqID.Add(1), Mode: wire.DeliverRoute, To: to, Data: data}) {
			s.c.mailSent.Add(1)
		}
	}
}

// publish stores a fresh presence record of leaf i, naming the supernode it
// is logged in to. It reports whether it was sent.
func (s *loadState) publish(b *bench, i int, link *overlay.Link) bool {
	sn := link.Peer()
	now := time.Now()
	body := wire.PresenceBody{Status: 1, Supernodes: []wire.Supernode{{ID: sn[:], Addr: b.cfg.target}}}
	rec, err := record.NewPresence(b.ids[i], body, uint64(now.UnixNano()), now, record.MaxPresenceTTL)
	if err != nil {
		s.c.sendErrors.Add(1)
		return false
	}
	if !s.send(link, &wire.Store{ReqID: s.reqID.Add(1), Record: *rec}) {
		return false
	}
	s.c.stores.Add(1)
	return true
}

// send sends m over link, counting a failure (the link going away is the
// heartbeat loop's to report).
func (s *loadState) send(link *overlay.Link, m wire.Message) bool {
	if err := link.Send(m); err != nil {
		s.c.sendErrors.Add(1)
		return false
	}
	return true
}

// heard counts an answer of the supernode.
func (s *loadState) heard(m wire.Message) {
	switch m := m.(type) {
	case *wire.Notify:
		s.c.notifies.Add(1)
	case *wire.StoreResult:
		if m.Code == wire.StoreOK {
			s.c.storeOK.Add(1)
		} else {
			s.c.storeFailed.Add(1)
			s.why(fmt.Sprintf("presence refused: code %d %s", m.Code, m.Reason))
		}
	case *wire.DeliverResult:
		if m.Code == wire.DeliverStored {
			s.c.mailStored.Add(1)
		} else {
			s.c.mailFailed.Add(1)
			s.why(fmt.Sprintf("envelope refused: code %d %s", m.Code, m.Reason))
		}
	}
}

// why keeps the first reason the supernode gave for refusing something.
func (s *loadState) why(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstWhy == "" {
		s.firstWhy = reason
	}
}

// close stops the presence refreshes.
func (s *loadState) close() { s.once.Do(func() { close(s.stop) }) }

// failed reports a load the supernode did not take: a presence record or
// an envelope refused, or not every envelope kept.
func (s *loadState) failed() error {
	c := &s.c
	switch {
	case c.storeFailed.Load() > 0 || c.mailFailed.Load() > 0:
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Errorf("%d presence records and %d envelopes refused (first: %s)", c.storeFailed.Load(), c.mailFailed.Load(), s.firstWhy)
	case c.mailStored.Load() != c.mailSent.Load():
		return fmt.Errorf("%d of %d envelopes kept", c.mailStored.Load(), c.mailSent.Load())
	case c.sendErrors.Load() > 0:
		return fmt.Errorf("%d load messages not sent", c.sendErrors.Load())
	}
	return nil
}

// figures adds the load's counts.
func (s *loadState) figures(add func(string, any)) {
	c := &s.c
	if s.cfg.contacts > 0 {
		add("subscribed_keys", c.keys.Load())
		add("notifies_received", c.notifies.Load())
	}
	if s.cfg.presenceEvery > 0 {
		add("presence_stores", c.stores.Load())
		add("presence_stores_ok", c.storeOK.Load())
	}
	if s.cfg.mail > 0 {
		add("mail_sent", c.mailSent.Load())
		add("mail_kept", c.mailStored.Load())
		add("mail_kept_mib", float64(c.mailStored.Load())*float64(s.cfg.mailBytes)/(1<<20))
	}
}
