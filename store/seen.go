package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SeenEnvelope records that the envelope id from sender has been accepted,
// to be remembered until expires, and reports whether this is the first
// time: false means it is a replay (or a redelivery) to be dropped. The
// check and the insert are one statement, so two deliveries of the same
// envelope racing each other get one true and one false.
//
// expires should be at least the envelope's time plus the window in which
// the envelope layer accepts it (MaxAge + Skew); after that PruneSeen may
// forget it.
func (db *DB) SeenEnvelope(ctx context.Context, sender [32]byte, id [16]byte, expires time.Time) (firstTime bool, err error) {
	if expires.IsZero() {
		return false, errors.New("store: seen envelope: expiry time is required")
	}
	res, err := db.w.ExecContext(ctx,
		`INSERT INTO seen_envelopes (sender, envelope_id, expires_at) VALUES (?, ?, ?)
		 ON CONFLICT (sender, envelope_id) DO NOTHING`,
		sender[:], id[:], toMillis(expires))
	if err != nil {
		return false, fmt.Errorf("store: recording seen envelope %x: %w", id[:4], err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: recording seen envelope %x: %w", id[:4], err)
	}
	return n == 1, nil
}

// PruneSeen forgets the envelopes that expired at or before now and returns
// how many there were.
func (db *DB) PruneSeen(ctx context.Context, now time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM seen_envelopes WHERE expires_at <= ?`, toMillis(now))
	if err != nil {
		return 0, fmt.Errorf("store: pruning seen envelopes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: pruning seen envelopes: %w", err)
	}
	return int(n), nil
}

// ForgetEnvelope forgets that the envelope id from sender was seen, so that
// it is accepted when it comes again: for an envelope recorded with
// SeenEnvelope whose processing then failed before anything was stored.
// Forgetting an envelope that is not remembered is not an error.
func (db *DB) ForgetEnvelope(ctx context.Context, sender [32]byte, id [16]byte) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM seen_envelopes WHERE sender = ? AND envelope_id = ?`,
		sender[:], id[:]); err != nil {
		return fmt.Errorf("store: forgetting seen envelope %x: %w", id[:4], err)
	}
	return nil
}
