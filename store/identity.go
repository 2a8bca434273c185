package store

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Identity is the profile's own long-term identity.
type Identity struct {
	// PrivateKeySeed is the 32-byte ed25519 seed (ed25519.NewKeyFromSeed).
	PrivateKeySeed []byte
	// Username is the name the user registered with; empty for a seed or
	// other headless node that has no user.
	Username string
	// CreatedAt is when the identity was created, with millisecond precision.
	CreatedAt time.Time
}

// Identity returns the profile's identity, or an error wrapping ErrNotFound
// if none has been saved yet.
func (db *DB) Identity(ctx context.Context) (Identity, error) {
	var (
		id      Identity
		created int64
	)
	err := db.r.QueryRowContext(ctx,
		"SELECT private_key, username, created_at FROM identity WHERE id = 1",
	).Scan(&id.PrivateKeySeed, &id.Username, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, fmt.Errorf("store: identity: %w", ErrNotFound)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("store: reading identity: %w", err)
	}
	id.CreatedAt = fromMillis(created)
	return id, nil
}

// SaveIdentity stores the profile's identity. A profile has exactly one
// identity and it is never replaced: if one already exists SaveIdentity
// returns an error wrapping ErrIdentityExists and changes nothing.
func (db *DB) SaveIdentity(ctx context.Context, id Identity) error {
	if len(id.PrivateKeySeed) != ed25519.SeedSize {
		return fmt.Errorf("store: identity private key seed is %d bytes, want %d", len(id.PrivateKeySeed), ed25519.SeedSize)
	}
	res, err := db.w.ExecContext(ctx,
		`INSERT INTO identity (id, private_key, username, created_at) VALUES (1, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		id.PrivateKeySeed, id.Username, toMillis(id.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: saving identity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: saving identity: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: saving identity: %w", ErrIdentityExists)
	}
	return nil
}

// toMillis converts t to unix milliseconds, the zero time to 0.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis converts unix milliseconds to a time, 0 to the zero time.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
