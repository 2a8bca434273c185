package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/overlay/wire"
)

// Usernames. A profile's username is a claim record in the directory: the
// name, the key and a proof of work (about a second of one core). The first
// valid claim for a name wins. The daemon renews its claim every
// ClaimRenew; a claim not renewed lapses after record.ClaimTTL (30 days)
// and the name is free again.

// settingClaimSeq stores the sequence number of the last claim published.
const settingClaimSeq = "claim_seq"

// Claim states shown in Status.
const (
	claimPending = "not yet published"
	claimOK      = "claimed"
	claimTaken   = "taken by another key"
)

// claimOnce publishes a claim of the profile's username through leaf.
func claimOnce(ctx context.Context, leaf *overlay.Leaf, id *identity.Identity, name string, seq uint64, difficulty int) error {
	rec, err := record.NewClaim(id, name, seq, time.Now(), record.ClaimTTL, difficulty)
	if err != nil {
		return err
	}
	err = leaf.Publish(ctx, rec)
	if errors.Is(err, record.ErrNameTaken) {
		return fmt.Errorf("%w: %q belongs to another key", ErrNameTaken, name)
	}
	return err
}

// claimLoop claims the username once online, then renews it every
// ClaimRenew; it keeps the sequence number in settings.
func (p *Peer) claimLoop(ctx context.Context) {
	name := p.prof.Username
	if name == "" {
		return
	}
	p.setClaim(claimPending)
	next := time.Now()
	if s, err := p.prof.DB.Setting(ctx, settingClaimSeq); err == nil {
		if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
			// Claimed before: renew when due.
			next = time.UnixMilli(int64(seq)).Add(p.opts.ClaimRenew)
			p.setClaim(claimOK)
		}
	}
	for {
		wait := time.Until(next)
		if p.leaf.Status().Primary == nil {
			wait = max(wait, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if p.leaf.Status().Primary == nil {
			continue
		}
		seq := uint64(time.Now().UnixMilli())
		err := claimOnce(ctx, p.leaf, p.prof.Identity, name, seq, p.difficulty())
		switch {
		case err == nil:
			p.prof.DB.SetSetting(ctx, settingClaimSeq, strconv.FormatUint(seq, 10))
			p.setClaim(claimOK)
			next = time.Now().Add(p.opts.ClaimRenew)
			p.log.Info("username claimed", "name", name)
			if p.chat != nil {
				p.chat.ClaimPublished(ctx)
			}
		case errors.Is(err, ErrNameTaken):
			p.setClaim(claimTaken)
			p.log.Error("username taken by another key", "name", name)
			return
		default:
			p.log.Info("username claim not published yet", "err", err)
			next = time.Now().Add(30 * time.Second)
		}
	}
}

func (p *Peer) setClaim(s string) {
	p.mu.Lock()
	p.claim = s
	p.mu.Unlock()
}

func (p *Peer) difficulty() int {
	var lc overlay.LeafConfig
	if p.opts.tuneLeaf != nil {
		p.opts.tuneLeaf(&lc)
	}
	if lc.ClaimDifficulty != 0 {
		return lc.ClaimDifficulty
	}
	return record.DefaultClaimDifficulty
}

// LookupResult is what the directory says of a username.
type LookupResult struct {
	Name        string `json:"name"`
	NodeID      string `json:"node_id"`
	Fingerprint string `json:"fingerprint"`
	Presence    string `json:"presence"` // online, away or offline
	Since       int64  `json:"since_ms,omitempty"`
	Hops        int    `json:"hops"`
}

// Lookup finds a username's claim and the claimant's presence.
func (p *Peer) Lookup(ctx context.Context, name string) (LookupResult, error) {
	if p.leaf == nil {
		return LookupResult{}, errors.New("app: a seed has no leaf to look up with")
	}
	return lookup(ctx, p.leaf, name)
}

// LookupOnce looks name up through a throwaway leaf on prof's identity and
// host cache, for when no daemon runs on the profile. A name nobody holds
// gives an error wrapping ErrNotFound.
func LookupOnce(ctx context.Context, prof *profile.Profile, opts Options, name string) (LookupResult, error) {
	if _, err := record.NormalizeName(name); err != nil {
		return LookupResult{}, fmt.Errorf("%w: %v", ErrBadUsername, err)
	}
	var res LookupResult
	err := withTempLeaf(ctx, prof.Identity, opts, prof.DB, func(leaf *overlay.Leaf, _ int) error {
		var err error
		res, err = lookup(ctx, leaf, name)
		return err
	})
	return res, err
}

// lookup finds a username's claim and the claimant's presence through
// leaf. A name nobody holds gives an error wrapping ErrNotFound.
func lookup(ctx context.Context, leaf *overlay.Leaf, name string) (LookupResult, error) {
	norm, err := record.NormalizeName(name)
	if err != nil {
		return LookupResult{}, fmt.Errorf("%w: %v", ErrBadUsername, err)
	}
	rec, hops, err := leaf.Lookup(ctx, record.ClaimKey(norm))
	if errors.Is(err, overlay.ErrNotFound) {
		return LookupResult{}, fmt.Errorf("%w: no one holds the name %q", ErrNotFound, norm)
	}
	if err != nil {
		return LookupResult{}, err
	}
	id := identity.NodeIDOf(rec.Owner)
	res := LookupResult{Name: norm, NodeID: id.String(), Fingerprint: identity.Fingerprint(rec.Owner), Presence: "offline", Hops: hops}
	if pr, h, err := leaf.Lookup(ctx, record.PresenceKey(id)); err == nil {
		res.Hops = max(res.Hops, h)
		if b, err := record.DecodePresence(pr); err == nil {
			res.Presence = statusName(b.Status)
			res.Since = pr.Issued
		}
	}
	return res, nil
}

func statusName(s uint8) string {
	switch s {
	case wire.StatusOnline:
		return "online"
	case wire.StatusAway:
		return "away"
	}
	return "offline"
}
