package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// OutboxItem is an entry of the outbox, the durable send queue: something
// to send to a contact, retried until it is acknowledged (and removed) or
// expires.
type OutboxItem struct {
	// ID is the local ID, assigned by Enqueue.
	ID int64
	// ContactID is the contact to send to.
	ContactID int64
	// Kind says what the item is (a message, a receipt, a contact
	// request, ...); the store does not interpret it.
	Kind uint8
	// MsgID relates the item to a message, or is whatever ID the caller
	// wants to remove it by (see RemoveOutboxFor).
	MsgID [16]byte
	// Payload is what to send.
	Payload []byte
	// Created is when the item was queued.
	Created time.Time
	// NextAttempt is when to send it next; the zero time means at once.
	NextAttempt time.Time
	// Attempts counts the attempts made so far.
	Attempts int
	// Expires is when to give up; the zero time means never.
	Expires time.Time
}

// checkOutboxItem validates an item for Enqueue.
func checkOutboxItem(it OutboxItem) error {
	if err := checkID("contact", it.ContactID); err != nil {
		return err
	}
	if it.Attempts < 0 {
		return fmt.Errorf("store: outbox item: negative attempts %d", it.Attempts)
	}
	return nil
}

// enqueue inserts it, checked by checkOutboxItem, and returns its ID.
func enqueue(ctx context.Context, tx *sql.Tx, it OutboxItem) (int64, error) {
	if err := contactExists(ctx, tx, it.ContactID); err != nil {
		return 0, err
	}
	payload := it.Payload
	if payload == nil {
		payload = []byte{} // nil would be NULL
	}
	var id int64
	err := tx.QueryRowContext(ctx,
		`INSERT INTO outbox (contact_id, kind, msg_id, payload, created_at, next_attempt, attempts, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		it.ContactID, it.Kind, it.MsgID[:], payload, toMillis(it.Created), toMillis(it.NextAttempt),
		it.Attempts, toMillis(it.Expires),
	).Scan(&id)
	return id, err
}

// Enqueue adds it to the outbox and returns its ID (it.ID is ignored).
func (db *DB) Enqueue(ctx context.Context, it OutboxItem) (int64, error) {
	if err := checkOutboxItem(it); err != nil {
		return 0, err
	}
	var id int64
	err := db.writeTx(ctx, "queueing outbox item", func(tx *sql.Tx) error {
		var err error
		id, err = enqueue(ctx, tx, it)
		return err
	})
	return id, err
}

// AddMessageWithOutbox stores the outgoing message m (see AddMessage) and
// queues it for sending, in one transaction: either both are written or
// neither is. A zero it.ContactID or it.MsgID is taken from m. Unlike
// AddMessage, a message that is already stored is an error wrapping
// ErrExists, and nothing is queued.
func (db *DB) AddMessageWithOutbox(ctx context.Context, m Message, it OutboxItem) (msgID, outboxID int64, err error) {
	if err := checkMessage(&m); err != nil {
		return 0, 0, err
	}
	if it.ContactID == 0 {
		it.ContactID = m.ContactID
	}
	if it.MsgID == ([16]byte{}) {
		it.MsgID = m.MsgID
	}
	if err := checkOutboxItem(it); err != nil {
		return 0, 0, err
	}
	err = db.writeTx(ctx, fmt.Sprintf("adding message %x with outbox item", m.MsgID[:4]), func(tx *sql.Tx) error {
		id, dup, err := addMessage(ctx, tx, m)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("message %d has the same author and message ID: %w", id, ErrExists)
		}
		msgID = id
		outboxID, err = enqueue(ctx, tx, it)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return msgID, outboxID, nil
}

// outboxColumns are the columns scanOutbox reads, in order.
const outboxColumns = `id, contact_id, kind, msg_id, payload, created_at, next_attempt, attempts, expires_at`

// scanOutbox reads outboxColumns.
func scanOutbox(s scanner) (OutboxItem, error) {
	var (
		it                     OutboxItem
		msgID                  []byte
		created, next, expires int64
	)
	if err := s.Scan(&it.ID, &it.ContactID, &it.Kind, &msgID, &it.Payload, &created, &next, &it.Attempts, &expires); err != nil {
		return OutboxItem{}, err
	}
	if len(msgID) != len(it.MsgID) {
		return OutboxItem{}, fmt.Errorf("outbox item %d: msg_id is %d bytes, want %d", it.ID, len(msgID), len(it.MsgID))
	}
	copy(it.MsgID[:], msgID)
	it.Created, it.NextAttempt, it.Expires = fromMillis(created), fromMillis(next), fromMillis(expires)
	return it, nil
}

// collectOutbox reads all rows of outboxColumns.
func collectOutbox(rows *sql.Rows) ([]OutboxItem, error) {
	defer rows.Close()
	var items []OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// DueOutbox returns up to limit outbox items that are due at now (their
// NextAttempt is at or before now) and have not expired, oldest (first
// queued) first.
func (db *DB) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	ms := toMillis(now)
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+outboxColumns+` FROM outbox
		 WHERE next_attempt <= ? AND (expires_at = 0 OR expires_at > ?)
		 ORDER BY id LIMIT ?`,
		ms, ms, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading outbox: %w", err)
	}
	items, err := collectOutbox(rows)
	if err != nil {
		return nil, fmt.Errorf("store: reading outbox: %w", err)
	}
	return items, nil
}

// NextOutboxAttempt returns when the first outbox item not expired at now
// is due (the zero time: at once), and false if there is none.
func (db *DB) NextOutboxAttempt(ctx context.Context, now time.Time) (time.Time, bool, error) {
	ms := toMillis(now)
	var next sql.NullInt64
	err := db.r.QueryRowContext(ctx,
		`SELECT MIN(next_attempt) FROM outbox WHERE expires_at = 0 OR expires_at > ?`, ms).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: reading outbox: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(next.Int64), true, nil
}

// RescheduleOutbox sets when outbox item id is next due and how many
// attempts it has had. It returns an error wrapping ErrNotFound if the item
// is gone, for instance removed because its receipt arrived meanwhile.
func (db *DB) RescheduleOutbox(ctx context.Context, id int64, next time.Time, attempts int) error {
	if attempts < 0 {
		return fmt.Errorf("store: outbox item %d: negative attempts %d", id, attempts)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE outbox SET next_attempt = ?, attempts = ? WHERE id = ?`,
		toMillis(next), attempts, id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("store: rescheduling outbox item %d: %w", id, err)
	}
	return nil
}

// RescheduleContactOutbox makes every outbox item for contact contactID
// that is due later than now due at now, as when the contact comes online,
// and returns how many it changed. Attempt counts are kept.
func (db *DB) RescheduleContactOutbox(ctx context.Context, contactID int64, now time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE outbox SET next_attempt = ? WHERE contact_id = ? AND next_attempt > ?`,
		toMillis(now), contactID, toMillis(now))
	if err != nil {
		return 0, fmt.Errorf("store: rescheduling contact %d outbox: %w", contactID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: rescheduling contact %d outbox: %w", contactID, err)
	}
	return int(n), nil
}

// RemoveOutbox removes outbox item id. Removing an item that is not there
// is not an error.
func (db *DB) RemoveOutbox(ctx context.Context, id int64) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: removing outbox item %d: %w", id, err)
	}
	return nil
}

// RemoveOutboxFor removes the outbox items for contact contactID with the
// given kind and message ID, as when their receipt arrives, and returns how
// many there were.
func (db *DB) RemoveOutboxFor(ctx context.Context, contactID int64, kind uint8, msgID [16]byte) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM outbox WHERE contact_id = ? AND kind = ? AND msg_id = ?`,
		contactID, kind, msgID[:])
	if err != nil {
		return 0, fmt.Errorf("store: removing outbox items: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: removing outbox items: %w", err)
	}
	return int(n), nil
}

// ExpireOutbox removes the outbox items that expired at or before now and
// returns them, by ID, so that the caller can mark their messages failed.
func (db *DB) ExpireOutbox(ctx context.Context, now time.Time) ([]OutboxItem, error) {
	var items []OutboxItem
	err := db.writeTx(ctx, "expiring outbox items", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`DELETE FROM outbox WHERE expires_at <> 0 AND expires_at <= ? RETURNING `+outboxColumns,
			toMillis(now))
		if err != nil {
			return err
		}
		items, err = collectOutbox(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(items, func(a, b OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return items, nil
}
