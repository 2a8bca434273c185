package overlay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// The leaf's directory API. Requests go to the primary supernode, and to
// the standbys in turn if it fails. They may be called from any goroutine.

func (l *Leaf) currentLinks() []*Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Link(nil), l.links...)
}

func (l *Leaf) policy() record.Policy {
	return record.Policy{Difficulty: l.cfg.ClaimDifficulty, Now: l.cfg.Clock.Now}
}

// Publish stores a record signed by this peer in the directory.
func (l *Leaf) Publish(ctx context.Context, rec *wire.Record) error {
	if _, err := l.policy().Validate(rec); err != nil {
		return err
	}
	links := l.currentLinks()
	if len(links) == 0 {
		return fmt.Errorf("%w: not logged in", ErrUnavailable)
	}
	last := "no supernode answered"
	for _, link := range links {
		cctx, cancel := context.WithTimeout(ctx, 2*holderTimeout)
		m, err := link.Call(cctx, func(id uint64) wire.Message { return &wire.Store{ReqID: id, Record: *rec} })
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		r, ok := m.(*wire.StoreResult)
		if !ok {
			continue
		}
		switch r.Code {
		case wire.StoreOK:
			return nil
		case wire.StoreNameTaken:
			return fmt.Errorf("%w: %s", record.ErrNameTaken, r.Reason)
		case wire.StoreStale:
			return fmt.Errorf("%w: %s", record.ErrStale, r.Reason)
		case wire.StoreBadRecord:
			return fmt.Errorf("%w: refused by supernode: %s", record.ErrBadRecord, r.Reason)
		}
		last = r.Reason
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, last)
}

// Lookup returns the valid record under key and how many supernode hops
// the lookup took (1: this peer's supernode held it; 2: a holder). Records
// that fail validation — forged, stale, expired, under the wrong key — are
// dropped here whatever the supernode said; ErrNotFound if none is left.
func (l *Leaf) Lookup(ctx context.Context, key [32]byte) (*wire.Record, int, error) {
	links := l.currentLinks()
	if len(links) == 0 {
		return nil, 0, fmt.Errorf("%w: not logged in", ErrUnavailable)
	}
	for _, link := range links {
		cctx, cancel := context.WithTimeout(ctx, 2*holderTimeout)
		m, err := link.Call(cctx, func(id uint64) wire.Message { return &wire.Lookup{ReqID: id, Key: key[:]} })
		cancel()
		r, ok := m.(*wire.LookupResult)
		if err != nil || !ok || r.Unavailable {
			continue
		}
		var best *wire.Record
		now := l.cfg.Clock.Now()
		for i := range r.Records {
			rec := &r.Records[i]
			k, err := l.policy().Validate(rec)
			if err != nil || k != key {
				l.log.Warn("supernode served an invalid record", "supernode", link.Peer().Short(), "err", err)
				continue
			}
			if best == nil || record.Supersedes(rec, best, now) == nil {
				best = rec
			}
		}
		if best == nil {
			return nil, int(r.Hops), ErrNotFound
		}
		return best, int(r.Hops), nil
	}
	return nil, 0, ErrUnavailable
}

// Subscribe asks to be told (through OnNotify) of changes under keys, and
// keeps the subscription across supernode failovers.
func (l *Leaf) Subscribe(keys ...[32]byte) {
	l.mu.Lock()
	for _, k := range keys {
		l.subs[k] = true
	}
	var primary *Link
	if len(l.links) > 0 {
		primary = l.links[0]
	}
	l.mu.Unlock()
	if primary != nil {
		l.sendSubscribe(primary, keys, false)
	}
}

// sendSubscribe sends keys to the primary, paged under the wire's list
// limit (a leaf may have thousands of contacts). A page that cannot be sent
// means the link is going: the next primary gets every subscription again.
func (l *Leaf) sendSubscribe(primary *Link, keys [][32]byte, unsub bool) {
	for _, page := range wire.Pages(keyBytes(keys), wire.KeySize) {
		if err := primary.Send(&wire.Subscribe{Keys: page, Unsub: unsub}); err != nil {
			l.log.Debug("subscription not sent", "keys", len(keys), "unsub", unsub, "err", err)
			return
		}
	}
}

// Unsubscribe stops notifications for keys.
func (l *Leaf) Unsubscribe(keys ...[32]byte) {
	l.mu.Lock()
	for _, k := range keys {
		delete(l.subs, k)
	}
	var primary *Link
	if len(l.links) > 0 {
		primary = l.links[0]
	}
	l.mu.Unlock()
	if primary != nil {
		l.sendSubscribe(primary, keys, true)
	}
}

func keyBytes(keys [][32]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i := range keys {
		out[i] = append([]byte(nil), keys[i][:]...)
	}
	return out
}

// notified validates a notification and passes it to OnNotify.
func (l *Leaf) notified(n *wire.Notify) {
	var key [32]byte
	if len(n.Key) != len(key) || l.cfg.OnNotify == nil {
		return
	}
	copy(key[:], n.Key)
	l.mu.Lock()
	subscribed := l.subs[key]
	l.mu.Unlock()
	if !subscribed {
		return
	}
	if n.Record != nil {
		k, err := l.policy().Validate(n.Record)
		if err != nil || k != key {
			l.log.Warn("invalid record in a notification", "err", err)
			return
		}
	}
	l.cfg.OnNotify(key, n.Record)
}

// SetPresence sets the status this leaf publishes (0 publishes nothing)
// and publishes it now if online.
func (l *Leaf) SetPresence(ctx context.Context, status uint8) error {
	l.mu.Lock()
	l.presence = status
	l.mu.Unlock()
	if status == wire.StatusOffline {
		select {
		case l.hide <- struct{}{}:
		default:
		}
	}
	if status == 0 {
		return nil
	}
	return l.publishPresence(ctx)
}

// publishPresence signs and stores a presence record naming the leaf's
// current supernodes.
func (l *Leaf) publishPresence(ctx context.Context) error {
	l.mu.Lock()
	status := l.presence
	body := wire.PresenceBody{Status: status}
	if p := l.status.Primary; p != nil {
		body.Supernodes = append(body.Supernodes, wire.Supernode{ID: p.ID[:], Addr: p.Addr})
	}
	for _, s := range l.status.Standbys {
		if len(body.Supernodes) < 3 {
			body.Supernodes = append(body.Supernodes, wire.Supernode{ID: s.ID[:], Addr: s.Addr})
		}
	}
	now := l.cfg.Clock.Now()
	l.seq = max(l.seq+1, uint64(now.UnixMilli()))
	seq := l.seq
	l.mu.Unlock()
	if status == 0 {
		return nil
	}
	rec, err := record.NewPresence(l.cfg.Identity, body, seq, now, l.cfg.PresenceTTL)
	if err != nil {
		return err
	}
	err = l.Publish(ctx, rec)
	if errors.Is(err, record.ErrStale) {
		l.mu.Lock()
		newer := l.seq > seq
		l.mu.Unlock()
		if newer {
			// A later publish of ours (a new primary, another status)
			// reached the holders first: what they hold is newer.
			return nil
		}
	}
	return err
}

// onNewPrimary re-subscribes and re-offers candidacy on a new primary, and
// republishes presence (it names the supernodes). Runs in the background.
func (l *Leaf) onNewPrimary(primary *Link) {
	l.mu.Lock()
	keys := make([][32]byte, 0, len(l.subs))
	for k := range l.subs {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	l.sendSubscribe(primary, keys, false)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*holderTimeout)
		defer cancel()
		if err := l.publishPresence(ctx); err != nil {
			l.log.Debug("presence not published", "err", err)
		}
		l.fetchMailQuietly(ctx)
		l.offerCandidacy(ctx, primary)
	}()
}

// offerCandidacy sends the current offer, if any, to primary.
func (l *Leaf) offerCandidacy(ctx context.Context, primary *Link) {
	if l.cfg.Candidacy == nil {
		return
	}
	offer := l.cfg.Candidacy()
	if offer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 4*probeTimeout)
	defer cancel()
	m, err := primary.Call(ctx, func(id uint64) wire.Message { o := *offer; o.ReqID = id; return &o })
	if e, ok := m.(*wire.Endorsed); err == nil && ok && len(e.Endorsements) > 0 {
		l.mu.Lock()
		l.status.Endorsements = len(e.Endorsements)
		l.mu.Unlock()
	}
}

// refreshLoop republishes presence (and fetches mail) every
// PresenceTTL/3, fetches mail every HiddenMailEvery while the leaf's
// presence is offline, and re-offers candidacy every CandidacyEvery.
func (l *Leaf) refreshLoop(ctx context.Context) {
	now := l.cfg.Clock.Now()
	nextPresence := now.Add(l.cfg.PresenceTTL / 3)
	nextCand := now.Add(l.cfg.CandidacyEvery)
	for {
		wait := l.cfg.PresenceTTL / 3
		if l.hidden() {
			wait = min(wait, l.cfg.HiddenMailEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.cfg.Clock.After(wait):
		case <-l.hide:
			continue // wait HiddenMailEvery from now on
		}
		links := l.currentLinks()
		if len(links) == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 4*holderTimeout)
		if now := l.cfg.Clock.Now(); !now.Before(nextPresence) {
			nextPresence = now.Add(l.cfg.PresenceTTL / 3)
			l.publishPresence(pctx)
		}
		l.fetchMailQuietly(pctx)
		if now := l.cfg.Clock.Now(); !now.Before(nextCand) {
			nextCand = now.Add(l.cfg.CandidacyEvery)
			l.offerCandidacy(pctx, links[0])
		}
		cancel()
	}
}

// hidden reports whether the leaf publishes itself as offline.
func (l *Leaf) hidden() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.presence == wire.StatusOffline
}

// moveTo makes sn the primary: at once if it is a standby, else after
// dialling it. Run goroutine only.
func (l *Leaf) moveTo(sn wire.Supernode) {
	var id identity.NodeID
	if len(sn.ID) != len(id) {
		return
	}
	copy(id[:], sn.ID)
	if l.primary != nil && l.primary.info.ID == id {
		return
	}
	for _, s := range l.standbys {
		if s.info.ID == id {
			l.promote(s, false)
			l.trimStandbys()
			return
		}
	}
	ctx := context.Background()
	go func() {
		ll, err := l.dial(ctx, candidate{ID: id, Addr: sn.Addr}, true)
		if err != nil {
			l.log.Info("move refused", "to", id.Short(), "err", err)
			return
		}
		l.send(ctx, leafEvent{standby: ll, primary: true})
	}()
}

// trimStandbys closes standbys beyond the configured number, seeds first.
// Run goroutine only.
func (l *Leaf) trimStandbys() {
	for len(l.standbys) > l.cfg.Standbys {
		i := len(l.standbys) - 1
		for j, s := range l.standbys {
			if s.info.Seed {
				i = j
				break
			}
		}
		l.standbys[i].link.Close("enough supernodes")
		l.standbys = append(l.standbys[:i], l.standbys[i+1:]...)
	}
}

// publishTimeout bounds a presence publication at shutdown.
const publishTimeout = 2 * time.Second
