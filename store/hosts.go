package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MaxHostCache is the maximum number of entries kept in the host cache.
// Adding hosts beyond it evicts the worst-ranked entries.
const MaxHostCache = 200

// Host is a host cache entry: a known peer and how connecting to it went.
type Host struct {
	// NodeID is the peer's 32-byte node ID.
	NodeID [32]byte
	// Addr is the last known address of the peer.
	Addr string
	// LastSuccess and LastFailure are the times of the most recent successful
	// and failed connection attempts; the zero time means never.
	LastSuccess, LastFailure time.Time
	// Successes and Failures count successful and failed attempts.
	Successes, Failures int
}

// hostRanking orders host_cache rows best first: hosts whose last attempt
// succeeded, then the most recent success, more successes, fewer failures,
// and, among otherwise equal (typically never contacted) hosts, the most
// recently added. node_id makes the order total.
const hostRanking = `ORDER BY (last_success > last_failure) DESC,
	last_success DESC, successes DESC, failures ASC, added_at DESC, node_id ASC`

// Hosts returns every host cache entry, best first: entries whose last
// success is more recent than their last failure come first, then entries are
// ordered by most recent success, most successes and fewest failures; ties
// go to the most recently added.
func (db *DB) Hosts(ctx context.Context) ([]Host, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT node_id, addr, last_success, last_failure, successes, failures
		 FROM host_cache `+hostRanking)
	if err != nil {
		return nil, fmt.Errorf("store: reading host cache: %w", err)
	}
	defer rows.Close()
	var hosts []Host
	for rows.Next() {
		var (
			h            Host
			id           []byte
			succ, failed int64
		)
		if err := rows.Scan(&id, &h.Addr, &succ, &failed, &h.Successes, &h.Failures); err != nil {
			return nil, fmt.Errorf("store: reading host cache: %w", err)
		}
		if len(id) != len(h.NodeID) {
			return nil, fmt.Errorf("store: reading host cache: node_id is %d bytes, want %d", len(id), len(h.NodeID))
		}
		copy(h.NodeID[:], id)
		h.LastSuccess, h.LastFailure = fromMillis(succ), fromMillis(failed)
		hosts = append(hosts, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading host cache: %w", err)
	}
	return hosts, nil
}

// AddHosts adds hosts to the host cache and then trims it to MaxHostCache
// entries, keeping the best ranked (see Hosts). A host not yet in the cache
// is inserted with added_at = now and the statistics in its Host value
// (normally zero); for a host already present only the address is updated
// and its statistics are kept. Everything happens in one transaction.
func (db *DB) AddHosts(ctx context.Context, hosts []Host, now time.Time) error {
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return err
		}
	}
	return db.writeTx(ctx, "adding hosts", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			`INSERT INTO host_cache (node_id, addr, last_success, last_failure, successes, failures, added_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (node_id) DO UPDATE SET addr = excluded.addr`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		added := toMillis(now)
		for _, h := range hosts {
			if _, err := stmt.ExecContext(ctx, h.NodeID[:], h.Addr,
				toMillis(h.LastSuccess), toMillis(h.LastFailure), h.Successes, h.Failures, added); err != nil {
				return err
			}
		}
		return pruneHosts(ctx, tx)
	})
}

// HostSucceeded records a successful connection to the host id at addr: it
// sets the host's address and last success time and increments its success
// count, adding the host (with added_at = at) if it is not cached yet, in
// which case the cache is trimmed to MaxHostCache entries.
func (db *DB) HostSucceeded(ctx context.Context, id [32]byte, addr string, at time.Time) error {
	if addr == "" {
		return errors.New("store: host address is empty")
	}
	return db.writeTx(ctx, "recording host success", func(tx *sql.Tx) error {
		ms := toMillis(at)
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO host_cache (node_id, addr, last_success, successes, added_at)
			 VALUES (?, ?, ?, 1, ?)
			 ON CONFLICT (node_id) DO UPDATE SET
			   addr = excluded.addr,
			   last_success = excluded.last_success,
			   successes = successes + 1`,
			id[:], addr, ms, ms); err != nil {
			return err
		}
		return pruneHosts(ctx, tx)
	})
}

// HostFailed records a failed connection attempt to the host id: it sets the
// host's last failure time and increments its failure count. It does nothing
// if the host is not cached.
func (db *DB) HostFailed(ctx context.Context, id [32]byte, at time.Time) error {
	if _, err := db.w.ExecContext(ctx,
		`UPDATE host_cache SET last_failure = ?, failures = failures + 1 WHERE node_id = ?`,
		toMillis(at), id[:]); err != nil {
		return fmt.Errorf("store: recording host failure: %w", err)
	}
	return nil
}

// RemoveHost deletes the host id from the host cache. Removing a host that
// is not cached is not an error.
func (db *DB) RemoveHost(ctx context.Context, id [32]byte) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM host_cache WHERE node_id = ?`, id[:]); err != nil {
		return fmt.Errorf("store: removing host: %w", err)
	}
	return nil
}

// pruneHosts deletes all but the MaxHostCache best-ranked hosts.
func pruneHosts(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx,
		`DELETE FROM host_cache WHERE node_id NOT IN (
		   SELECT node_id FROM host_cache `+hostRanking+` LIMIT ?)`,
		MaxHostCache)
	return err
}

// checkHost validates a host passed to AddHosts.
func checkHost(h Host) error {
	switch {
	case h.Addr == "":
		return fmt.Errorf("store: host %x: address is empty", h.NodeID[:4])
	case h.Successes < 0 || h.Failures < 0:
		return fmt.Errorf("store: host %x: negative counts", h.NodeID[:4])
	}
	return nil
}

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE on the writer
// connection), committing if fn returns nil and rolling back otherwise.
func (db *DB) writeTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}
