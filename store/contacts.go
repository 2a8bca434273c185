package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ContactState is where the relationship with a contact stands.
type ContactState string

// The contact states.
const (
	// ContactOutgoing: the user sent a contact request, not yet answered.
	ContactOutgoing ContactState = "outgoing"
	// ContactIncoming: they sent a contact request the user has not
	// answered yet.
	ContactIncoming ContactState = "incoming"
	// ContactAccepted: a contact, able to message and call.
	ContactAccepted ContactState = "accepted"
	// ContactDeclined: the request was declined.
	ContactDeclined ContactState = "declined"
	// ContactBlocked: the user blocked them.
	ContactBlocked ContactState = "blocked"
	// ContactRemoved: the user removed the contact. The row and its
	// history are kept, but it no longer counts: Contacts,
	// ContactSummaries, ContactByNodeID and ContactByUsername skip it, and
	// its username and node ID are free for a new contact.
	ContactRemoved ContactState = "removed"
)

// valid reports whether s is one of the contact states.
func (s ContactState) valid() bool {
	switch s {
	case ContactOutgoing, ContactIncoming, ContactAccepted, ContactDeclined, ContactBlocked, ContactRemoved:
		return true
	}
	return false
}

// Contact is someone the user talks to, or who asked to.
type Contact struct {
	// ID is the local ID, assigned by AddContact.
	ID int64
	// Username is the contact's username, case-folded.
	Username string
	// PublicKey is the pinned ed25519 public key.
	PublicKey ed25519.PublicKey
	// NodeID is the SHA-256 of PublicKey, which the store computes.
	NodeID [32]byte
	// PendingKey is a different key seen for this username that the user
	// has not accepted yet; nil normally.
	PendingKey ed25519.PublicKey
	// State is where the relationship stands.
	State ContactState
	// RequestMessage is the short text that came with the contact request.
	RequestMessage string
	// Verified reports whether the user compared the safety number for
	// PublicKey.
	Verified bool
	// Created and Updated are when the contact was added and last changed.
	Created, Updated time.Time
}

// ContactSummary is a line of the contact list: a contact with the last
// message of the conversation and how many incoming messages are unread.
type ContactSummary struct {
	Contact
	// Last is the newest message (in conversation order, see Messages), or
	// nil if there are none.
	Last *Message
	// Unread is the number of incoming messages not yet read.
	Unread int
}

// nodeIDOf returns the node ID of a public key: its SHA-256, as
// overlay/identity.NodeIDOf computes it.
func nodeIDOf(pub ed25519.PublicKey) [32]byte { return sha256.Sum256(pub) }

func init() {
	// Migration 0002 computes the node IDs of contacts carried over from
	// schema version 1 with this function.
	if err := sqlite.RegisterDeterministicScalarFunction("parley_sha256", 1, sqlSHA256); err != nil {
		panic(fmt.Sprintf("store: registering parley_sha256: %v", err))
	}
}

// sqlSHA256 implements parley_sha256(blob): the SHA-256 of a blob, NULL for
// any other value.
func sqlSHA256(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	b, ok := args[0].([]byte)
	if !ok {
		return nil, nil
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// foldUsername trims and case-folds a username the way
// overlay/record.NormalizeName does. Checking its form is left to that function.
func foldUsername(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", errors.New("store: username is empty")
	}
	return n, nil
}

// checkKey checks that key is an ed25519 public key.
func checkKey(what string, key []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("store: %s is %d bytes, want %d", what, len(key), ed25519.PublicKeySize)
	}
	return nil
}

// checkID checks that id, a positive local row ID, is set.
func checkID(what string, id int64) error {
	if id <= 0 {
		return fmt.Errorf("store: invalid %s ID %d", what, id)
	}
	return nil
}

// checkLimit checks a page size.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("store: limit %d: must be positive", limit)
	}
	return nil
}

// isUnique reports whether err is SQLite's UNIQUE or PRIMARY KEY constraint
// failure.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// contactColumns are the columns scanContact reads, in order.
const contactColumns = `c.id, c.username, c.public_key, c.node_id, c.pending_key, c.state,
	c.request_message, c.verified, c.created_at, c.updated_at`

// scanContact reads contactColumns into c. extra are scanned after them.
func scanContact(s scanner, c *Contact, extra ...any) error {
	var (
		key, node, pending []byte
		created, updated   int64
	)
	dest := append([]any{&c.ID, &c.Username, &key, &node, &pending, &c.State,
		&c.RequestMessage, &c.Verified, &created, &updated}, extra...)
	if err := s.Scan(dest...); err != nil {
		return err
	}
	if len(key) != ed25519.PublicKeySize || len(node) != len(c.NodeID) ||
		(pending != nil && len(pending) != ed25519.PublicKeySize) {
		return fmt.Errorf("contact %d: bad key or node ID length (%d, %d, %d)", c.ID, len(key), len(node), len(pending))
	}
	c.PublicKey = ed25519.PublicKey(key)
	copy(c.NodeID[:], node)
	c.PendingKey = nil
	if pending != nil {
		c.PendingKey = ed25519.PublicKey(pending)
	}
	c.Created, c.Updated = fromMillis(created), fromMillis(updated)
	return nil
}

// AddContact adds c and returns its ID. Username is case-folded and NodeID
// computed from PublicKey (a non-zero NodeID must match it); c.ID is
// ignored, and a zero Updated is set to Created. If another contact that is
// not removed has the same username or node ID, AddContact returns an error
// wrapping ErrExists.
func (db *DB) AddContact(ctx context.Context, c Contact) (int64, error) {
	name, err := foldUsername(c.Username)
	if err != nil {
		return 0, err
	}
	if err := checkKey("contact public key", c.PublicKey); err != nil {
		return 0, err
	}
	node := nodeIDOf(c.PublicKey)
	if c.NodeID != ([32]byte{}) && c.NodeID != node {
		return 0, fmt.Errorf("store: contact %q: node ID %x is not the SHA-256 of the public key", name, c.NodeID[:4])
	}
	var pending []byte
	if c.PendingKey != nil {
		if err := checkKey("contact pending key", c.PendingKey); err != nil {
			return 0, err
		}
		if bytes.Equal(c.PendingKey, c.PublicKey) {
			return 0, fmt.Errorf("store: contact %q: pending key is the pinned key", name)
		}
		pending = c.PendingKey
	}
	if !c.State.valid() {
		return 0, fmt.Errorf("store: contact %q: unknown state %q", name, c.State)
	}
	if c.Updated.IsZero() {
		c.Updated = c.Created
	}
	var id int64
	err = db.writeTx(ctx, fmt.Sprintf("adding contact %q", name), func(tx *sql.Tx) error {
		if c.State != ContactRemoved {
			if err := checkContactFree(ctx, tx, 0, name, node); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx,
			`INSERT INTO contacts (username, public_key, node_id, pending_key, state,
			   request_message, verified, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			name, []byte(c.PublicKey), node[:], pending, c.State,
			c.RequestMessage, c.Verified, toMillis(c.Created), toMillis(c.Updated),
		).Scan(&id)
		if isUnique(err) {
			return fmt.Errorf("%v: %w", err, ErrExists)
		}
		return err
	})
	return id, err
}

// checkContactFree returns an error wrapping ErrExists if a contact other
// than self that is not removed has the username name or the node ID node.
func checkContactFree(ctx context.Context, tx *sql.Tx, self int64, name string, node [32]byte) error {
	var other int64
	err := tx.QueryRowContext(ctx,
		`SELECT id FROM contacts WHERE username = ? AND state <> 'removed' AND id <> ?`, name, self).Scan(&other)
	if err == nil {
		return fmt.Errorf("username %q belongs to contact %d: %w", name, other, ErrExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	err = tx.QueryRowContext(ctx,
		`SELECT id FROM contacts WHERE node_id = ? AND state <> 'removed' AND id <> ?`, node[:], self).Scan(&other)
	if err == nil {
		return fmt.Errorf("node ID %x belongs to contact %d: %w", node[:4], other, ErrExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// Contact returns the contact with the local ID id, whatever its state, or
// an error wrapping ErrNotFound.
func (db *DB) Contact(ctx context.Context, id int64) (Contact, error) {
	return db.contactWhere(ctx, fmt.Sprintf("contact %d", id), `c.id = ?`, id)
}

// ContactByNodeID returns the contact, not removed, whose pinned key has the
// node ID nodeID, or an error wrapping ErrNotFound.
func (db *DB) ContactByNodeID(ctx context.Context, nodeID [32]byte) (Contact, error) {
	return db.contactWhere(ctx, fmt.Sprintf("contact with node ID %x", nodeID[:4]),
		`c.node_id = ? AND c.state <> 'removed'`, nodeID[:])
}

// ContactByUsername returns the contact, not removed, with the username
// name (case-folded first), or an error wrapping ErrNotFound.
func (db *DB) ContactByUsername(ctx context.Context, name string) (Contact, error) {
	n, err := foldUsername(name)
	if err != nil {
		return Contact{}, err
	}
	return db.contactWhere(ctx, fmt.Sprintf("contact %q", n), `c.username = ? AND c.state <> 'removed'`, n)
}

// contactWhere returns the one contact matching where.
func (db *DB) contactWhere(ctx context.Context, what, where string, args ...any) (Contact, error) {
	var c Contact
	err := scanContact(db.r.QueryRowContext(ctx,
		`SELECT `+contactColumns+` FROM contacts c WHERE `+where, args...), &c)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("store: reading %s: %w", what, err)
	}
	return c, nil
}

// Contacts returns every contact that is not removed, by username.
func (db *DB) Contacts(ctx context.Context) ([]Contact, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+contactColumns+` FROM contacts c WHERE c.state <> 'removed' ORDER BY c.username, c.id`)
	if err != nil {
		return nil, fmt.Errorf("store: reading contacts: %w", err)
	}
	defer rows.Close()
	var cs []Contact
	for rows.Next() {
		var c Contact
		if err := scanContact(rows, &c); err != nil {
			return nil, fmt.Errorf("store: reading contacts: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading contacts: %w", err)
	}
	return cs, nil
}

// SetContactState sets the state of contact id. Bringing a removed contact
// back fails with an error wrapping ErrExists if another contact now has
// its username or node ID; an unknown id gives an error wrapping
// ErrNotFound.
func (db *DB) SetContactState(ctx context.Context, id int64, state ContactState, now time.Time) error {
	if !state.valid() {
		return fmt.Errorf("store: contact %d: unknown state %q", id, state)
	}
	return db.writeTx(ctx, fmt.Sprintf("setting contact %d state", id), func(tx *sql.Tx) error {
		var (
			name string
			node []byte
		)
		err := tx.QueryRowContext(ctx, `SELECT username, node_id FROM contacts WHERE id = ?`, id).Scan(&name, &node)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if state != ContactRemoved {
			if err := checkContactFree(ctx, tx, id, name, [32]byte(node)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET state = ?, updated_at = ? WHERE id = ?`,
			state, toMillis(now), id)
		return err
	})
}

// SetContactVerified records whether the user compared the safety number of
// contact id's pinned key.
func (db *DB) SetContactVerified(ctx context.Context, id int64, verified bool, now time.Time) error {
	return db.updateContact(ctx, fmt.Sprintf("setting contact %d verified", id),
		`UPDATE contacts SET verified = ?, updated_at = ? WHERE id = ?`, verified, toMillis(now), id)
}

// updateContact runs an UPDATE of one contact and returns an error wrapping
// ErrNotFound if it changed no row.
func (db *DB) updateContact(ctx context.Context, what, query string, args ...any) error {
	res, err := db.w.ExecContext(ctx, query, args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// SetPendingKey records key as a new key seen for contact id's username,
// waiting for the user to accept it with AcceptPendingKey; a nil key clears
// it. The pinned key and verified flag are left alone. key must not be the
// pinned key.
func (db *DB) SetPendingKey(ctx context.Context, id int64, key ed25519.PublicKey, now time.Time) error {
	if key == nil {
		return db.updateContact(ctx, fmt.Sprintf("clearing contact %d pending key", id),
			`UPDATE contacts SET pending_key = NULL, updated_at = ? WHERE id = ?`, toMillis(now), id)
	}
	if err := checkKey("contact pending key", key); err != nil {
		return err
	}
	return db.writeTx(ctx, fmt.Sprintf("setting contact %d pending key", id), func(tx *sql.Tx) error {
		var pinned []byte
		err := tx.QueryRowContext(ctx, `SELECT public_key FROM contacts WHERE id = ?`, id).Scan(&pinned)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if bytes.Equal(pinned, key) {
			return errors.New("the key is already the pinned key")
		}
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET pending_key = ?, updated_at = ? WHERE id = ?`,
			[]byte(key), toMillis(now), id)
		return err
	})
}

// AcceptPendingKey makes contact id's pending key its pinned key, in one
// transaction: the public key and node ID become the pending key's, the
// pending key is cleared and so is Verified, since the user has not
// compared the new key's safety number. It returns an error wrapping
// ErrNotFound if the contact does not exist or has no pending key, and one
// wrapping ErrExists if another contact (not removed) has the new node ID;
// either way nothing changes.
func (db *DB) AcceptPendingKey(ctx context.Context, id int64, now time.Time) error {
	return db.writeTx(ctx, fmt.Sprintf("accepting contact %d pending key", id), func(tx *sql.Tx) error {
		var (
			name    string
			pending []byte
			state   ContactState
		)
		err := tx.QueryRowContext(ctx, `SELECT username, pending_key, state FROM contacts WHERE id = ?`, id).
			Scan(&name, &pending, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if pending == nil {
			return fmt.Errorf("no pending key: %w", ErrNotFound)
		}
		node := nodeIDOf(pending)
		if state != ContactRemoved {
			if err := checkContactFree(ctx, tx, id, name, node); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE contacts SET public_key = pending_key, node_id = ?, pending_key = NULL,
			   verified = 0, updated_at = ?
			 WHERE id = ?`,
			node[:], toMillis(now), id)
		return err
	})
}

// ContactSummaries returns the contact list: every contact that is not
// removed, with its last message and unread count, the most recently active
// first (by the last message's Sent time, or the contact's Updated time if
// there are no messages).
func (db *DB) ContactSummaries(ctx context.Context) ([]ContactSummary, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+contactColumns+`,
		   (SELECT count(*) FROM messages u
		     WHERE u.contact_id = c.id AND u.direction = 'in' AND u.state = 'received'),
		   `+messageColumns+`
		 FROM contacts c
		 LEFT JOIN messages m ON m.id = (
		   SELECT l.id FROM messages l WHERE l.contact_id = c.id
		   ORDER BY l.sent_at DESC, l.id DESC LIMIT 1)
		 WHERE c.state <> 'removed'
		 ORDER BY coalesce(m.sent_at, c.updated_at) DESC, c.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: reading contact summaries: %w", err)
	}
	defer rows.Close()
	var sums []ContactSummary
	for rows.Next() {
		var (
			s ContactSummary
			m nullMessage
		)
		if err := scanContact(rows, &s.Contact, append([]any{&s.Unread}, m.dest()...)...); err != nil {
			return nil, fmt.Errorf("store: reading contact summaries: %w", err)
		}
		if m.id.Valid {
			last, err := m.message()
			if err != nil {
				return nil, fmt.Errorf("store: reading contact summaries: %w", err)
			}
			s.Last = &last
		}
		sums = append(sums, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading contact summaries: %w", err)
	}
	return sums, nil
}
